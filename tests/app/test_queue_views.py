"""AppTest of what a visitor sees of the queue: their place in line and the wait, the same in
the header, the sidebar, the live view and the Runs table (one board: they never disagree); on
a hosted server, their own runs marked "mine" on the Runs page, others' runs without buttons;
and a clear message when the broker is down."""

from __future__ import annotations

import secrets
import subprocess
import time
from dataclasses import replace

from conftest import APP
from streamlit.testing.v1 import AppTest

from engine.presets import preset
from engine.queue import jobs, taskq
from engine.runs import hosting
from engine.runs.store import RunState, create_run


def _queued(root, run_id: str, submitted: float, **extra):
    run = create_run(replace(preset("fast"), epochs=1, limit_train=4096), root, run_id)
    run.set_status(RunState.QUEUED, submitted=submitted, queue="cpu", priority=10, attempt=1,
                   owner="operator", enqueued=time.time(), **extra)  # fmt: skip
    return run


def _worker_stand_in(runs_dir, monkeypatch, request) -> None:
    """A live "worker" with one slot that takes nothing: what is queued stays queued."""
    monkeypatch.setattr(jobs, "ensure_local_worker", lambda root=None: None)
    runs_dir.mkdir(parents=True)
    stand_in = subprocess.Popen(["sleep", "120"], start_new_session=True)
    request.addfinalizer(stand_in.kill)
    taskq.register_worker(runs_dir, stand_in.pid, "cpu", 1)


def _header(at: AppTest, run_id: str) -> str:
    [header] = [m.value for m in at.markdown if f"**{run_id}**" in m.value]
    return header


def _jobs_line(at: AppTest) -> list[str]:
    return [c.value for c in at.sidebar.caption if c.value.startswith("Jobs:")]


def test_a_queued_run_says_its_place_and_wait_everywhere(open_page, runs_dir, monkeypatch,
                                                          request):  # fmt: skip
    _worker_stand_in(runs_dir, monkeypatch, request)
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


def test_a_training_just_started_is_in_line_in_the_header_and_the_sidebar_alike(
    open_page, runs_dir, monkeypatch, request
):
    """Start is clicked after the sidebar was drawn: the page redraws from one new board, so
    the sidebar counts the run the header says is queued, with its place and wait."""
    _worker_stand_in(runs_dir, monkeypatch, request)
    busy = _queued(runs_dir, "busy", 1.0)
    busy.set_status(RunState.RUNNING, started=time.time(), progress=0, total=4096)
    at = open_page("app_pages/train.py")
    assert _jobs_line(at) == ["Jobs: 1 running, 0 queued · 1 worker slot"]
    [start] = [b for b in at.button if b.label == "Start training"]
    start.click().run()
    assert not at.exception, [e.value for e in at.exception]
    [new] = jobs.queue(runs_dir)
    assert "· queued (1st in line) ·" in _header(at, new.id)
    assert _jobs_line(at) == ["Jobs: 1 running, 1 queued · 1 worker slot"]
    [info] = [i.value for i in at.info if "in line" in i.value]
    assert info.startswith("Queued — 1st in line, ") and "to finish (CPU worker)" in info


def test_a_queued_run_that_is_in_no_line_is_not_called_queued(open_page, runs_dir, monkeypatch,
                                                               request):  # fmt: skip
    """A run created but never sent (a terminal's `python -m engine train` starting) waits in
    no line: the header must not say "queued" while the sidebar counts 0 queued."""
    _worker_stand_in(runs_dir, monkeypatch, request)
    busy = _queued(runs_dir, "busy", 1.0)
    busy.set_status(RunState.RUNNING, started=time.time(), progress=0, total=4096)
    create_run(replace(preset("fast"), epochs=1, limit_train=4096), runs_dir, "terminal")
    at = open_page("app_pages/runs.py", query={"run": "terminal"})
    assert _jobs_line(at) == ["Jobs: 1 running, 0 queued · 1 worker slot"]
    assert "· starting ·" in _header(at, "terminal")
    assert at.dataframe[0].value.set_index("run").loc["terminal", "status"] == "starting"


def _as_visitor(token: str, run_id: str | None = None) -> AppTest:
    """The Runs page through the router, as the visitor whose cookie holds ``token``."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["visitor_token"] = token
    if run_id:
        at.query_params["run"] = run_id
    at.run()
    at.switch_page("app_pages/runs.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_hosted_runs_page_marks_mine_filters_them_and_shows_others_without_buttons(
    runs_dir, monkeypatch
):
    monkeypatch.setenv(hosting.PUBLIC_ENV, "1")
    monkeypatch.setattr(jobs, "ensure_local_worker", lambda root=None: None)  # no worker: as is
    alice, bob = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    owners = {"alices-run": alice, "bobs-run": bob, "bobs-busy": bob}
    for run_id, token in owners.items():
        run = create_run(replace(preset("fast"), epochs=1, limit_train=512), runs_dir, run_id)
        run.set_status(RunState.CANCELLED, owner=hosting.visitor_id(token), submitted=1.0,
                       attempt=1, queue="cpu")  # fmt: skip
    run.set_status(RunState.RUNNING, started=time.time(), progress=0, total=512)  # bobs-busy

    at = _as_visitor(alice, "alices-run")
    table = at.dataframe[0].value.set_index("run")
    assert table["mine"].to_dict() == {"alices-run": True, "bobs-run": False, "bobs-busy": False}
    labels = {b.label for b in at.button}
    assert {"Resume", "Delete"} <= labels  # her own cancelled run
    [only] = [t for t in at.toggle if t.label.startswith("Only mine")]
    assert only.label == "Only mine (1)"
    only.set_value(True).run()
    assert list(at.dataframe[0].value["run"]) == ["alices-run"]

    at = _as_visitor(alice, "bobs-run")  # another visitor's run: shown, without its buttons
    assert set(at.dataframe[0].value["run"]) == set(owners)
    labels = {b.label for b in at.button}
    assert not labels & {"Resume", "Delete", "Cancel"}
    assert any("Started by another visitor" in c.value for c in at.caption)
    at = _as_visitor(alice, "bobs-busy")
    assert "Cancel" not in {b.label for b in at.button}
    assert any("Started by another visitor" in c.value for c in at.caption)
    at = _as_visitor(bob, "bobs-busy")  # his own running run: he can cancel it
    assert "Cancel" in {b.label for b in at.button}


def test_an_unreachable_queue_is_a_message_not_a_traceback(open_page, monkeypatch):
    monkeypatch.setenv(taskq.QUEUE_URL_ENV, "redis://127.0.0.1:1/0")
    at = open_page("app_pages/train.py")
    [start] = [b for b in at.button if b.label == "Start training"]
    start.click().run()
    assert not at.exception
    assert any("the training queue is unreachable" in e.value for e in at.error)
