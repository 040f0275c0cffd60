"""Home: what the dashboard does, datasets, device, recent runs, where to go next."""

import streamlit as st

from ui import bootstrap, resources

st.title("Recognition using Deep Networks")
st.markdown(
    "Train convolutional networks on handwritten digits and clothing images and watch them learn, "
    "live. Look inside a trained network: its layers, its filters and what they respond to. "
    "Then reuse what it learned to recognise handwritten Greek letters from a few samples."
)
links = st.container(horizontal=True)
for path, label, icon in (
    ("app_pages/train.py", "Train a network", ":material/model_training:"),
    ("app_pages/runs.py", "Compare runs", ":material/monitoring:"),
    ("app_pages/inspect.py", "Inspect a network", ":material/biotech:"),
    ("app_pages/greek.py", "Greek letters", ":material/translate:"),
    ("app_pages/sweeps.py", "Run a sweep", ":material/science:"),
    ("app_pages/webcam.py", "Webcam", ":material/videocam:"),
):
    links.page_link(path, label=label, icon=icon)

bootstrap.show_progress()  # a fresh host's first start: the default model is training
left, right = st.columns(2, gap="large")
with left:
    st.subheader("Datasets")
    for name, info in resources.dataset_status().items():
        if info.get("source") is None:
            st.warning(
                f"**{name}** is not prepared yet: run `make run` or "
                "`python -m engine data prepare`."
            )
        else:
            note = (
                " — **the offline 10k subset of MNIST, not the full 70k**" if info["subset"] else ""
            )
            st.markdown(
                f"**{name}**: {info['n_train']:,} train / {info['n_test']:,} test images, "
                f"from {info['source']} ({info['split']}){note}"
            )
with right:
    st.subheader("Device")
    st.write(resources.device_summary())

st.subheader("Recent runs")
rows = resources.recent_runs()
if rows:
    st.dataframe(
        rows, hide_index=True, width="stretch",
        column_config={
            "accuracy": st.column_config.ProgressColumn(
                "test accuracy", format="%.1f%%", min_value=0, max_value=100
            )
        },
    )  # fmt: skip
else:
    st.info("No runs yet: train one on the Train page.")
