"""Home: what the dashboard does, datasets, device, recent runs."""

import streamlit as st

from ui import resources

st.title("Recognition using Deep Networks")
st.markdown(
    "Train convolutional networks on handwritten digits and clothing images and watch them learn. "
    "Look inside a trained network: its filters, what they respond to, and its activations. "
    "Reuse what it learned to recognise handwritten Greek letters from a few samples."
)

st.subheader("Datasets")
for name, info in resources.dataset_status().items():
    if info.get("source") is None:
        st.warning(
            f"**{name}** is not prepared yet: run `make run` or `python -m engine data prepare`."
        )
    else:
        note = " — the offline 10k subset of MNIST, not the full 70k" if info["subset"] else ""
        st.write(
            f"**{name}**: {info['n_train']:,} train / {info['n_test']:,} test, "
            f"from {info['source']} ({info['split']}){note}"
        )

st.subheader("Device")
st.write(resources.device_summary())

st.subheader("Recent runs")
rows = resources.recent_runs()
if rows:
    st.dataframe(rows, hide_index=True, width="stretch")
else:
    st.info("No runs yet.")
