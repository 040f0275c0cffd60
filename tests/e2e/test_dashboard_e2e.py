"""Browser test of the dashboard: every page, a real training from the Train page, a cancel.

`streamlit run app.py` on a free loopback port with an empty runs directory, driven by Debian's
Chromium through Playwright (no browser download). Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import re
from pathlib import Path

import harness
import pytest

pytestmark = pytest.mark.e2e
ARTIFACTS = harness.ARTIFACTS / "dashboard"


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    harness.require_browser()
    runs = tmp_path_factory.mktemp("e2e-runs")
    try:
        with harness.serve(runs, tmp_path_factory.mktemp("streamlit") / "server.log") as url:
            yield url
    finally:
        from engine.queue import jobs

        for run in jobs.running(runs):  # no training process outlives the test
            jobs.cancel(run)


@pytest.fixture(scope="module")
def page(app_url):
    with harness.browser_page() as pg:
        yield pg


def _shot(page, name: str) -> None:
    harness.shot(page, f"dashboard/{name}", max_height=5000)


def _photo() -> Path:
    """A photo-like upload: a dark trouser silhouette on light, unevenly lit paper."""
    import cv2
    import numpy as np

    img = np.linspace(200, 245, 300 * 240).reshape(300, 240).astype(np.uint8)
    cv2.fillPoly(img, [np.array([[80, 40], [160, 40], [175, 260], [135, 260], [120, 110],
                                 [105, 260], [65, 260]])], 40)  # fmt: skip
    path = ARTIFACTS / "trousers.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)
    return path


def _no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0


def test_every_page_renders(page, app_url):
    page.goto(app_url)
    page.get_by_role("heading", name="Recognition using Deep Networks").wait_for()
    page.get_by_text("Datasets").first.wait_for()
    _no_exception(page)
    _shot(page, "01-home")
    nav = page.locator('[data-testid="stSidebarNav"] a')
    paths = [nav.nth(i).get_attribute("href") for i in range(nav.count())]
    assert any(h.endswith("/train") for h in paths) and any(h.endswith("/runs") for h in paths)
    for href in paths:
        page.goto(href if href.startswith("http") else app_url + "/" + href.lstrip("/"))
        page.locator("h1").first.wait_for()
        harness.wait_idle(page)
        _no_exception(page)
        name = href.rstrip("/").rsplit("/", 1)[-1]
        _shot(page, "02-page-" + ("home" if ":" in name or not name else name))


def test_train_from_the_page_until_results(page, app_url):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.goto(f"{app_url}/train?preset=fast&limit_train=2000&epochs=2")
    start = page.get_by_role("button", name=re.compile("Start training"))
    start.wait_for()
    _shot(page, "03-train-settings")
    start.click()
    page.get_by_text(re.compile("Epoch \\d of 2")).first.wait_for(timeout=60_000)
    try:  # the live view mid-training (a small job may finish before a refresh shows it)
        page.get_by_text(re.compile("about .+ left")).first.wait_for(timeout=30_000)
        _shot(page, "04-train-live")
    except PlaywrightTimeout:
        pass
    page.get_by_text("Test accuracy").first.wait_for(timeout=120_000)
    page.get_by_text("Confusion matrix").first.wait_for()
    _no_exception(page)
    assert "run=" in page.url  # a reload reattaches
    _shot(page, "05-train-done")
    harness.open_tab(page, "Worst mistakes")
    page.get_by_text("are misclassified").wait_for()  # the tab's caption, then its images
    _shot(page, "06-worst-mistakes")
    harness.open_tab(page, "Try it")
    page.get_by_text("Upload photos").click()
    bad = ARTIFACTS / "not-an-image.png"
    bad.write_bytes(b"this is text, not a PNG")
    page.locator('input[type="file"]').set_input_files(str(bad))
    page.get_by_text("not an image we can read").wait_for()
    _no_exception(page)
    _shot(page, "07-try-it-bad-upload")
    page.locator('input[type="file"]').set_input_files(str(_photo()))
    page.get_by_text("trousers.png (28×28 input)").wait_for()  # its answer card
    panel = page.get_by_role("tabpanel").filter(has_text="trousers.png (28×28 input)")
    panel.get_by_text(re.compile("^(Predicted: |not sure)")).first.wait_for()
    _no_exception(page)
    _shot(page, "07b-try-it-photo")
    page.reload()  # reattaches to the finished run through ?run=
    page.get_by_text("Test accuracy").first.wait_for()


def test_cancel_a_run_and_see_it_on_runs(page, app_url):
    page.goto(f"{app_url}/train?preset=fast&epochs=10")
    page.get_by_role("button", name=re.compile("Start training")).click()
    page.get_by_text(re.compile("Epoch \\d+ of 10")).first.wait_for(timeout=60_000)
    page.get_by_text(re.compile("about .+ left")).first.wait_for(
        timeout=60_000
    )  # losses are coming in
    page.wait_for_timeout(3000)
    _shot(page, "08a-live-before-cancel")
    page.get_by_role("button", name=re.compile("Cancel")).click()
    page.get_by_text("This run was cancelled").wait_for(timeout=60_000)
    _no_exception(page)
    _shot(page, "08-cancelled")
    page.goto(f"{app_url}/runs")
    page.get_by_text("Compare").first.wait_for()
    page.get_by_text("Open a run").wait_for()
    page.wait_for_timeout(1500)
    _no_exception(page)
    _shot(page, "09-runs")
