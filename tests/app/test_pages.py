"""AppTest for every page of the router: renders, main widgets, a real job through Train."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.data import datasets
from engine.presets import preset
from engine.queue import jobs
from engine.runs.store import RunState, list_runs

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def _finish(run, timeout: float = 90) -> None:
    end = time.time() + timeout
    while not run.state().is_finished():
        assert time.time() < end, run.status()
        time.sleep(0.2)


@pytest.fixture()
def done_run():
    """A tiny complete run on the real FashionMNIST."""
    cfg = preset("fast", epochs=1, limit_train=512, limit_test=200, batch_size=64, threads=1)
    run = jobs.submit(cfg, run_id="tiny")
    _finish(run)
    assert run.state() == RunState.COMPLETE, run.status()
    return run


def test_home_renders_datasets_device_and_links(open_page):
    at = open_page("app_pages/home.py")
    # Each prepared dataset's line states its real size and source; the offline MNIST subset
    # says so, and a full dataset never claims to be one.
    for name, info in datasets.status().items():
        line = next(m.value for m in at.markdown if m.value.startswith(f"**{name}**"))
        assert f"{info['n_train']:,} train / {info['n_test']:,} test images" in line, line
        assert info["source"] in line
        assert ("offline 10k subset" in line) == bool(info["subset"]), line
    assert any("torch thread" in m.value for m in at.markdown)
    assert at.info[0].value.startswith("No runs yet")


def test_settings_that_describe_no_config_say_why_and_offer_a_fix(open_page):
    """A config is checked when it is made: the page catches that, says why, disables Start and
    offers the one-click fix (no traceback), and the fix gives a config that trains."""
    at = open_page("app_pages/train.py", query={"conv_layers": "3", "kernel": "9",
                                                 "padding": "valid"})  # fmt: skip
    assert any("cannot be trained" in e.value and "does not fit" in e.value for e in at.error)
    start = next(b for b in at.button if b.label == "Start training")
    assert start.disabled
    fix = next(b for b in at.button if b.label.startswith("Fix:"))
    fix.click().run()
    assert not at.exception and not at.error
    assert not next(b for b in at.button if b.label == "Start training").disabled


def test_train_page_controls_estimate_and_url(open_page):
    at = open_page("app_pages/train.py")
    labels = {w.label for w in at.selectbox} | {w.label for w in at.slider}
    assert {"Preset", "Dataset", "Optimizer", "Conv layers", "Kernel size", "Epochs"} <= labels
    assert {"Learning rate", "Batch size"} <= {w.label for w in at.select_slider}
    assert [m.label for m in at.metric][:3] == ["Parameters", "Training examples", "Estimated time"]
    before = at.metric[0].value
    at.slider(key="tr_conv_layers").set_value(3).run()
    assert at.metric[0].value != before  # the parameter count follows the sliders
    assert at.query_params["conv_layers"] == "3"  # mirrored in the URL
    assert at.selectbox(key="tr_preset_view").value == "custom"  # an edited preset says so
    at.selectbox(key="tr_preset_view").set_value("seed-mnist-cnn").run()
    assert at.selectbox(key="tr_dataset").value == "mnist"
    assert at.metric[0].value == "21,840"  # the classic network of the seed
    assert at.selectbox(key="tr_preset_view").value == "seed-mnist-cnn"
    lo, hi = at.metric[2].value.split(" – ")  # the time as a range
    assert lo != hi


def test_train_page_sets_each_layer_for_the_seed_keras_network(open_page):
    at = open_page("app_pages/train.py", query={"preset": "seed-greek-cnn"})
    assert at.toggle(key="tr_per_layer").value  # its 32 → 32 filters need the per-layer editor
    assert at.metric[0].value == "600,810"  # 599,520 up to dense-128, then the 10-way layer
    at.number_input(key="tr_l1_filters").set_value(64).run()
    assert at.query_params["layers"] == "32x3,64x3p"
    assert at.selectbox(key="tr_preset_view").value == "custom"
    at.toggle(key="tr_per_layer").set_value(False).run()  # back to the simple sliders
    assert at.query_params["layers"] == "off"  # unlike the preset: the link says so
    assert any(c.value.startswith("32 → 64 filters · 3×3 · pooling after each") for c in at.caption)


def test_train_page_offers_odd_kernels_only_with_same_padding(open_page):
    at = open_page("app_pages/train.py", query={"kernel": "4", "padding": "valid"})
    at.selectbox(key="tr_padding").set_value("same").run()
    assert at.slider(key="tr_kernel").value == 5
    assert not at.error


def test_train_page_keeps_a_learning_rate_from_a_link(open_page):
    at = open_page("app_pages/train.py", query={"lr": "0.0003"})
    assert not at.warning
    assert at.select_slider(key="tr_lr").value == 0.0003
    assert at.query_params["lr"] == "0.0003"


def test_train_page_invalid_combination_shows_the_message(open_page):
    query = {"kernel": "9", "conv_layers": "3", "padding": "valid"}
    at = open_page("app_pages/train.py", query=query)
    assert not at.exception
    assert "does not fit" in at.error[0].value
    [start] = [b for b in at.button if b.label == "Start training"]
    assert start.disabled and "does not fit" in start.help  # visible, with the reason
    [fix] = [b for b in at.button if b.label.startswith("Fix:")]
    assert fix.label == "Fix: use 'same' padding"
    fix.click().run()
    assert not at.error
    assert at.selectbox(key="tr_padding").value == "same"
    [start] = [b for b in at.button if b.label == "Start training"]
    assert not start.disabled


def test_train_page_ignores_bad_url_values(open_page):
    at = open_page("app_pages/train.py", query={"lr": "banana", "epochs": "2"})
    assert "lr=banana" in at.warning[0].value
    assert at.slider(key="tr_epochs").value == 2


def test_train_page_runs_a_job_and_shows_results(open_page):
    query = {"preset": "fast", "limit_train": "1000", "epochs": "1"}
    at = open_page("app_pages/train.py", query=query)
    [start] = [b for b in at.button if b.label == "Start training"]
    start.click().run()
    assert not at.exception, [e.value for e in at.exception]
    [run] = list_runs()
    assert at.query_params["run"] == run.id
    _finish(run)
    at.run()  # what the live fragment's rerun does when the job is done
    assert not at.exception, [e.value for e in at.exception]
    labels = [m.label for m in at.metric]
    assert "Test accuracy" in labels
    acc = at.metric[labels.index("Test accuracy")].value
    assert float(acc.rstrip("%")) > 25  # 8 steps of training: far above chance (10%)
    assert [t.label for t in at.tabs][:3] == ["Confusion matrix", "Test images", "Worst mistakes"]
    answers = ("**Predicted:", "**not sure**")  # "try it" on test images
    assert any(m.value.startswith(answers) for m in at.markdown)
    downloads = [b.proto.label for b in at.get("download_button")]
    assert downloads == ["Checkpoint + model card (.zip)", "ONNX + model card (.zip)"]
    # The result below the form is labelled as that run's, also once the form moves on.
    assert any(h.value == f"Run {run.id}" for h in at.subheader)
    at.slider(key="tr_epochs").set_value(4).run()
    assert any("differ from those above: epochs 1" in c.value for c in at.caption)


def test_runs_page_lists_opens_and_deletes(open_page, done_run):
    at = open_page("app_pages/runs.py")
    assert at.dataframe, "the table of runs"
    assert at.multiselect[0].value == ["tiny"]
    assert any(m.label == "Test accuracy" for m in at.metric)
    [delete] = [b for b in at.button if b.label == "Delete"]
    delete.click().run()
    assert "cannot be undone" in at.warning[0].value
    [yes] = [b for b in at.button if b.label == "Yes, delete"]
    yes.click().run()
    assert not at.exception
    assert list_runs() == []


def test_no_page_schedules_reaps_or_deletes():
    """Pages only enqueue and read: the queue's housekeeping belongs to its workers."""
    root = Path(APP).parent
    banned = ("jobs.pump(", "tasks.maintain(", "clean_expired(", "store.expire(",
              "sweep.requeue_orphans(", "hosting.expire(", "remove_stale_temp_files(")  # fmt: skip
    callers = [
        (str(p.relative_to(root)), b)
        for folder in ("ui", "app_pages")
        for p in sorted((root / folder).rglob("*.py"))
        for b in banned
        if b in p.read_text()
    ]
    assert callers == []


