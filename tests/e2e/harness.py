"""The browser-test harness: `streamlit run app.py` on a free loopback port, driven by Debian's
Chromium through Playwright (never a downloaded browser). Screenshots go to test-artifacts/."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_browser() -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Debian's Chromium is not at {CHROMIUM} (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(
    runs_dir: Path, log_path: Path, extra_env: dict | None = None, args: list[str] | None = None
) -> Iterator[str]:
    """Run the dashboard as a host would (plain ``streamlit run app.py``) on a free loopback
    port; yield its URL; stop it afterwards. ``args``: more ``streamlit run`` options."""
    port = free_port()
    env = {**os.environ, "ENGINE_RUNS_DIR": str(runs_dir), "OMP_NUM_THREADS": "1"}
    env.update(extra_env or {})
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.address", "127.0.0.1"]
    cmd += ["--server.port", str(port), "--server.headless", "true"]
    cmd += ["--browser.gatherUsageStats", "false", *(args or [])]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail(f"streamlit did not start:\n{log_path.read_text()[-3000:]}")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def browser_page(width: int = 1400, height: int = 1000):
    """A fresh Chromium page (headless, Debian's binary)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(60_000)
            yield page
        finally:
            browser.close()


def wait_idle(page, timeout: float = 120_000) -> None:
    """Wait until Streamlit has finished the current script run."""
    page.wait_for_timeout(300)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout
    )


def open_tab(page, name: str, timeout: float = 60.0):
    """Select the (first) tab called ``name`` and make sure it took: a script run that redraws
    the tabs between the click and its effect drops the click, and the tab's widgets then stay
    hidden (an upload into a hidden uploader never shows its file)."""
    from playwright.sync_api import expect

    tab = page.get_by_role("tab", name=name).first
    end = time.time() + timeout
    while True:
        wait_idle(page)
        tab.click()
        try:
            expect(tab).to_have_attribute("aria-selected", "true", timeout=3000)
            return tab
        except AssertionError:
            if time.time() > end:
                raise


def shot(page, name: str, max_height: int = 8000) -> Path:
    """The whole page as test-artifacts/NAME.png. Streamlit scrolls inside its main element,
    so the viewport grows to that element's height for the shot, then shrinks back."""
    path = ARTIFACTS / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size or {"width": 1400, "height": 1000}
    height = page.evaluate(
        "(document.querySelector('[data-testid=\"stMain\"]') || document.body).scrollHeight"
    )
    page.set_viewport_size({"width": size["width"], "height": min(max(height, 800), max_height)})
    page.wait_for_timeout(800)  # let plotly redraw at the new size
    page.screenshot(path=str(path))
    page.set_viewport_size(size)
    return path
