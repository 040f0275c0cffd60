"""AppTest of the Inspect page on tiny trained runs (a seed CNN and an MLP)."""

import json
from pathlib import Path

import pytest
from inspect_runs import CNN_RUN, DEEP_CNN, DEEP_RUN, MLP_RUN, trained_runs
from streamlit.testing.v1 import AppTest

from engine.nn.models import build_model
from ui.state import SELECTED_RUN

PAGE = str(Path(__file__).resolve().parents[2] / "app_pages" / "inspect.py")


@pytest.fixture(scope="session")
def runs_root(tmp_path_factory):
    return trained_runs(tmp_path_factory)


@pytest.fixture
def page(runs_root, monkeypatch):
    monkeypatch.setenv("ENGINE_RUNS_DIR", str(runs_root))
    at = AppTest.from_file(PAGE, default_timeout=60)
    return at.run()


def texts(at) -> str:
    parts = [*at.markdown, *at.info, *at.caption, *at.subheader, *at.header, *at.error]
    return "\n".join(str(e.value) for e in parts)


def test_renders_the_default_cnn_with_every_view(page):
    assert not page.exception
    assert f"Model **{CNN_RUN}**" in texts(page)  # the default model, when nothing is chosen
    headers = [h.value for h in page.header]
    for h in ("Layers", "Filters", "Input", "Filter responses", "Activations", "Saliency"):
        assert h in headers
    assert len(page.dataframe) == 1
    assert "Total params: 21,840" in texts(page)
    assert page.subheader[0].value.startswith("Predicted: ")
    assert "true label" in page.subheader[0].value
    # the filters' animation over the epochs, first filters, second filters, input, responses,
    # 13 layers, probabilities, saliency
    assert len(page.get("plotly_chart")) == 1 + 2 + 2 + 13 + 2
    assert len(page.tabs) == 13


def test_a_rerun_that_changes_nothing_recomputes_nothing(page, monkeypatch):
    from engine.nn import analysis

    calls = []
    real = analysis.analyse
    monkeypatch.setattr(analysis, "analyse", lambda *a, **k: calls.append(1) or real(*a, **k))
    page.number_input[0].set_value(3).run()  # a new image: analysed once
    assert len(calls) == 1 and not page.exception
    page.run()  # nothing changed
    page.number_input[0].set_value(3).run()
    assert len(calls) == 1
    page.number_input[0].set_value(4).run()
    assert len(calls) == 2


def test_saliency_shows_both_maps_with_their_scales(page):
    [fig] = [c for c in page.get("plotly_chart") if "Grad-CAM" in c.proto.spec]
    spec = json.loads(fig.proto.spec)
    titles = [a["text"] for a in spec["layout"]["annotations"]]
    assert titles[0].startswith("input gradient") and titles[1].startswith("Grad-CAM (act1, 12")
    scales = [t for t in spec["data"] if t.get("showscale", True) and "colorbar" in t]
    assert len(scales) == 2  # a colour scale beside each map


def test_choosing_another_test_image_and_the_upload_source(page):
    page.number_input[0].set_value(7).run()
    assert not page.exception and not page.error
    page.radio[0].set_value("Upload").run()
    assert not page.exception
    assert "Choose an image" in texts(page)


def test_mlp_shows_not_applicable_instead_of_failing(page):
    page.session_state[SELECTED_RUN] = MLP_RUN  # what the sidebar's model selector sets
    page.run()
    assert not page.exception and not page.error
    t = texts(page)
    assert "not applicable: this model has no conv layers" in t
    assert "Grad-CAM: not applicable" in t
    headers = [h.value for h in page.header]
    assert "Filter responses" not in headers and "Activations" in headers
    assert page.subheader[0].value.startswith("Predicted: ")


def test_deeper_batchnorm_cnn(page):
    page.session_state[SELECTED_RUN] = DEEP_RUN
    page.run()
    assert not page.exception and not page.error
    assert "The 8 first-layer filters, each a 3×3 window" in texts(page)
    assert "Second layer: 16 filters × 8 input channels" in [e.label for e in page.expander]
    assert len(page.tabs) == len(build_model(DEEP_CNN).layer_names)  # every layer has a tab


def test_without_runs_it_says_how_to_create_one(tmp_path, monkeypatch):
    monkeypatch.setenv("ENGINE_RUNS_DIR", str(tmp_path / "none"))
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    assert "No trained model yet: train one on the Train page" in at.info[0].value
