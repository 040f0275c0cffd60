"""One round of the hosted load (not a test module): a fresh server in hosted mode, browser
sessions of 10 visitors (the test: 4) each clicking Start 3 times, and one worker process that is
not the web server's, on the broker given (Redis, PostgreSQL or the embedded SQLite file), as a
worker on another machine would be. The web host only serves pages: it starts no worker and
trains nothing. Used by tests/reliability/test_hosted_load.py (the caps, no lost job) and
bench/hosted_load.py (the click-to-answer times over several rounds)."""

from __future__ import annotations

import os
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import harness
from queue_workers import Workers, broker_url, flush

from engine.queue import jobs, taskq
from engine.runs import hosting
from engine.runs.store import RunState, list_runs

VISITORS, TRIES, QUEUE_CAP = 10, 3, 4
LINK = "/train?preset=fast&dataset=mnist&epochs=1&limit_train=5000"
REFUSED = re.compile(r"You already have 1 training|queue is full")
ANSWER = re.compile(r"Started |You already have 1 training|queue is full")


@dataclass
class Round:
    broker: str
    accepted: set[str] = field(default_factory=set)
    refused: int = 0
    latencies: list[float] = field(default_factory=list)  # click to answer, in click order
    worst: dict[str, int] = field(default_factory=lambda: {"per_visitor": 0, "total": 0})
    states: dict[str, RunState] = field(default_factory=dict)  # every run folder at the end
    web_started_worker: bool = False  # whether the web server spawned a worker of its own


def _active_by_owner(root: Path) -> Counter:
    active = Counter()
    for run in list_runs(root):
        st = run.status()
        if st.get("state") in (RunState.QUEUED.value, RunState.RUNNING.value) and st.get(
            "submitted"
        ):
            active[hosting.owner_of(st)] += 1
    return active


def _clicks(pages, url: str, out: Round) -> None:
    """Each visitor clicks Start TRIES times in a row."""
    for page in pages:
        for _ in range(TRIES):  # back to back: the second click comes while the first is queued
            try:
                page.goto(url + LINK)  # a fresh page each time: no answer of the last click shows
                start = page.get_by_role("button", name="Start training")
                start.wait_for()
                harness.wait_idle(page)
                t0 = time.perf_counter()
                start.click()
                page.get_by_text(ANSWER).first.wait_for()
                out.latencies.append(time.perf_counter() - t0)
                if page.get_by_text(REFUSED).count():
                    out.refused += 1
                else:  # accepted: the page links its run (the toast fades after a while)
                    page.wait_for_url(re.compile(r"[?&]run="))
                    out.accepted.add(re.search(r"[?&]run=([^&#]+)", page.url).group(1))
            except Exception:
                harness.shot(page, "reliability/hosted-load-failure")
                raise
    harness.shot(pages[-1], "reliability/hosted-load-last-visitor")


def run_round(
    folder: Path,
    broker: str = "redis",
    visitors: int = VISITORS,
    queue_cap: int = QUEUE_CAP,
) -> Round:
    """One round in ``folder`` on ``broker`` (falls back to the embedded SQLite queue when the
    named server does not answer): ``visitors`` visitors under a global cap of ``queue_cap``.
    The caps are sampled every 50 ms for the whole round."""
    from playwright.sync_api import sync_playwright

    folder.mkdir(parents=True, exist_ok=True)
    root = folder / "runs"
    root.mkdir()
    url = broker_url(broker, root, redis_db=13)  # its own: the queue tests may run meanwhile
    saved = os.environ.get(taskq.QUEUE_URL_ENV)
    os.environ[taskq.QUEUE_URL_ENV] = url
    try:
        flush()
    except Exception:  # noqa: BLE001 - no such server here: the embedded queue
        broker, url = "sqlite", broker_url("sqlite", root)
        os.environ[taskq.QUEUE_URL_ENV] = url
    out = Round(broker=broker)
    env = {"ENGINE_PUBLIC": "1", "ENGINE_MAX_JOBS": "1", "ENGINE_MAX_QUEUE": str(queue_cap),
           taskq.QUEUE_URL_ENV: url, "ENGINE_RUNS_DIR": str(root)}  # fmt: skip
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            active, worst = _active_by_owner(root), out.worst
            worst["per_visitor"] = max(worst["per_visitor"], max(active.values(), default=0))
            worst["total"] = max(worst["total"], sum(active.values()))
            time.sleep(0.05)

    workers = Workers(root, env)
    watcher = threading.Thread(target=watch, daemon=True)
    try:
        workers.start()  # before the server: the worker "elsewhere" that trains everything
        with (
            harness.serve(root, folder / "server.log", env) as server,
            sync_playwright() as p,
        ):
            watcher.start()
            browser = p.chromium.launch(executable_path=harness.CHROMIUM, args=harness.FLAGS)
            pages = []
            for _ in range(visitors):  # a browser context each: its own cookie, its own visitor
                page = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
                page.set_default_timeout(90_000)
                pages.append(page)
            _clicks(pages, server, out)
            browser.close()
            end = time.time() + 300  # every accepted job runs to the end, one at a time
            while time.time() < end and not all(
                r.state().is_finished() for r in list_runs(root) if r.id in out.accepted
            ):
                time.sleep(0.5)
    finally:
        stop.set()
        for run in jobs.running(root):
            jobs.cancel(run)
        workers.stop()
        if saved is None:
            os.environ.pop(taskq.QUEUE_URL_ENV, None)
        else:
            os.environ[taskq.QUEUE_URL_ENV] = saved
    out.states = {r.id: r.state() for r in list_runs(root)}
    out.web_started_worker = (root / ".worker.log").exists()  # where procs.spawn logs one
    return out
