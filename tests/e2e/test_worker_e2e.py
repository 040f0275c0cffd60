"""The embedded queue's worker, as a server starts it: once per server, detached, so it keeps
training through a restart of the server, and the next server starts no second one."""

from __future__ import annotations

import time

import harness
import pytest

from engine.presets import preset
from engine.queue import jobs, taskq
from engine.runs.procs import pid_alive
from engine.runs.store import RunState

pytestmark = pytest.mark.e2e


def _wait(cond, timeout: float):
    end = time.time() + timeout
    while time.time() < end:
        if v := cond():
            return v
        time.sleep(0.2)
    raise AssertionError(f"condition not met within {timeout} s")


def test_the_servers_worker_survives_a_server_restart(tmp_path, monkeypatch):
    harness.require_browser()
    runs = tmp_path / "runs"
    monkeypatch.setenv("ENGINE_RUNS_DIR", str(runs))
    # Queued before any server runs, and nobody to take it: this test process starts no worker.
    monkeypatch.setattr(jobs, "ensure_local_worker", lambda root=None: None)
    cfg = preset("fast", epochs=12, limit_train=8192, limit_test=256, threads=1)
    run = jobs.submit(cfg, runs, run_id="through-a-restart")
    assert not taskq.workers(runs)

    with harness.serve(runs, tmp_path / "server1.log") as url, harness.browser_page() as page:
        page.goto(f"{url}/runs")
        page.get_by_text("through-a-restart").first.wait_for()
        [worker] = _wait(lambda: taskq.workers(runs), 60)  # the server started one
        _wait(lambda: run.status().get("progress"), 60)
    # The first server is gone; its worker is not, and the training goes on.
    assert pid_alive(worker["pid"])
    done = run.status()["progress"]
    _wait(lambda: run.status().get("progress", 0) > done, 30)

    with harness.serve(runs, tmp_path / "server2.log") as url, harness.browser_page() as page:
        page.goto(f"{url}/runs")
        page.get_by_text("through-a-restart").first.wait_for()
        page.wait_for_timeout(3000)  # time to start a second worker, if it would
        assert [w["pid"] for w in taskq.workers(runs)] == [worker["pid"]]
        _wait(lambda: run.state().is_finished(), 180)
    st = run.status()
    assert st["state"] == RunState.COMPLETE.value and st["attempt"] == 1  # never interrupted
    assert [m["epoch"] for m in run.metrics() if m.get("kind") == "epoch"] == list(range(1, 13))
