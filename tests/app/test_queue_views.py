"""AppTest of what a visitor sees of the queue: their place in line and the wait, the same in
the header, the live view and the Runs table; and a clear message when the broker is down."""

from __future__ import annotations

import subprocess
import time
from dataclasses import replace

from engine import jobs, taskq
from engine.config import preset
from engine.runs import RunState, create_run


def _queued(root, run_id: str, submitted: float, **extra):
    run = create_run(replace(preset("fast"), epochs=1, limit_train=4096), root, run_id)
    run.set_status(RunState.QUEUED, submitted=submitted, queue="cpu", priority=10, attempt=1,
                   owner="operator", enqueued=time.time(), **extra)  # fmt: skip
    return run


def test_a_queued_run_says_its_place_and_wait_everywhere(open_page, runs_dir, monkeypatch,
                                                          request):  # fmt: skip
    monkeypatch.setattr(jobs, "ensure_local_worker", lambda root=None: None)
    runs_dir.mkdir(parents=True)
    stand_in = subprocess.Popen(["sleep", "120"], start_new_session=True)  # a live "worker"
    request.addfinalizer(stand_in.kill)
    taskq.register_worker(runs_dir, stand_in.pid, "cpu", 1)
    busy = _queued(runs_dir, "busy", 1.0)
    busy.set_status(RunState.RUNNING, started=time.time(), progress=0, total=4096)
    _queued(runs_dir, "first", 2.0)
    mine = _queued(runs_dir, "mine", 3.0)
    at = open_page("app_pages/train.py", query={"run": mine.id})
    header = [m.value for m in at.markdown if "**mine**" in m.value]
    assert header and "queued (2nd in line)" in header[0]
    [info] = [i.value for i in at.info if "in line" in i.value]
    assert info.startswith("Queued — 2nd in line, about ") and "to finish (CPU worker)" in info
    side = [c.value for c in at.sidebar.caption if c.value.startswith("Jobs:")]
    assert side == ["Jobs: 1 running, 2 queued · 1 worker slot"]
    at = open_page("app_pages/runs.py")
    table = at.dataframe[0].value
    assert table.set_index("run").loc["mine", "status"] == "queued (2nd in line)"


def test_an_unreachable_queue_is_a_message_not_a_traceback(open_page, monkeypatch):
    monkeypatch.setenv(taskq.QUEUE_URL_ENV, "redis://127.0.0.1:1/0")
    at = open_page("app_pages/train.py")
    [start] = [b for b in at.button if b.label == "Start training"]
    start.click().run()
    assert not at.exception
    assert any("the training queue is unreachable" in e.value for e in at.error)
