"""Browser test of the drawing pad: strokes drawn with the mouse in Chromium come back as a
prediction, on the Train page's "try it" and as Inspect's input image."""

from __future__ import annotations

import re

import harness
import pytest

pytestmark = pytest.mark.e2e
ARTIFACTS = harness.ARTIFACTS / "draw"

# Strokes on the 280 px pad, as (x, y) points in pad pixels; the mouse goes through each.
SEVEN = [[(70, 60), (210, 60), (120, 240)]]
ONE = [[(150, 40), (150, 240)]]


def draw(page, strokes, steps: int = 12, release: bool = True) -> None:
    """Draw ``strokes`` on the visible pad with the mouse, point to point in small moves
    (``release=False``: the mouse button stays down at the end of the last stroke).

    Deterministic: it waits until the script run is over (no layout shift moves the pad), the
    pad's script has set its handlers (the canvas is in the page before its module runs, and a
    stroke in between is lost) and the pad's position is steady; then it checks the ink landed."""
    harness.wait_idle(page)
    canvas = page.locator("canvas[aria-label='drawing pad'][data-ready='1']").first
    canvas.wait_for(state="visible")
    canvas.scroll_into_view_if_needed()
    box = None
    for _ in range(50):
        page.wait_for_timeout(100)
        now = canvas.bounding_box()
        if now == box:
            break
        box = now
    scale = box["width"] / 280

    def at(p):
        return box["x"] + p[0] * scale, box["y"] + p[1] * scale

    for n, stroke in enumerate(strokes, start=1):
        page.mouse.move(*at(stroke[0]))
        page.mouse.down()
        for a, b in zip(stroke, stroke[1:]):
            for i in range(1, steps + 1):
                t = i / steps
                page.mouse.move(*at((a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]))))
        if release or n < len(strokes):
            page.mouse.up()
    dark = canvas.evaluate(
        """c => { const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
                  let n = 0; for (let i = 0; i < d.length; i += 4) n += d[i] < 128; return n; }"""
    )
    assert dark > 500, f"the strokes did not land on the pad ({dark} dark pixels)"


def test_draw_a_seven_then_a_one_in_try_it_and_a_seven_on_inspect(digit_app_url):
    from playwright.sync_api import expect

    with harness.browser_page() as page:
        page.goto(f"{digit_app_url}/train?run=default-digit-cnn-v3")
        harness.open_tab(page, "Try it")
        page.get_by_text("Draw", exact=True).click()
        # The "try it" tab (the galleries' tabs say "Predicted: …" too).
        panel = page.get_by_role("tabpanel").filter(has=page.locator("canvas"))
        draw(page, SEVEN)
        expect(panel.get_by_text(re.compile(r"^Predicted: 7"))).to_be_visible(timeout=60_000)
        expect(panel.get_by_text("drawing (28×28 input)")).to_be_visible()
        harness.shot(page, "draw/01-try-it-seven", max_height=5000)

        panel.get_by_role("button", name="Clear").click()
        expect(panel.get_by_text(re.compile(r"^Predicted: "))).to_have_count(0, timeout=60_000)
        draw(page, ONE)
        expect(panel.get_by_text(re.compile(r"^Predicted: 1"))).to_be_visible(timeout=60_000)
        harness.shot(page, "draw/02-try-it-one", max_height=5000)

        page.goto(f"{digit_app_url}/inspect")
        expect(page.get_by_role("heading", name="Inspect a network")).to_be_visible()
        page.get_by_text("Draw", exact=True).click()
        expect(page.get_by_text("Choose an image")).to_be_visible(timeout=60_000)
        draw(page, SEVEN)
        expect(page.get_by_role("heading", name=re.compile(r"^Predicted: 7"))).to_be_visible(
            timeout=60_000
        )
        assert page.locator('[data-testid="stException"]').count() == 0
        harness.shot(page, "draw/03-inspect-seven", max_height=8000)


def test_the_answer_and_a_bar_per_class_follow_the_pen_before_it_lifts(digit_app_url):
    """No click and no mouse-up: while the pen is still down, the drawing reaches the model and
    the answer comes with a bar for each of the 10 digits."""
    from playwright.sync_api import expect

    with harness.browser_page() as page:
        page.goto(f"{digit_app_url}/train?run=default-digit-cnn-v3")
        harness.open_tab(page, "Try it")
        page.get_by_text("Draw", exact=True).click()
        panel = page.get_by_role("tabpanel").filter(has=page.locator("canvas"))
        draw(page, SEVEN, release=False)
        expect(panel.get_by_text(re.compile(r"^Predicted: 7"))).to_be_visible(timeout=30_000)
        bars = panel.locator('[data-testid="stProgress"]')
        expect(bars).to_have_count(10)
        texts = bars.all_inner_texts()
        assert texts[0].startswith("7 · ") and {t.split(" · ")[0] for t in texts} == set(
            "0123456789"
        ), texts
        harness.shot(page, "draw/04-live-seven-pen-down", max_height=5000)
        page.mouse.up()
        assert page.locator('[data-testid="stException"]').count() == 0
