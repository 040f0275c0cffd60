"""Browser test: `streamlit run app.py` on a loopback port, the Inspect page in Chromium."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from inspect_runs import trained_runs

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

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Debian's Chromium is not at {CHROMIUM} (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    runs = trained_runs(tmp_path_factory)
    port = free_port()
    env = {**os.environ, "ENGINE_RUNS_DIR": str(runs), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.address", "127.0.0.1"]
    cmd += ["--server.port", str(port), "--server.headless", "true"]
    cmd += ["--browser.gatherUsageStats", "false"]
    log = open(tmp_path_factory.mktemp("streamlit") / "server.log", "w+")  # noqa: SIM115
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
                break
            except OSError:
                if proc.poll() is not None:
                    break
                time.sleep(0.25)
        else:
            pytest.fail("streamlit did not answer on its health endpoint within 30 s")
        if proc.poll() is not None:
            log.seek(0)
            pytest.fail(f"streamlit exited: {log.read()[-2000:]}")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


@pytest.fixture
def digit_photo(mnist, tmp_path):
    """Test digit 1 as a 'photo': inverted to dark ink on light paper, scaled up 8×."""
    from PIL import Image

    ink = 255 - mnist.x_test[1].numpy()
    path = tmp_path / "digit.png"
    Image.fromarray(ink).resize((224, 224), Image.Resampling.BILINEAR).save(path)
    return path


def test_inspect_page_in_a_browser(server, digit_photo):
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        # Start at the root and wait for app.py's own sidebar: until its first run has declared
        # st.navigation, Streamlit offers the pages/ folder's automatic links (page only, no app).
        page.goto(server)
        expect(page.get_by_text("Model", exact=True)).to_be_visible(timeout=60_000)
        page.get_by_test_id("stSidebarNav").get_by_role("link", name="Inspect").click()
        expect(page.get_by_role("heading", name="Inspect a network")).to_be_visible(timeout=60_000)
        expect(page.get_by_text("Predicted:")).to_be_visible(timeout=60_000)
        expect(page.get_by_text("Total params: 21,840", exact=True)).to_be_visible()
        # Charts: filters ×2, input, responses, 13 activation tabs, probabilities, saliency.
        expect(page.locator(".js-plotly-plot")).to_have_count(19, timeout=60_000)
        assert page.locator(".stException").count() == 0
        expect(page.get_by_text("Model", exact=True)).to_be_visible()  # still the app's sidebar
        # Streamlit scrolls inside its main section, so a full-page shot needs a tall window.
        height = page.evaluate("document.querySelector('[data-testid=stMain]').scrollHeight")
        page.set_viewport_size({"width": 1400, "height": min(int(height) + 50, 12_000)})
        page.wait_for_timeout(1000)  # let plotly redraw at the new size
        page.screenshot(path=str(ARTIFACTS / "inspect_page.png"), full_page=True)
        page.set_viewport_size({"width": 1400, "height": 1000})

        # A photo-like upload: dark ink on light paper, larger than 28×28.
        page.get_by_text("Upload", exact=True).click()
        expect(page.get_by_text("Choose an image")).to_be_visible(timeout=30_000)
        page.locator("input[type=file]").set_input_files(str(digit_photo))
        expect(page.get_by_text("Predicted: ")).to_be_visible(timeout=30_000)
        expect(page.get_by_text("28×28", exact=True)).to_be_visible()  # the preprocessing steps
        page.screenshot(path=str(ARTIFACTS / "inspect_upload.png"))

        # A file that is not an image: the engine's message, not a traceback.
        page.locator("input[type=file]").set_input_files(
            files=[{"name": "not-a-digit.png", "mimeType": "image/png", "buffer": b"no pixels"}]
        )
        expect(page.get_by_text("not an image we can read")).to_be_visible(timeout=30_000)
        assert page.locator(".stException").count() == 0
        page.screenshot(path=str(ARTIFACTS / "inspect_bad_upload.png"))
        browser.close()
