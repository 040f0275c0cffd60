"""Greek letters: reuse a digit network's embedding space to recognise letters from few samples."""

import streamlit as st

from ui import state
from ui.greek import analysis as ga
from ui.greek import inputs as gv
from ui.greek import sections as sec

st.title("Greek letters from a few samples")
st.write(
    "A network trained on digits turns any 28×28 image into a vector (its *embedding*). Letters "
    "that look alike get nearby vectors, so a handful of samples per letter is enough to "
    "recognise new ones: by the nearest sample, the nearest class mean, or a new last layer."
)
run_id, model, cfg = state.selected_model()

st.header("1. Samples")
gv.show_flashes("samples")
current = gv.samples()
gv.sample_inputs(current)
sec.sample_gallery(current)
if len(current.classes) < 2:
    st.warning("Add samples of at least two classes to compare and classify.")
    st.stop()

st.header("2. Distances in the embedding space")
layer = gv.choose_layer(model)
distances = st.container()

st.header("3. Recognise")
gv.show_flashes("queries")
queries = gv.queries()
gv.query_inputs(queries)
with st.expander("Fine-tuned head: epochs and learning rate"):
    head = gv.head_settings()

a = ga.analyse(run_id, model, cfg, current, queries, layer, head)  # cached: see ui.greek.analysis

with distances:
    sec.distances(a)
sec.recognise(a, gv.reject_threshold(a.reject_at, layer))
st.subheader("How well does each method do on this set?")
sec.methods(a)

st.header("4. Map of the embedding space")
sec.embedding_map(a, cfg.dataset)
