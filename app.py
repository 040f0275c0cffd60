"""Router: page config, navigation over app_pages/, shared sidebar."""

import streamlit as st

from ui import sidebar

st.set_page_config(page_title="Recognition using Deep Networks", page_icon="🔢", layout="wide")

pages = [
    st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("app_pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("app_pages/runs.py", title="Runs", icon=":material/monitoring:"),
    st.Page("app_pages/inspect.py", title="Inspect", icon=":material/biotech:"),
    st.Page("app_pages/greek.py", title="Greek letters", icon=":material/translate:", url_path="greek"),
    st.Page("app_pages/sweeps.py", title="Sweeps", icon=":material/science:", url_path="sweeps"),
    st.Page("app_pages/webcam.py", title="Webcam", icon=":material/videocam:", url_path="webcam"),
]
page = st.navigation(pages)
sidebar.render()
page.run()
