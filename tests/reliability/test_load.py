"""Load: several browser sessions start trainings at once. Jobs queue under the concurrency
limit, none is lost, the pages stay responsive, and each session's data stays its own."""

from __future__ import annotations

import re
import statistics
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
import harness  # noqa: E402

from engine.config import DEFAULT_RUN_ID  # noqa: E402
from engine.queue import jobs  # noqa: E402
from engine.runs.store import RunState, list_runs  # noqa: E402

pytestmark = pytest.mark.e2e
SESSIONS = 5
CLICK_ROUNDS = 6  # 12 page clicks measured while the jobs run
DEAD_S = 30  # a click not answered within this is a server that stopped answering


@pytest.fixture(scope="module")
def served(tmp_path_factory, digit_runs_factory):
    harness.require_browser()
    root = digit_runs_factory()
    log = tmp_path_factory.mktemp("log") / "server.log"
    with harness.serve(root, log, {"ENGINE_MAX_JOBS": "1"}) as url:
        yield url, root


def test_five_sessions_start_trainings_at_once(served):
    url, root = served
    from playwright.sync_api import sync_playwright

    link = f"{url}/train?preset=fast&dataset=mnist&epochs=1&limit_train=1000"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=harness.CHROMIUM, args=harness.FLAGS)
        try:
            pages = []
            for _ in range(SESSIONS):  # separate contexts = separate visitors
                page = browser.new_context(viewport={"width": 1300, "height": 900}).new_page()
                page.set_default_timeout(90_000)
                page.goto(link)
                pages.append(page)
            for page in pages:
                page.get_by_role("button", name="Start training").wait_for()
            for page in pages:  # as close to "at once" as one driver gets
                page.get_by_role("button", name="Start training").click()

            # Once the five submissions are in and a job trains, interactions answer quickly.
            trained = lambda: [r for r in list_runs(root) if r.id != DEFAULT_RUN_ID]  # noqa: E731
            end = time.time() + 60
            while len(trained()) < SESSIONS or not any(
                r.status().get("progress") for r in jobs.running(root)
            ):
                assert time.time() < end, [r.status() for r in trained()]
                time.sleep(0.1)
            watcher = browser.new_context().new_page()
            watcher.set_default_timeout(90_000)
            watcher.goto(f"{url}/")
            watcher.get_by_text("Recent runs").wait_for()
            latencies, most_running = [], 0
            for target, heading in [("Runs", "Runs"), ("Home", "Recent runs")] * CLICK_ROUNDS:
                most_running = max(most_running, len(jobs.running(root)))
                nav = watcher.locator('[data-testid="stSidebarNav"]')
                t0 = time.perf_counter()
                nav.get_by_role("link", name=target, exact=True).click()
                # The page answered; a server that stopped answering fails here, on any click.
                watcher.get_by_role("heading", name=heading).wait_for(timeout=DEAD_S * 1000)
                latencies.append(time.perf_counter() - t0)
                harness.wait_idle(watcher)  # and finished, before the next click
            print(f"page interaction while jobs run: {[round(x, 2) for x in latencies]} s")
            # Why a percentile over every click, and these numbers: on the 2-core machine the
            # server shares the cores with a training job and six Chromium sessions, and the
            # scheduler now and then gives a single click several seconds (measured: medians
            # 0.1-0.5 s, single clicks up to 4.7 s; the old median of 6 clicks failed 1 run in
            # 4 on an idle machine). The 75th percentile of 12 clicks lets 3 slow ones pass and
            # still fails a server that is slow for most clicks; one that stops answering fails
            # the wait above (DEAD_S) instead.
            p75 = statistics.quantiles(latencies, n=4, method="inclusive")[2]
            assert len(latencies) == 2 * CLICK_ROUNDS and p75 < 3.0, latencies

            end = time.time() + 240
            while time.time() < end:
                most_running = max(most_running, len(jobs.running(root)))
                if len(trained()) == SESSIONS and all(r.state().is_finished() for r in trained()):
                    break
                time.sleep(0.2)
            states = {r.id: r.state() for r in trained()}
            assert len(states) == SESSIONS, states  # no submission lost
            assert all(s == RunState.COMPLETE for s in states.values()), states
            assert most_running <= 1  # the concurrency limit held
            for page in pages:  # each session still shows its own run's result
                page.get_by_text(re.compile(r"Test accuracy")).first.wait_for()
            harness.shot(pages[0], "reliability/load-session-1")
        finally:
            browser.close()


def test_uploaded_samples_stay_in_their_session(served):
    url, _ = served
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=harness.CHROMIUM, args=harness.FLAGS)
        try:
            a = browser.new_context().new_page()
            b = browser.new_context().new_page()
            for page in (a, b):
                page.set_default_timeout(90_000)
                page.goto(f"{url}/greek")
                page.get_by_text(re.compile(r"^27 samples")).wait_for()
            a.get_by_text("Remove samples").click()
            a.get_by_role("button", name="Remove all samples").click()
            a.get_by_role("button", name="Yes, remove all").click()  # the page asks first
            a.get_by_text(re.compile(r"^0 samples")).wait_for()
            b.reload()
            b.get_by_text(re.compile(r"^27 samples")).wait_for()  # b never sees a's change
        finally:
            browser.close()
