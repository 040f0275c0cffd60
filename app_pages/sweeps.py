"""Sweeps: settings to vary → background workers → live trials → charts and conclusions."""

import streamlit as st

from ui import sweep_views

st.title("Sweeps")
st.caption(
    "Train many small networks that differ in one or more settings and see which setting "
    "matters. Workers run in the background: leave the page and come back, or stop and resume."
)
spec, name, workers, start = sweep_views.setup()
if start and spec is not None:
    sweep_views.start(spec, name, workers)

st.subheader("Results")
current = sweep_views.picker()
if current:
    sweep_views.show(current)
