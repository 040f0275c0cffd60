"""engine.queue.jobs on the embedded queue: order, cancel, a worker's death and resume.

Jobs are real trainings on the real datasets with tiny limits, run by real worker processes
(``python -m engine worker``) that ``submit`` starts on this machine; one worker process keeps
a single torch process busy at a time.
"""

from __future__ import annotations

import os
import signal

import pytest
from queue_workers import wait_for

from engine.presets import preset
from engine.queue import jobs, standing, taskq, tasks
from engine.runs.store import RunState, load_model

# real worker processes train real runs (make test-fast leaves it out)
pytestmark = pytest.mark.slow

# batch 64: OneCycleLR needs 8+ steps (fewer divides by zero in torch)
TINY = dict(epochs=1, limit_train=512, limit_test=256, batch_size=64, threads=1)


@pytest.fixture()
def root(runs_dir, monkeypatch):
    monkeypatch.setenv(jobs.MAX_JOBS_ENV, "1")
    monkeypatch.delenv(taskq.QUEUE_URL_ENV, raising=False)
    return runs_dir


def test_one_worker_runs_jobs_one_after_the_other_in_order(root):
    runs = [jobs.submit(preset("fast", **TINY), run_id=i) for i in "abc"]
    assert [r.id for r in jobs.queue()] in (["a", "b", "c"], ["b", "c"])  # a may have started
    assert len(taskq.workers(root)) == 1  # submit started the embedded worker, once
    wait_for(lambda: all(r.state().is_finished() for r in runs), 90)
    assert [r.state() for r in runs] == [RunState.COMPLETE] * 3
    started = [r.status()["started"] for r in runs]
    finished = [r.status()["finished"] for r in runs]
    assert started == sorted(started)
    assert started[1] >= finished[0] and started[2] >= finished[1]  # one at a time
    assert "Test Error: Accuracy" in runs[0].log_path.read_text()
    assert runs[0].status()["test_accuracy"] > 0.3


def test_the_default_model_goes_before_visitors(root):
    """Priority: the server's first-start model jumps the line of waiting trainings."""
    from engine.runs.store import create_run

    long = preset("fast", epochs=2, limit_train=4096, limit_test=256, threads=1)
    first = jobs.submit(long, run_id="first")
    wait_for(lambda: first.state() == RunState.RUNNING, 30, 0.02)
    a = jobs.submit(preset("fast", **TINY), run_id="a")
    urgent = jobs.submit(preset("fast", **TINY), run_id="urgent", priority=20)
    assert [r.id for r in jobs.queue()] == ["urgent", "a"]
    s = standing.standing(a)
    assert s is not None and s.place == 2 and s.slots == 1 and s.kind == "cpu"
    assert s.start_s is not None and s.finish_s > s.start_s
    assert s.line().startswith("2nd in line, about ")
    wait_for(lambda: a.state().is_finished(), 90)
    assert urgent.status()["started"] <= a.status()["started"]
    assert create_run  # the run files are the queue's only truth: nothing else to clean


def test_cancel_a_queued_run_and_a_running_one(root):
    cfg = preset("fast", epochs=5, limit_train=8192, limit_test=256, threads=1)
    a = jobs.submit(cfg, run_id="a")
    b = jobs.submit(preset("fast", **TINY), run_id="b")
    c = jobs.submit(preset("fast", **TINY), run_id="c")
    wait_for(lambda: a.state() == RunState.RUNNING, 30, 0.02)
    assert jobs.cancel(b) == RunState.CANCELLED
    assert jobs.position(c) == 1
    jobs.cancel(a)
    wait_for(lambda: a.state().is_finished(), 30)
    assert a.state() == RunState.CANCELLED, a.status()
    wait_for(lambda: c.state().is_finished(), 60)
    assert c.state() == RunState.COMPLETE
    assert b.state() == RunState.CANCELLED and not b.has_checkpoint()