def test_rendering_every_page_changes_no_run(runs_dir, open_page, monkeypatch):
    """A run whose worker died stays as written while pages are drawn (the queue's
    ``maintain`` requeues it, not a page), and no file under the runs folder changes.
    The server's own worker would requeue it: here it is a worker elsewhere."""
    from engine.runs.store import create_run

    monkeypatch.setattr(jobs, "ensure_local_worker", lambda root=None: None)
    run = create_run(preset("fast", epochs=1, limit_train=512, threads=1), runs_dir, "orphan")
    run.set_status(RunState.RUNNING, pid=2**22 + 99, host=socket.gethostname(), attempt=1,
                   queue="cpu", submitted=1.0, owner="operator")  # fmt: skip
    (run.path / ".checkpoint.pt.4194403-x.tmp").write_bytes(b"half a save")

    def snapshot():
        return {p: p.stat().st_mtime_ns for p in runs_dir.rglob("*") if p.is_file()}

    before = snapshot()
    for page in ("home", "train", "runs", "inspect", "greek", "webcam", "sweeps"):
        open_page(f"app_pages/{page}.py")  # asserts no exception
    assert run.status()["state"] == "running"
    assert {p: t for p, t in snapshot().items() if p in before} == before


def test_sidebar_selects_the_trained_model(done_run):
    at = AppTest.from_file(APP, default_timeout=60).run()  # the router draws the sidebar
    assert not at.exception
    assert at.sidebar.selectbox[0].label == "Model"
    assert at.sidebar.selectbox[0].value == "tiny"


def test_runs_page_rejects_a_bad_run_link(open_page, done_run):
    at = open_page("app_pages/runs.py", query={"run": "../etc"})
    assert "invalid run id" in at.error[0].value


def test_runs_page_resumes_a_cancelled_run(open_page):
    cfg = preset("fast", epochs=1, limit_train=512, limit_test=200, batch_size=64, threads=1)
    blocker = jobs.submit(cfg, run_id="a")
    queued = jobs.submit(cfg, run_id="b")
    jobs.cancel(queued)  # cancelled while queued
    at = open_page("app_pages/runs.py", query={"run": "b"})
    assert "cancelled" in at.warning[0].value
    [resume] = [b for b in at.button if b.label == "Resume"]
    resume.click().run()
    assert not at.exception
    _finish(blocker)
    _finish(queued)
    assert queued.state() == RunState.COMPLETE
