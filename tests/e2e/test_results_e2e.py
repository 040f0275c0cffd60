"""Browser test of a finished run's result view: "try it" answers as a grid (top 3 with bars),
and gallery mistakes framed in red."""

from __future__ import annotations

import harness
import pytest

pytestmark = pytest.mark.e2e


def test_try_it_grid_and_marked_mistakes(digit_app_url):
    with harness.browser_page() as page:
        page.goto(f"{digit_app_url}/train?run=default-digit-cnn-v3")
        page.get_by_text("Test accuracy").first.wait_for(timeout=120_000)
        harness.wait_idle(page)

        harness.open_tab(page, "Worst mistakes")
        panel = page.get_by_role("tabpanel").filter(has_text="are misclassified")
        red = panel.locator('[data-testid="stCaptionContainer"] span').filter(has_text="✗")
        red.first.wait_for()
        colour = red.first.evaluate("e => getComputedStyle(e).color")
        r, g, b = (int(v) for v in colour[colour.index("(") + 1 : -1].split(",")[:3])
        assert r > 150 and g < 120 and b < 120, colour  # the caption is red
        harness.shot(page, "results/01-worst-mistakes", max_height=5000)

        harness.open_tab(page, "Try it")
        panel = page.get_by_role("tabpanel").filter(has_text="How many")
        cards = panel.locator('[data-testid="stColumn"]').filter(has_text="(28×28 input)")
        cards.nth(7).wait_for()
        assert cards.count() == 8
        boxes = [cards.nth(i).bounding_box() for i in range(8)]
        row1, row2 = boxes[:4], boxes[4:]
        assert len({round(b["y"]) for b in row1}) == 1  # four answers side by side
        assert [b["x"] for b in row1] == sorted(b["x"] for b in row1)
        assert min(b["y"] for b in row2) > max(b["y"] for b in row1)  # then the next row
        bars = panel.locator('[data-testid="stProgress"]')
        assert bars.count() == 3 * 8
        assert not page.locator('[data-testid="stException"]').count()
        harness.shot(page, "results/02-try-it-grid", max_height=5000)
