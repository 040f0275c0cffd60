"""The dashboard as a host runs it: plain `streamlit run app.py`, fresh servers, many visitors.

- A deep link is the first request of a fresh server's life: the router, its navigation and the
  linked settings must show (a `pages/` folder would put the server in legacy mode here).
- While the default model trains in the background (a first start), a page that needs a model
  says so and continues by itself when it is ready.
- Hosted mode (ENGINE_PUBLIC=1): two browsers are two visitors; one cannot cancel or delete the
  other's run, a reload keeps ownership (cookie), quotas answer with a message, the admin
  (password from a secrets file) can do everything.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time

import harness
import pytest

pytestmark = pytest.mark.e2e
TINY = "limit_train=1000&epochs=1&batch_size=64&preset=fast"


def _nav(page) -> list[str]:
    """The router's page links (their text is the icon's name, then the title)."""
    texts = page.locator('[data-testid="stSidebarNav"] a').all_inner_texts()
    return [t.split("\n")[-1] for t in texts]


def _cancel_all(runs) -> None:
    from engine.queue import jobs

    for run in jobs.running(runs):
        jobs.cancel(run)


def test_a_deep_link_is_the_first_request_of_a_fresh_server(tmp_path, digit_runs_factory):
    harness.require_browser()
    from playwright.sync_api import expect

    expect.set_options(timeout=60_000)  # a fresh server imports torch on its first page

    runs = digit_runs_factory()
    with harness.serve(runs, tmp_path / "server.log") as url, harness.browser_page() as page:
        page.goto(f"{url}/train?preset=seed-mnist-cnn&epochs=7&optimizer=sgd")
        expect(page.get_by_role("heading", name="Train a network")).to_be_visible()
        expect(page.get_by_role("slider", name="Epochs")).to_have_value("7")
        assert "Greek letters" in _nav(page) and "Webcam" in _nav(page)  # the router's sidebar
        expect(page.get_by_text("Model", exact=True)).to_be_visible()  # app.py's own sidebar
        harness.shot(page, "hosting/01-deep-link-train")
        page.goto(f"{url}/greek")  # a second first-visit, straight to another page
        expect(page.get_by_role("heading", name="Greek letters from a few samples")).to_be_visible()
        assert "Train" in _nav(page)
        harness.shot(page, "hosting/02-deep-link-greek")


def test_a_page_waits_for_the_default_model_and_continues_by_itself(tmp_path):
    """A host whose default model is still in the queue (its first start queued it): Greek says
    why it waits, Home shows the progress, and once the run is complete the page draws itself,
    with no click and no reload. The queued run is a short training under the default run's id:
    the page only watches that run, and waiting minutes for the real one would test nothing
    more here (that a fresh host queues the real one is test_first_use_e2e's first request; that
    its config trains to the end, every session's digit model fixture)."""
    harness.require_browser()
    from playwright.sync_api import expect

    from engine.config import DEFAULT_RUN_ID
    from engine.presets import preset
    from engine.queue import jobs, taskq
    from engine.runs.store import RunState, open_run

    expect.set_options(timeout=60_000)  # a fresh server imports torch on its first page

    runs = tmp_path / "runs"
    short = preset("fast", epochs=2, limit_train=4000, limit_test=500, threads=1)
    jobs.submit(short, runs, DEFAULT_RUN_ID, priority=taskq.PRIORITY["default"])
    # The worker that submit started waits (SIGSTOP) until the page has shown the waiting
    # state: a short training would otherwise end before a loaded machine draws the page.
    (worker,) = [int(w["pid"]) for w in taskq.workers(runs)]
    os.kill(worker, signal.SIGSTOP)
    env = {"ENGINE_FIRST_START": "1", "ENGINE_PUBLIC": "1"}
    try:
        with (
            harness.serve(runs, tmp_path / "server.log", env) as url,
            harness.browser_page() as page,
        ):
            page.goto(f"{url}/greek")
            expect(page.get_by_text("This page needs a trained model")).to_be_visible()
            sidebar = page.get_by_test_id("stSidebarUserContent")
            expect(sidebar.get_by_text("The default digit model is being trained")).to_be_visible()
            expect(page.get_by_text("Training the default digit model")).to_be_visible()
            harness.shot(page, "hosting/03-first-start-waiting")
            os.kill(worker, signal.SIGCONT)
            # No click, no reload: the page continues by itself once the model is ready.
            heading = page.get_by_role("heading", name="2. Distances in the embedding space")
            expect(heading).to_be_visible(timeout=120_000)
            # the distances of the synthetic samples, in the model trained meanwhile
            page.get_by_text("Mean SSD between classes").wait_for()
            harness.wait_idle(page)
            harness.shot(page, "hosting/04-first-start-ready")
            page.goto(url)
            expect(page.get_by_role("heading", name="Recent runs")).to_be_visible()
            harness.wait_idle(page)
            assert page.get_by_text("Training the default digit model").count() == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker, signal.SIGCONT)
        _cancel_all(runs)
    assert open_run(DEFAULT_RUN_ID, runs).state() == RunState.COMPLETE


