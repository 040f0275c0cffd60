"""Router: page config, hosting settings, navigation over app_pages/, shared sidebar."""

# Before any page: plotly takes pandas from sys.modules even while another visitor's script
# thread is still importing it ("partially initialized module 'pandas' has no attribute
# 'Series'", seen on Inspect under load). An import statement here, where every script run
# starts, makes each thread wait until pandas is whole.
import pandas  # noqa: F401
import streamlit as st

from ui import bootstrap, sidebar, visitor

st.set_page_config(page_title="Recognition using Deep Networks", page_icon="🔢", layout="wide")
visitor.apply_settings()  # ENGINE_PUBLIC may come from st.secrets
bootstrap.first_start()  # a fresh host prepares its data and default model in the background

pages = [
    st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("app_pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("app_pages/runs.py", title="Runs", icon=":material/monitoring:"),
    st.Page("app_pages/inspect.py", title="Inspect", icon=":material/biotech:"),
    st.Page(
        "app_pages/greek.py", title="Greek letters", icon=":material/translate:", url_path="greek"
    ),
    st.Page("app_pages/sweeps.py", title="Sweeps", icon=":material/science:", url_path="sweeps"),
    st.Page("app_pages/webcam.py", title="Webcam", icon=":material/videocam:", url_path="webcam"),
]
page = st.navigation(pages)
sidebar.render()
page.run()
