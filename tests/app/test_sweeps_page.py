"""AppTest of the Sweeps page: the seed's setup preselected; a finished sweep's results."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from streamlit.testing.v1 import AppTest

from engine import sweep
from engine.config import ConfigError
from engine.presets import PRESETS
from ui.sweeps.sections import train_link
from ui.train import forms

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def page(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    at.switch_page("app_pages/sweeps.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_renders_with_the_seed_dimensions_preselected():
    at = page()
    assert at.multiselect(key="sw_dims").value == list(sweep.SEED_DIMENSIONS)
    assert at.multiselect(key="sw_v_batch_size").value == [64, 256]
    assert at.multiselect(key="sw_v_activation").value == ["relu", "tanh"]
    assert at.selectbox(key="sw_dataset").value == "fashion-mnist"
    assert at.number_input(key="sw_workers").value == 1
    assert at.slider(key="sw_epochs").value == 1
    assert any(m.value == "16" for m in at.metric)  # 2 × 2 × 2 × 2 trials
    assert "No sweeps yet" in " ".join(i.value for i in at.info)

    at.multiselect(key="sw_v_activation").set_value([]).run()
    assert not at.exception
    assert "cannot start a sweep" in at.warning[0].value


def test_a_sweep_needs_two_trials_a_free_name_and_can_start_from_any_preset():
    at = page()
    for d in ("batch_size", "conv_layers", "kernel_size"):
        at.multiselect(key=f"sw_v_{d}").set_value([sweep.DIMENSIONS[d].seed[0]]).run()
    at.multiselect(key="sw_v_activation").set_value(["relu"]).run()
    assert "at least 2" in at.warning[0].value  # one trial compares nothing: no Start

    taken = sweep.create(sweep.SweepSpec(space={"activation": ("relu", "tanh")}), "taken")
    at.text_input(key="sw_name").set_value(taken).run()
    assert at.text_input(key="sw_name").value not in ("taken", "")  # a fresh name instead

    at.selectbox(key="sw_preset").set_value("seed-fashion-mlp").run()
    assert not at.exception
    assert at.multiselect(key="sw_dims").value == list(sweep.default_dimensions("mlp"))
    assert "conv_layers" not in at.multiselect(key="sw_dims").options
    assert at.selectbox(key="sw_dataset").value == "fashion-mnist"
    assert any(m.value == "16" for m in at.metric)
    at.selectbox(key="sw_preset").set_value("seed-mnist-cnn").run()
    assert not at.warning and not at.exception  # valid again, and no widget-state warning
    assert at.selectbox(key="sw_dataset").value == "mnist"
    assert at.multiselect(key="sw_dims").value == list(sweep.SEED_DIMENSIONS)
    at.number_input(key="sw_repeats").set_value(3).run()
    assert any(m.value == "48" for m in at.metric)  # 16 combinations × 3 seeds


def test_a_finished_sweep_shows_table_conclusions_charts_and_train_link():
    spec = sweep.SweepSpec(
        base=sweep.default_base(limit_train=256, limit_test=200),
        space={"batch_size": (32, 128), "activation": ("relu", "tanh")},
    )
    name = sweep.create(spec, "apptest")
    assert sweep.work(name, echo=lambda s: None) == 4
    at = page({"sweep": name})
    text = " ".join(m.value for m in at.markdown)
    assert "Conclusions" in text and "Best:" in text and "points" in text
    assert len(at.dataframe) == 1 and len(at.dataframe[0].value) == 4
    assert at.get("plotly_chart") and len(at.get("plotly_chart")) == 4
    assert any("Sweep complete" in s.value for s in at.success)
    assert f"`{name}-best`" not in " ".join(c.value for c in at.caption)  # not sweep-…
    assert "sweep-apptest-best" in " ".join(c.value for c in at.caption)
    assert "2 vs 2 trials" in text  # how many trials stand behind a claim
    url = at.get("link_button")[0].proto.url
    best = sweep.read_report(name).best
    assert url.startswith("train?preset=fast")
    query = dict(parse_qsl(url.split("?", 1)[1]))
    fast = PRESETS["fast"]
    assert query.get("activation", fast.model.activation) == best.params["activation"]
    assert int(query.get("batch_size", fast.batch_size)) == best.params["batch_size"]


def _train_page_config(url: str):
    """What the Train page builds from a link: the query read back as the page reads its own."""
    assert url.startswith("train?")
    values, bad = forms.values_from_query(dict(parse_qsl(url.split("?", 1)[1])))
    assert bad == [], f"the Train page would ignore {bad}"
    return forms.config_of(values)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_sweep_value_survives_the_link_to_the_train_page(preset):
    """best trial → "Train it on all the data" link → the Train page's config: identical
    architecture and hyperparameters, on all the data, for every value a sweep can try."""
    base = sweep.default_base(preset)
    family = base.model.family
    for dim in sweep.applicable(family):
        for value in sweep.DIMENSIONS[dim].choices:
            try:
                cfg = sweep.apply(base, {dim: value})
            except ConfigError:
                continue  # a combination a sweep skips
            got = _train_page_config(train_link(cfg, preset, keep_epochs=dim == "epochs"))
            want = replace(
                cfg,
                limit_train=0,  # all the data
                limit_test=0,
                threads=0,
                log_every=got.log_every,  # the page draws ~20 loss lines per epoch
                epochs=cfg.epochs if dim == "epochs" else PRESETS[preset].epochs,
            )
            assert got == want, f"{preset}: {dim}={value}"