def test_visitors_cannot_touch_each_others_runs_and_the_admin_can(tmp_path):
    harness.require_browser()
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=60_000)

    runs = tmp_path / "runs"
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('admin_password = "correct horse battery"\n')
    env = {"ENGINE_PUBLIC": "1", "ENGINE_MAX_JOBS": "1"}
    try:
        with (
            harness.serve(
                runs, tmp_path / "server.log", env, ["--secrets.files", str(secrets)]
            ) as url,
            sync_playwright() as p,
        ):
            browser = p.chromium.launch(executable_path=harness.CHROMIUM, args=harness.FLAGS)
            alice = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            bob = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            for pg in (alice, bob):
                pg.set_default_timeout(60_000)

            # Alice starts a training (long enough to still be there when Bob looks).
            alice.goto(f"{url}/train?preset=fast&epochs=3&limit_train=20000")
            alice.get_by_role("button", name="Start training").click()
            expect(alice.get_by_role("button", name="Cancel")).to_be_visible()
            run_id = alice.evaluate("new URL(location.href).searchParams.get('run')")
            assert run_id
            # A second one is refused with the quota's message.
            alice.goto(f"{url}/train?{TINY}")
            alice.get_by_role("button", name="Start training").click()
            quota = alice.get_by_text("You already have 1 training queued or running")
            expect(quota).to_be_visible()

            # Bob sees Alice's run but cannot cancel it.
            bob.goto(f"{url}/train?run={run_id}")
            expect(bob.get_by_text("Started by another visitor")).to_be_visible()
            assert bob.get_by_role("button", name="Cancel").count() == 0
            harness.shot(bob, "hosting/05-other-visitors-run")

            # Alice reloads: the cookie keeps her the owner; she cancels.
            alice.goto(f"{url}/train?run={run_id}")
            alice.reload()
            alice.get_by_role("button", name="Cancel").click()
            expect(alice.get_by_text("cancelled").first).to_be_visible(timeout=90_000)

            # Bob cannot delete it on the Runs page; after unlocking as admin he can.
            bob.goto(f"{url}/runs?run={run_id}")
            expect(bob.get_by_role("heading", name="Runs")).to_be_visible()
            harness.wait_idle(bob)
            assert bob.get_by_role("button", name="Delete").count() == 0
            bob.get_by_text("Admin", exact=True).click()
            bob.get_by_label("Admin password").fill("correct horse battery")
            bob.get_by_role("button", name="Unlock").click()
            expect(bob.get_by_text("Admin: every run and sweep can be changed.")).to_be_visible()
            bob.get_by_role("button", name="Delete").click()
            bob.get_by_role("button", name="Yes, delete").click()
            end = time.time() + 60  # the click's rerun deletes it; wait for that rerun
            while (runs / run_id).exists() and time.time() < end:
                time.sleep(0.2)
            errors = bob.locator('[data-testid="stAlert"]').all_inner_texts()
            assert not (runs / run_id).exists(), errors
            assert "correct horse battery" not in (tmp_path / "server.log").read_text()
            browser.close()
    finally:
        _cancel_all(runs)
