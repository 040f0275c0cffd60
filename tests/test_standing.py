"""engine.queue.standing: the queue read as one board, from run files written by hand (no worker
runs): every run's label, each waiting run's place and times, and the sidebar's counts agree."""

from __future__ import annotations

import subprocess
import time
from dataclasses import replace

from engine.presets import preset
from engine.queue import standing, taskq
from engine.runs.store import RunState, create_run

CFG = replace(preset("fast"), epochs=1, limit_train=4096)


def _run(root, run_id: str, state: RunState, **status):
    run = create_run(CFG, root, run_id)
    run.set_status(state, **status)
    return run


def test_one_board_says_the_same_in_the_labels_the_lines_and_the_counts(runs_dir, request):
    runs_dir.mkdir(parents=True)
    stand_in = subprocess.Popen(["sleep", "60"], start_new_session=True)  # a live "worker"
    request.addfinalizer(stand_in.kill)
    taskq.register_worker(runs_dir, stand_in.pid, "cpu", 1)
    line = dict(queue="cpu", priority=10, attempt=1)
    _run(runs_dir, "busy", RunState.RUNNING, started=time.time(), progress=0, total=4096, **line)
    _run(runs_dir, "second", RunState.QUEUED, submitted=2.0, **line)
    third = _run(runs_dir, "third", RunState.QUEUED, submitted=3.0, **line)
    _run(runs_dir, "urgent", RunState.QUEUED, submitted=4.0, **{**line, "priority": 20})
    create_run(CFG, runs_dir, "terminal")  # queued by create_run, never sent: in no line
    _run(runs_dir, "done", RunState.COMPLETE)

    b = standing.board(runs_dir)
    assert b.caption() == "Jobs: 1 running, 3 queued · 1 worker slot"
    labels = {rid: b.label(rid) for rid in b.states}
    assert labels == {
        "busy": "running",
        "urgent": "queued (1st in line)",
        "second": "queued (2nd in line)",
        "third": "queued (3rd in line)",
        "terminal": "starting",
        "done": "complete",
    }
    # A label says "queued" exactly for the runs the sidebar counts as queued.
    assert sum(v.startswith("queued") for v in labels.values()) == b.queued
    s = b.standings["third"]
    assert (s.place, s.waiting, s.slots, s.kind) == (3, 3, 1, "cpu")
    assert s.line().startswith("3rd in line, about ") and s.line().endswith("(CPU worker)")
    assert s.start_s > b.standings["second"].start_s > b.standings["urgent"].start_s >= 0
    assert standing.standing(third).place == 3  # the one-run reader is the board's


def test_a_created_run_is_starting_not_queued(runs_dir):
    """Created and not sent (a submit in progress, a terminal training about to start): it is
    in no line, so it is not "queued", and cancelling it works as for a queued one."""
    from engine.presets import preset
    from engine.queue import jobs
    from engine.runs.store import create_run

    run = create_run(preset("fast", epochs=1, limit_train=256, threads=1), runs_dir)
    assert run.state() == RunState.CREATED and run.state().is_active()
    b = standing.board(runs_dir)
    assert b.label(run.id) == "starting" and b.queued == 0
    assert jobs.cancel(run) == RunState.CANCELLED
