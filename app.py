"""Router: page config, navigation over pages/, shared sidebar."""

import streamlit as st

st.set_page_config(page_title="Recognition using Deep Networks", page_icon="🔢", layout="wide")

pages = [
    st.Page("pages/home.py", title="Home", icon="🏠", default=True),
]
st.navigation(pages).run()