def test_cancel_reaches_a_worker_on_another_machine(root, monkeypatch):
    """From a host that is not the worker's, Cancel cannot signal the process: the run's
    cancel file, which every machine sees, stops it at its next batch."""
    cfg = preset("fast", epochs=5, limit_train=8192, limit_test=256, threads=1)
    run = jobs.submit(cfg, run_id="far")
    wait_for(lambda: run.status().get("progress"), 30, 0.02)
    monkeypatch.setattr(jobs.socket, "gethostname", lambda: "another-web-host")
    assert jobs.cancel(run) == RunState.RUNNING
    wait_for(lambda: run.state().is_finished(), 30)
    assert run.state() == RunState.CANCELLED


def test_sigkill_of_the_worker_resumes_from_the_checkpoint(root):
    cfg = preset("fast", epochs=3, limit_train=3072, limit_test=256, threads=1, log_every=2)
    run = jobs.submit(cfg, run_id="killed")
    wait_for(
        lambda: run.status().get("epoch", 0) >= 1 and run.state() == RunState.RUNNING, 60, 0.02
    )
    os.kill(run.status()["pid"], signal.SIGKILL)
    model, loaded = load_model(run.path)  # the last epoch's checkpoint is intact
    assert loaded == cfg and model(torch_zeros()).shape == (1, 10)
    wait_for(lambda: run.state().is_finished(), 90)
    st = run.status()
    assert run.state() == RunState.COMPLETE, st
    assert st["attempt"] >= 2 and st["requeues"] >= 1
    assert [m["epoch"] for m in run.metrics() if m["kind"] == "epoch"] == [1, 2, 3]
    assert "Resuming from the checkpoint of epoch" in run.log_path.read_text()


def test_a_stale_task_is_dropped(root):
    """A task whose attempt is not the run's (it was requeued meanwhile) trains nothing."""
    run = jobs.submit(preset("fast", **TINY), run_id="x")
    wait_for(lambda: run.state().is_finished(), 60)
    run.set_status(RunState.QUEUED, attempt=7)
    assert tasks.run_task("x", 6) is None
    assert run.state() == RunState.QUEUED and run.status()["attempt"] == 7


def test_resume_refuses_a_complete_run(root):
    from engine.runs.store import RunError

    run = jobs.submit(preset("fast", **TINY), run_id="done")
    wait_for(lambda: run.state().is_finished(), 60)
    with pytest.raises(RunError, match="only cancelled or failed"):
        jobs.resume(run)


def test_maintain_fails_a_dead_terminal_training(root):
    """`python -m engine train` in a terminal is not a task: when its process is gone, the
    queue's housekeeping marks it failed (nothing would resume it)."""
    from engine.runs.store import create_run

    run = create_run(preset("fast", **TINY), root, "cli")
    run.set_status(RunState.RUNNING, pid=2**22 + 12345, host=jobs.socket.gethostname(), epoch=0)
    assert run.state() == RunState.RUNNING  # reading the status changes nothing
    assert tasks.maintain(root)["failed"] == ["cli"]
    st = run.status()
    assert st["state"] == "failed" and "died" in st["message"]


def torch_zeros():
    import torch

    return torch.zeros(1, 1, 28, 28)


def test_a_gpu_training_waits_in_the_gpu_queue(root):
    """A training that asks for a GPU goes to the gpu queue, which only `worker --queue gpu`
    takes; the page says that no GPU worker is up."""
    run = jobs.submit(preset("fast", **TINY, device="cuda"), run_id="g")
    assert run.status()["queue"] == "gpu"
    assert [n for n, _ in taskq.pending("gpu")] == ["train"] and not taskq.pending("cpu")
    s = standing.standing(run)
    assert s.place == 1 and s.slots == 0 and s.kind == "gpu"
    assert s.line() == "1st in line; no GPU worker is running, so it waits for one"
    assert not taskq.workers(root)  # nothing was started for it on this CPU machine


def test_the_queues_task_names_stay_those_a_broker_may_already_hold():
    """Huey names a task by its function's module and its name, and a broker keeps the names of
    the tasks it holds across an upgrade: moving the module must not rename them."""
    names = set(taskq.huey("cpu")._registry._registry)  # huey's own table of the names it runs
    assert names == {
        "engine.taskq.train", "engine.taskq.sweep_trial", "engine.taskq.maintain"
    }  # fmt: skip
