"""Inspect: what a trained network learned — layers, filters, responses, activations, saliency.

Layout only: one cached analysis call (``ui.inspect.analysis``) and a renderer per
section.
"""

import streamlit as st

from engine.data.datasets import CLASSES
from ui import draw, resources, state
from ui.inspect import analysis, epochs
from ui.inspect import sections as views

st.title("Inspect a network")
run_id, model, cfg = state.selected_model()
classes = CLASSES[cfg.dataset]
st.caption(
    f"Model **{run_id}**: {resources.describe_model(cfg)}, trained on {cfg.dataset}. "
    "Choose another model in the sidebar."
)

layers_box = st.container()
model, epoch = epochs.pick(run_id, model, cfg)  # the network after the epoch chosen there
filters_box = st.container()

st.header("Input")
image, label = views.pick_input(
    resources.dataset(cfg.dataset),
    lambda: draw.pad_file("inspect_draw", hint="Draw one character with the mouse or a pen."),
)
a = analysis.analysis(model, cfg, image, run_id, resources.model_key(run_id, epoch))
with layers_box:
    views.layers_section(a)
with filters_box:
    views.filters_section(a)
if image is None:
    st.info("Choose an image to see what the network does with it.")
    st.stop()

views.prediction_line(a, classes, label)
views.responses_section(a, image)
views.activations_section(a, classes)
views.probabilities_section(a, classes)
views.saliency_section(a, image, classes)
