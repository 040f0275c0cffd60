"""Browser test of the Sweeps page: start a small grid from the page, watch it finish, look at
the results view (screenshot under test-artifacts/sweeps/)."""

from __future__ import annotations

import harness
import pytest

from engine import sweep

pytestmark = pytest.mark.e2e


def test_run_a_small_sweep_from_the_page(tmp_path):
    harness.require_browser()
    runs = tmp_path / "runs"
    with (
        harness.serve(runs, tmp_path / "server.log") as url,
        harness.browser_page(height=2800) as page,
    ):
        page.goto(f"{url}/sweeps")
        page.get_by_role("button", name="Start sweep").wait_for()
        harness.wait_idle(page)
        assert page.get_by_text("No sweeps yet").is_visible()
        # Keep it quick: 500 training examples, 500 test examples (16 trials of ~0.5 s).
        page.get_by_label("Name").fill("e2e-sweep")
        page.get_by_label("Name").press("Enter")
        harness.wait_idle(page)
        for label, value in (("Training examples", "500"), ("Test examples", "500")):
            slider = page.get_by_role("slider", name=label)
            while slider.get_attribute("aria-valuetext") != value:
                slider.press("ArrowLeft")
                page.wait_for_timeout(150)
        harness.wait_idle(page)
        page.get_by_role("button", name="Start sweep").click()
        page.get_by_text("Sweep complete").wait_for(timeout=150_000)
        harness.wait_idle(page)
        page.get_by_text("Effect of each setting").first.wait_for()
        page.wait_for_timeout(1500)  # plotly draws after the script run ends
        assert not page.locator('[data-testid="stException"]').count()
        assert page.get_by_text("points on average").first.is_visible()
        harness.shot(page, "sweeps/01-results")
    rep = sweep.read_report("e2e-sweep", str(runs / "sweeps" / "sweeps.journal"))
    assert rep.count("complete") == 16 and len({tuple(r.params.items()) for r in rep.rows}) == 16
