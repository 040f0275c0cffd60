"""Browser tests of the Webcam page: through the real WebRTC path (Chromium's fake camera plays a
y4m of known MNIST test digits on paper; the page must show their labels and ≥ 10 fps), and in a
browser without a camera (plain words, and a photo upload that recognises the same digits)."""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

import harness
import numpy as np
import pytest

from engine.config import DEFAULT_RUN_ID
from engine.nn import live, live_bench

pytestmark = pytest.mark.e2e
LOOPBACK_PATCH = Path(__file__).parent / "webrtc_loopback"  # aioice offers 127.0.0.1
CAMERA_FLAGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
]


def write_y4m(path: Path, frames: list[np.ndarray], fps: int = 20) -> None:
    """BGR frames (H, W, 3) → a YUV4MPEG2 file (4:2:0, JPEG range), the format Chromium's fake
    camera reads."""
    import cv2

    h, w = frames[0].shape[:2]
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            yuv = cv2.cvtColor(frame, cv2.COLOR_BGR2YCrCb)  # full range, like C420jpeg
            y, cr, cb = (yuv[..., i] for i in range(3))
            half = lambda p: cv2.resize(p, (w // 2, h // 2), interpolation=cv2.INTER_AREA)  # noqa: E731
            f.write(b"FRAME\n" + y.tobytes() + half(cb).tobytes() + half(cr).tobytes())


@pytest.fixture(scope="module")
def digit_run(digit_runs_factory):
    harness.require_browser()
    from engine.runs.store import Run

    return Run(digit_runs_factory() / DEFAULT_RUN_ID)


def known_digits_frame(digit_run, mnist) -> tuple[np.ndarray, set[str]]:
    """A frame of four test digits that the engine reads right on the frame itself, so the
    browser test checks the WebRTC path, not the network's few mistakes."""
    from engine.runs.store import load_model

    model, cfg = load_model(digit_run.path)
    rec = live.LiveRecognizer(
        live.net_classifier(model, cfg), live.LiveSettings(min_confidence=0.8)
    )
    x, y = mnist.x_test.numpy(), [str(v) for v in mnist.y_test.tolist()]
    rng = np.random.default_rng(0)
    for _ in range(50):
        idx = rng.choice(len(x), 4, replace=False)
        labels = [y[i] for i in idx]
        if len(set(labels)) < 4:
            continue
        frame, truth = live_bench.synthetic_frame(x[idx], labels, rng, heights=(70, 100))
        _, dets = rec.process(frame)
        if live_bench.match(dets, truth) == (4, 0):
            return frame, set(labels)
    pytest.fail("no frame of four digits that the engine reads right")


@contextlib.contextmanager
def camera_page(digit_run, frames: list[np.ndarray], tmp_path: Path):
    """(page, server log): the Webcam page in a Chromium whose fake camera plays ``frames``."""
    from playwright.sync_api import sync_playwright

    video = tmp_path / "digits.y4m"
    write_y4m(video, frames)
    env = {
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(LOOPBACK_PATCH), os.environ.get("PYTHONPATH")])
        )
    }
    flags = [*harness.FLAGS, *CAMERA_FLAGS, f"--use-file-for-fake-video-capture={video}"]
    log = tmp_path / "server.log"
    with harness.serve(digit_run.path.parent, log, env) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=harness.CHROMIUM, args=flags, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)
            page.goto(f"{url}/webcam")
            page.get_by_text("Find symbols").wait_for()
            harness.wait_idle(page)
            yield page, log
        finally:
            browser.close()


def test_live_video_shows_the_digits_and_frame_rate(digit_run, mnist, tmp_path):
    frame, expected = known_digits_frame(digit_run, mnist)
    rng = np.random.default_rng(1)  # a little sensor noise per frame, like a real camera
    noisy = [
        np.clip(frame + rng.normal(0, 2, frame.shape), 0, 255).astype(np.uint8) for _ in range(20)
    ]
    with camera_page(digit_run, noisy, tmp_path) as (page, log):
        assert page.get_by_text("direct connections only").is_visible()
        # the fake camera is found: no "No camera found" problem (the caption that explains
        # the player's raw errors mentions "no camera found" too, in lower case)
        assert not page.get_by_text("No camera found: use a photo", exact=False).count()
        player = page.frame_locator('iframe[title*="streamlit_webrtc"]')
        player.get_by_role("button", name="START").click()
        player.get_by_role("button", name="STOP").wait_for(timeout=60_000)

        seen, fps = set(), 0.0
        for _ in range(60):  # up to ~30 s for the connection and a steady frame rate
            page.wait_for_timeout(500)
            text = page.locator('[data-testid="stMarkdownContainer"]').filter(has_text="Seen:")
            if text.count():
                seen = set(re.findall(r"\b(\d)\b", text.first.inner_text().split("Seen:")[1]))
            metric = page.locator('[data-testid="stMetricValue"]').first.inner_text()
            fps = float(metric.split()[0])
            if seen == expected and fps >= 10:
                break
        harness.shot(page, "webcam/01-live-digits")
        assert seen == expected, (seen, expected, log.read_text()[-2000:])
        assert fps >= 10, (fps, log.read_text()[-2000:])
        assert not page.locator('[data-testid="stException"]').count()
        player.get_by_role("button", name="STOP").click()


