"""engine.jobs: the on-disk queue, the concurrency limit, cancel, SIGKILL and resume.

Jobs are real `python -m engine resume` processes on the real datasets with tiny limits; the
limit of 1 job keeps a single torch process busy at a time.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from engine import jobs
from engine.config import preset
from engine.runs import RunState, load_model

# batch 64: OneCycleLR needs 8+ steps (fewer divides by zero in torch)
TINY = dict(epochs=1, limit_train=512, limit_test=256, batch_size=64, threads=1)


@pytest.fixture()
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("ENGINE_RUNS_DIR", str(tmp_path))
    monkeypatch.setenv(jobs.MAX_JOBS_ENV, "1")
    yield tmp_path
    for run in jobs.running(tmp_path):  # never leave a torch process behind
        jobs.cancel(run)
    _wait(lambda: not jobs.running(tmp_path), 30)


def _wait(cond, timeout: float, step: float = 0.2):
    end = time.time() + timeout
    while time.time() < end:
        jobs.pump()  # what the pages do on every refresh
        if v := cond():
            return v
        time.sleep(step)
    raise AssertionError(f"condition not met within {timeout} s")


def test_limit_one_runs_jobs_one_after_the_other(root):
    a = jobs.submit(preset("fast", **TINY), run_id="a")
    b = jobs.submit(preset("fast", **TINY), run_id="b")
    assert a.state() == RunState.RUNNING
    assert b.state() == RunState.QUEUED
    assert jobs.position(b) == 1 and jobs.position(a) is None
    # While a runs, b waits; b starts only after a finished (a's own exit pumps the queue).
    while a.state() == RunState.RUNNING:
        assert b.state() == RunState.QUEUED
        time.sleep(0.1)
    assert a.state() == RunState.COMPLETE, a.status()
    _wait(lambda: b.state().is_finished(), 60)
    assert b.state() == RunState.COMPLETE, b.status()
    assert b.status()["started"] >= a.status()["finished"]
    assert "Test Error: Accuracy" in a.log_path.read_text()
    assert a.status()["test_accuracy"] > 0.3


def test_queue_positions_and_cancel_of_a_queued_run(root):
    a = jobs.submit(preset("fast", **TINY), run_id="a")
    b = jobs.submit(preset("fast", **TINY), run_id="b")
    c = jobs.submit(preset("fast", **TINY), run_id="c")
    assert [r.id for r in jobs.queue()] == ["b", "c"]
    assert (jobs.position(b), jobs.position(c)) == (1, 2)
    assert jobs.cancel(b) == RunState.CANCELLED
    assert jobs.position(c) == 1
    jobs.cancel(a)
    _wait(lambda: a.state().is_finished(), 30)
    assert a.state() == RunState.CANCELLED, a.status()
    _wait(lambda: c.state().is_finished(), 60)
    assert c.state() == RunState.COMPLETE
    assert b.state() == RunState.CANCELLED and not b.has_checkpoint()


def test_sigkill_shows_failed_with_checkpoint_and_resume_finishes(root):
    cfg = preset("fast", epochs=3, limit_train=3072, limit_test=256, threads=1, log_every=2)
    run = jobs.submit(cfg, run_id="killed")
    _wait(lambda: run.status().get("epoch", 0) >= 1, 60, 0.05)
    pid = run.status()["pid"]
    os.kill(pid, signal.SIGKILL)
    _wait(lambda: run.state() == RunState.FAILED, 10)
    assert "died" in run.status()["message"]
    model, loaded = load_model(run.path)  # the last epoch's checkpoint is intact
    assert loaded == cfg and model(torch_zeros()).shape == (1, 10)
    jobs.resume(run)
    _wait(lambda: run.state().is_finished(), 90)
    assert run.state() == RunState.COMPLETE, run.status()
    assert [m["epoch"] for m in run.metrics() if m["kind"] == "epoch"] == [1, 2, 3]
    assert "Resuming from the checkpoint of epoch" in run.log_path.read_text()


def test_resume_refuses_a_complete_run(root):
    from engine.runs import RunError

    run = jobs.submit(preset("fast", **TINY), run_id="done")
    _wait(lambda: run.state().is_finished(), 60)
    with pytest.raises(RunError, match="only cancelled or failed"):
        jobs.resume(run)


def torch_zeros():
    import torch

    return torch.zeros(1, 1, 28, 28)
