"""Webcam: live recognition of handwritten digits (or Greek letters) from the visitor's camera."""

import streamlit as st

from engine import EngineError, live
from engine.samples import SampleSet
from ui import greek_views as gv
from ui import state
from ui import webcam_views as wv

st.title("Webcam")
st.write(
    "Hold digits written on paper up to the camera: every symbol found gets a box, the "
    "network's label and its confidence. Each crop is prepared exactly like an uploaded photo."
)
run_id, model, cfg = state.selected_model()

c1, c2, c3, c4 = st.columns(4)
default_mode = 0 if cfg.dataset == "mnist" else 1  # clothes are not ink: aim them at a box
mode = c1.radio("Find symbols", ["auto", "guide"], index=default_mode, horizontal=True,
                format_func={"auto": "anywhere", "guide": "in the guide box"}.get)  # fmt: skip
source = c2.selectbox("Classes", [cfg.dataset, "greek"],
                      format_func=lambda s: "Greek letters (Greek page samples)" if s == "greek"
                      else f"the model's own ({cfg.dataset})")  # fmt: skip
method = c3.selectbox("Few-shot method", ["centroid", "nn", "finetune"], disabled=source != "greek")
min_conf = c4.slider("Hide below confidence", 0.0, 1.0, 0.5, 0.05)
settings = live.LiveSettings(mode=mode, min_confidence=min_conf)
samples = gv.samples() if source == "greek" else SampleSet()


def make_recognizer() -> live.LiveRecognizer:
    if source == "greek":
        clf = live.fewshot_classifier(model, cfg, samples.images, samples.labels, method)
    else:
        clf = live.net_classifier(model, cfg)
    return live.LiveRecognizer(clf, settings)


holder = wv.holder()
key = (id(model), settings, source, method, id(samples), len(samples))  # rebuild on change
try:
    holder.configure(key, make_recognizer)
except EngineError as e:
    st.error(str(e))
    st.stop()

ice = wv.ice_servers()
if not ice:
    st.info(
        "No STUN/TURN servers are configured, so live video only connects when your browser can "
        "reach this server directly (same machine or network). For hosted use set "
        "`WEBRTC_ICE_SERVERS` (or `[webrtc] ice_servers` in secrets); behind NAT you need TURN. "
        "Single shots below always work."
    )

left, right = st.columns([3, 2])
with left:
    wv.live_video(holder, ice)
with right:
    wv.live_panel(holder)
    wv.snapshot_form(holder)

with st.expander("No live video? Take single shots instead", expanded=False):
    wv.single_shot(holder)
