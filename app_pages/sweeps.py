"""Sweeps: settings to vary → background workers → live trials → charts and conclusions."""

import streamlit as st

from ui.sweeps import sections

st.title("Sweeps")
st.caption(
    "Train many small networks that differ in one or more settings and see which setting "
    "matters. Workers run in the background: leave the page and come back, or stop and resume."
)
spec, name, workers, start = sections.setup()
if start and spec is not None:
    sections.start(spec, name, workers)

st.subheader("Results")
current = sections.picker()
if current:
    sections.show(current)
