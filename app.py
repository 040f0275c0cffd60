"""Router: page config, navigation over app_pages/, hosting settings, shared sidebar."""

import sys

import streamlit as st

from engine.settings import SettingsError
from engine.settings import current as current_settings

st.set_page_config(page_title="Recognition using Deep Networks", page_icon="🔢", layout="wide")
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
page = st.navigation(pages)  # the app's shell shows at once, before the slow work below

try:  # every ENGINE_*/WEBRTC_* setting, checked once before any page reads one
    current_settings()
except SettingsError as e:
    st.error(f"This server's settings are not valid: {e}. Fix the environment and restart.")
    st.stop()

# A server's first page loads PyTorch and does the first start's work (seconds, more under load):
# say so at once, step by step, rather than leave the page blank. Later runs have it in memory.
notice, first = st.empty(), "ui.sidebar" not in sys.modules


def starting(step: str) -> None:
    if first:
        notice.info(f"Starting this server: {step}…", icon=":material/hourglass_top:")


starting("loading PyTorch and the engine (1/3)")
# Before any page: plotly takes pandas from sys.modules even while another visitor's script
# thread is still importing it ("partially initialized module 'pandas' has no attribute
# 'Series'", seen on Inspect under load). An import statement here, where every script run
# starts, makes each thread wait until pandas is whole.
import pandas  # noqa: E402, F401
import torch  # noqa: E402

from ui import bootstrap, sidebar  # noqa: E402

torch.set_num_threads(1)  # the server only runs small inferences: the cores are the workers'

# ENGINE_PUBLIC may be a top-level key of the secrets (Community Cloud has no environment):
# `streamlit run` reads the secrets before any script runs and makes those keys environment
# variables, so the settings and the job processes see it without this script writing os.environ.
starting("checking the default digit model and the datasets (2/3)")
bootstrap.first_start()  # a fresh host prepares its data and default model in the background
starting("reading the datasets (3/3)")
sidebar.render()
notice.empty()  # before the page: a page that stops early (st.stop) could not clear it after
page.run()
