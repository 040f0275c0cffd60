"""Browser test of the Runs page's comparison: the legend lies outside the plot area, every run id
is shown whole, and each run keeps one colour of a qualitative palette in both charts."""

from __future__ import annotations

from dataclasses import replace

import harness
import pytest

pytestmark = pytest.mark.e2e
IDS = [
    "20991231-235959-fashion-mnist-cnn-a-rather-long-run-id",
    "20991231-235958-fashion-mnist-mlp-another-long-run-id",
    "20991231-235957-fashion-mnist-cnn-third",
]


def _runs(root) -> None:
    from engine.presets import preset
    from engine.runs.store import RunState, create_run

    for k, run_id in enumerate(IDS):
        run = create_run(replace(preset("fast"), epochs=3), root, run_id)
        for step in range(1, 11):
            loss = 2.3 / (1 + 0.3 * step * (k + 1))
            run.append_metric({"kind": "progress", "examples": 640 * step, "loss": loss})
        for epoch in (1, 2, 3):
            acc = 0.6 + 0.1 * epoch - 0.05 * k
            run.append_metric({"kind": "epoch", "epoch": epoch, "test_accuracy": acc})
        run.set_status(RunState.COMPLETE, test_accuracy=0.9 - 0.05 * k, epoch=3)


def _box(locator) -> dict:
    box = locator.bounding_box()
    assert box, locator
    return box


def test_comparison_legend_is_outside_and_ids_are_whole(tmp_path):
    harness.require_browser()
    runs = tmp_path / "runs"
    _runs(runs)
    with harness.serve(runs, tmp_path / "server.log") as url, harness.browser_page() as page:
        page.goto(f"{url}/runs")
        page.get_by_text("Runs to overlay").wait_for()
        harness.wait_idle(page)
        charts = page.locator('[data-testid="stPlotlyChart"]')
        charts.nth(1).locator(".legend").wait_for()
        page.wait_for_timeout(1000)
        harness.shot(page, "runs/01-compare")
        for i in (0, 1):
            chart = charts.nth(i)
            names = [t.text_content() for t in chart.locator(".legend text.legendtext").all()]
            assert names == IDS[: len(names)] and len(names) == 3  # whole ids, in order
            plot, legend = _box(chart.locator(".nsewdrag").first), _box(chart.locator(".legend"))
            assert legend["y"] >= plot["y"] + plot["height"], (legend, plot)  # below, outside
            chart_box = _box(chart)
            assert legend["x"] + legend["width"] <= chart_box["x"] + chart_box["width"] + 1
            assert legend["y"] + legend["height"] <= chart_box["y"] + chart_box["height"] + 1
        lines = [charts.nth(i).locator(".scatterlayer .js-line").all() for i in (0, 1)]
        colours = [[p.get_attribute("style") for p in ls] for ls in lines]
        assert colours[0] == colours[1] and len(set(colours[0])) == 3  # one colour per run
        assert not page.locator('[data-testid="stException"]').count()
