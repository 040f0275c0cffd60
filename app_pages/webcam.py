"""Webcam: live recognition of handwritten digits (or Greek letters) from the visitor's camera,
or from a photo when there is no camera or live video cannot connect."""

import streamlit as st

from engine import EngineError
from engine.fewshot import live as fewshot_live
from engine.fewshot.samples import SampleSet
from engine.nn import live
from ui import resources, state
from ui.greek import inputs as gv
from ui.webcam import camera
from ui.webcam import sections as wv

st.title("Webcam")
st.write(
    "Hold digits written on paper up to the camera, or upload a photo of them: every symbol "
    "found gets a box, the network's label and its confidence. Each symbol is prepared exactly "
    "like an uploaded photo of one digit."
)
run_id, model, cfg = state.selected_model()

c1, c2, c3, c4 = st.columns(4)
default_mode = 0 if cfg.dataset == "mnist" else 1  # clothes are not ink: aim them at a box
mode = c1.radio("Find symbols", ["auto", "guide"], index=default_mode, horizontal=True,
                format_func={"auto": "anywhere", "guide": "in the guide box"}.get)  # fmt: skip
source = c2.selectbox("Classes", [cfg.dataset, "greek"],
                      format_func=lambda s: "Greek letters (Greek page samples)" if s == "greek"
                      else f"the model's own ({cfg.dataset})")  # fmt: skip
methods = ["nn", "centroid", "finetune"]  # the engine's default (embed.DEFAULT_METHOD) first
method = c3.selectbox("Few-shot method", methods, disabled=source != "greek")
min_conf = c4.slider("Hide below confidence", 0.0, 1.0, 0.5, 0.05)
settings = live.LiveSettings(mode=mode, min_confidence=min_conf)
samples = gv.samples() if source == "greek" else SampleSet()
layer = gv.chosen_layer(model)  # the layer chosen on the Greek page


def make_recognizer() -> live.LiveRecognizer:
    if source == "greek":
        clf = fewshot_live.classifier(
            model, cfg, samples.images, samples.labels, method, layer=layer
        )
    else:
        clf = live.net_classifier(model, cfg)
    return live.LiveRecognizer(clf, settings)


holder = wv.holder()
key = (resources.model_key(run_id), settings, source, method, layer, samples.digest())  # on change
try:
    holder.configure(key, make_recognizer)
except EngineError as e:
    st.error(str(e))
    st.stop()

conn = camera.connection()
problem = camera.camera_problem(camera.camera_probe())  # None until the browser has answered
camera.show_connection(conn, note=not problem)  # without a camera, how video connects is moot

left, right = st.columns([3, 2])
with left:
    if problem:  # no camera to stream: the photo comes first, live video stays at hand
        st.warning(problem, icon=":material/no_photography:")
        wv.photo_input(holder, camera=False)
        with st.expander("Try live video anyway"):
            ctx = wv.live_video(holder, conn)
    else:
        ctx = wv.live_video(holder, conn)
with right:
    wv.live_panel(holder, playing=wv.is_playing(ctx))
    wv.snapshot_form(holder)
    wv.recorder(holder)

if not problem:
    with st.expander("No camera, or no live video? Use a photo instead", expanded=False):
        wv.photo_input(holder, camera=True)