def test_without_a_camera_the_page_says_so_and_a_photo_works(digit_run, mnist, tmp_path):
    """Headless Chromium with no (fake) camera: the browser's answer becomes plain words, and an
    uploaded photo of the sheet gets the digits' labels."""

    from PIL import Image
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    frame, expected = known_digits_frame(digit_run, mnist)
    photo = tmp_path / "sheet.png"
    Image.fromarray(np.ascontiguousarray(frame[..., ::-1])).save(photo)
    log = tmp_path / "server.log"
    with harness.serve(digit_run.path.parent, log) as url, sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=harness.CHROMIUM, args=harness.FLAGS, headless=True
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)
            page.goto(f"{url}/webcam")
            page.get_by_text("No camera found: use a photo instead.").wait_for(timeout=60_000)
            uploader = page.get_by_test_id("stFileUploader").filter(has_text="Upload a photo")
            for attempt in range(3):  # a script run that redraws the uploader drops a file
                harness.wait_idle(page)
                uploader.locator('input[type="file"]').set_input_files(str(photo))
                try:
                    uploader.get_by_text("sheet.png").wait_for(timeout=20_000)
                    break
                except PlaywrightTimeout:
                    harness.shot(page, f"webcam/upload-not-taken-{attempt}")
            text = page.locator('[data-testid="stMarkdownContainer"]').filter(has_text="Seen:")
            text.first.wait_for(timeout=60_000)
            harness.wait_idle(page)
            seen = set(re.findall(r"\b(\d)\b", text.first.inner_text().split("Seen:")[1]))
            harness.shot(page, "webcam/02-no-camera-photo")
            assert seen == expected, (seen, expected, log.read_text()[-2000:])
            assert not page.locator('[data-testid="stException"]').count()
        finally:
            browser.close()


def test_record_adds_samples_while_on_and_bars_follow_the_video(digit_run, mnist, tmp_path):
    """Teachable Machine's habits on the real WebRTC path: the live panel shows a confidence bar
    per top class, and "Record" switched on for 2 s adds several samples of the class."""
    from playwright.sync_api import expect

    frame, _ = known_digits_frame(digit_run, mnist)
    with camera_page(digit_run, [frame] * 10, tmp_path) as (page, log):
        player = page.frame_locator('iframe[title*="streamlit_webrtc"]')
        player.get_by_role("button", name="START").click()
        bars = page.locator('[data-testid="stProgress"]')
        expect(bars.first).to_be_visible(timeout=60_000)  # the panel's timer drew them
        assert 1 <= bars.count() <= 3 and "%" in bars.first.inner_text()
        harness.wait_idle(page)
        page.get_by_label("Class to record").fill("delta")
        page.get_by_label("Class to record").press("Enter")
        harness.wait_idle(page)
        page.get_by_text("Record samples", exact=False).click()
        page.wait_for_timeout(2000)
        counter = page.get_by_text(re.compile(r"^Recording: \d+ samples of delta"))
        expect(counter).to_be_visible()
        harness.shot(page, "webcam/03-recording")
        page.get_by_text("Record samples", exact=False).click()
        done = page.get_by_text(re.compile(r"^Recorded \d+ samples of delta"))
        expect(done).to_be_visible(timeout=30_000)
        n = int(re.search(r"Recorded (\d+)", done.inner_text()).group(1))
        harness.shot(page, "webcam/04-recorded")
        assert 3 <= n <= 30, (n, log.read_text()[-2000:])
        assert not page.locator('[data-testid="stException"]').count()
        player.get_by_role("button", name="STOP").click()
