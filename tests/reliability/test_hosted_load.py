"""Hosted mode under load: 10 browser sessions (10 visitors) each try to queue 3 trainings.

What must hold, checked while it happens and after:
- the caps: never more than 1 queued-or-running training per visitor, never more than the
  global queue cap (4 here) in all; a refused click shows the quota's message;
- no accepted job is lost: every training a browser was told had started ends complete;
- the pages answer: the 95th percentile of the click-to-answer times stays under 2 s (a round
  that misses it gets another round on a fresh server, up to 3; see the test's rationale).
All 10 browsers, the server and the training job share this machine's 2 cores.
"""

from __future__ import annotations

import re
import statistics
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
import harness  # noqa: E402

from engine import hosting, jobs  # noqa: E402
from engine.runs import RunState, list_runs  # noqa: E402

pytestmark = pytest.mark.e2e
VISITORS, TRIES, QUEUE_CAP = 10, 3, 4
LINK = "/train?preset=fast&dataset=mnist&epochs=1&limit_train=5000"
REFUSED = re.compile(r"You already have 1 training|queue is full")
ANSWER = re.compile(r"Started |You already have 1 training|queue is full")


def _active_by_owner(root: Path) -> Counter:
    active = Counter()
    for run in list_runs(root):
        st = run.status()
        if st.get("state") in (RunState.QUEUED.value, RunState.RUNNING.value) and st.get(
            "submitted"
        ):
            active[hosting.owner_of(st)] += 1
    return active


def _try_all(pages, url: str) -> tuple[set[str], int, list[float]]:
    """Each visitor clicks Start TRIES times in a row; (accepted run ids, refusals, times)."""
    accepted, refused, latencies = set(), 0, []
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
                latencies.append(time.perf_counter() - t0)
                if page.get_by_text(REFUSED).count():
                    refused += 1
                else:  # accepted: the page links its run (the toast fades after a while)
                    page.wait_for_url(re.compile(r"[?&]run="))
                    accepted.add(re.search(r"[?&]run=([^&#]+)", page.url).group(1))
            except Exception:
                harness.shot(page, "reliability/hosted-load-failure")
                raise
    harness.shot(pages[-1], "reliability/hosted-load-last-visitor")
    return accepted, refused, latencies


def _round(tmp_path: Path) -> list[float]:
    """One fresh server and runs folder, 10 visitors × 3 clicks: the caps and the jobs are
    checked here (every round must hold them); returns the click-to-answer times."""
    from playwright.sync_api import sync_playwright

    tmp_path.mkdir(parents=True, exist_ok=True)
    root = tmp_path / "runs"
    env = {"ENGINE_PUBLIC": "1", "ENGINE_MAX_JOBS": "1", "ENGINE_MAX_QUEUE": str(QUEUE_CAP)}
    worst: dict[str, int] = {"per_visitor": 0, "total": 0}
    stop = threading.Event()

    def watch() -> None:  # the caps, sampled every 50 ms for the whole round
        while not stop.is_set():
            active = _active_by_owner(root)
            worst["per_visitor"] = max(worst["per_visitor"], max(active.values(), default=0))
            worst["total"] = max(worst["total"], sum(active.values()))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    accepted: set[str] = set()
    try:
        with (
            harness.serve(root, tmp_path / "server.log", env) as url,
            sync_playwright() as p,
        ):
            watcher.start()
            browser = p.chromium.launch(executable_path=harness.CHROMIUM, args=harness.FLAGS)
            pages = []
            for _ in range(VISITORS):  # a browser context each: its own cookie, its own visitor
                page = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
                page.set_default_timeout(90_000)
                pages.append(page)
            accepted, refused, latencies = _try_all(pages, url)
            browser.close()

            end = time.time() + 300  # every accepted job runs to the end, one at a time
            while time.time() < end and not all(
                r.state().is_finished() for r in list_runs(root) if r.id in accepted
            ):
                time.sleep(0.5)
    finally:
        stop.set()
        for run in jobs.running(root):
            jobs.cancel(run)

    p95 = statistics.quantiles(latencies, n=20)[-1]
    print(
        f"{len(accepted)} accepted, {refused} refused; click to answer: median "
        f"{statistics.median(latencies):.2f} s, p95 {p95:.2f} s, max {max(latencies):.2f} s "
        f"over {len(latencies)} clicks; worst seen: {worst}; in click order: "
        + " ".join(f"{t:.2f}" for t in latencies)
    )
    assert len(latencies) == VISITORS * TRIES
    assert worst["per_visitor"] <= 1 and worst["total"] <= QUEUE_CAP, worst
    assert refused > 0  # with 30 tries against these caps some must be refused, with a message
    states = {r.id: r.state() for r in list_runs(root)}
    assert accepted <= set(states), accepted - set(states)  # no accepted job lost
    assert all(states[i] == RunState.COMPLETE for i in accepted), states
    assert set(states) == accepted  # and no run that nobody was told about
    return latencies


@pytest.mark.timeout(1200)
def test_ten_visitors_each_try_three_trainings(tmp_path):
    harness.require_browser()
    # Rationale: 30 clicks, each timed from the click until the page shows its answer; the p95
    # tolerates one slow answer. Here the 10 browsers run on the server's own 2 cores (on a host
    # they run on the visitors' machines), and on this shared machine 2 of 30 clicks sometimes
    # take 2-3.7 s (measured 2026-11-27: p95 1.20-2.58 s over 16 rounds, 4 of them over 2 s, two
    # of those in a row in one fresh-clone run; median 0.49-0.91 s). So a round whose p95 misses
    # gets another round on a fresh server, up to 3 rounds; every round must hold the caps and
    # lose no job, and the test fails when the third p95 misses too. A server that stops
    # answering fails every later click, and wait_for's timeout fails the test outright.
    latencies = _round(tmp_path / "round1")
    for n in (2, 3):
        if statistics.quantiles(latencies, n=20)[-1] < 2.0:
            break
        latencies = _round(tmp_path / f"round{n}")
    assert statistics.quantiles(latencies, n=20)[-1] < 2.0, sorted(latencies)
