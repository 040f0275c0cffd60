"""The Train page's settings as data: values ⇄ TrainConfig ⇄ URL query, fixes, differences."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.config import ConfigError
from engine.presets import PRESETS, preset
from ui.train import forms, layer_editor


def round_trip(values: dict) -> tuple[dict, list[str]]:
    """What a page opened on the link of ``values`` starts with."""
    return forms.values_from_query(forms.query_of(values))


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_survives_its_link(name):
    values = forms.values_of(PRESETS[name], name)
    assert forms.query_of(values) == {"preset": name}  # a preset's link names only the preset
    assert round_trip(values) == (values, [])
    # ... and the form builds exactly the preset's network (the seed's Keras net keeps its
    # 32 → 32 filters and its single pooling, which the doubling rule alone would not give).
    assert forms.config_of(values).model == PRESETS[name].model


@st.composite
def layer_texts(draw, n: int) -> str:
    """OFF (the simple sliders) or the per-layer editor's text for ``n`` conv layers."""
    if draw(st.booleans()):
        return layer_editor.OFF
    rows = [
        f"{draw(st.integers(1, 4096))}x{draw(st.integers(1, 9))}{draw(st.sampled_from(['', 'p']))}"
        for _ in range(n)
    ]
    return ",".join(rows)


FIELDS = st.fixed_dictionaries(
    {
        "preset": st.sampled_from(list(PRESETS)),
        "dataset": st.sampled_from(["mnist", "fashion-mnist"]),
        "family": st.sampled_from(["cnn", "mlp"]),
        "conv_layers": st.integers(1, 3),
        "filters": st.sampled_from(forms.FILTERS),
        "kernel": st.integers(1, 9),
        "padding": st.sampled_from(["valid", "same"]),
        "pool": st.sampled_from(["max", "avg", "none"]),
        "batchnorm": st.booleans(),
        "activation": st.sampled_from(["relu", "gelu", "tanh"]),
        "dropout": st.sampled_from([0.0, 0.05, 0.25, 0.5, 0.8]),
        "hidden_layers": st.integers(1, 3),
        "hidden": st.sampled_from(forms.WIDTHS),
        "optimizer": st.sampled_from(["sgd", "adam", "adamw"]),
        "lr": st.one_of(st.sampled_from(forms.LRS), st.floats(1e-6, 10.0)),
        "momentum": st.sampled_from([0.0, 0.5, 0.9, 0.99]),
        "weight_decay": st.sampled_from(forms.DECAYS),
        "schedule": st.sampled_from(["constant", "onecycle"]),
        "batch_size": st.sampled_from(forms.BATCHES),
        "epochs": st.integers(1, 30),
        "seed": st.integers(0, 2**31 - 1),
        "limit_train": st.sampled_from(forms.LIMITS),
        "device": st.sampled_from(["any", "cpu", "gpu"]),
    }
)
VALUES = FIELDS.flatmap(
    lambda v: layer_texts(v["conv_layers"]).map(lambda text: {**v, "layers": text})
)


@settings(max_examples=200, deadline=None)
@given(VALUES)
def test_form_values_survive_the_url(values):
    again, bad = round_trip(values)
    assert bad == []
    assert again == values
    assert _config_or_error(again) == _config_or_error(values)


def _config_or_error(values):
    """The config the values describe, or why they describe none (the same reason both times)."""
    try:
        return forms.config_of(values)
    except ConfigError as e:
        return str(e)


def test_a_learning_rate_the_slider_does_not_list_is_kept():
    # A sweep's best trial at 3e-4, or any rate typed into a link: kept, not dropped.
    for lr in (3e-4, 0.03, 0.00123):
        values = {**forms.values_of(PRESETS["fast"], "fast"), "lr": lr}
        assert forms.query_of(values)["lr"] == str(lr)
        assert round_trip(values)[0]["lr"] == lr
    values, bad = forms.values_from_query({"lr": "nan"})
    assert bad == ["lr=nan"] and values["lr"] == PRESETS["fast"].lr


def test_bad_link_values_are_reported_and_the_rest_kept():
    values, bad = forms.values_from_query({"preset": "nope", "epochs": "2", "kernel": "12"})
    assert bad == ["preset=nope", "kernel=12"]
    assert values["preset"] == "fast" and values["epochs"] == 2


def test_edited_says_when_a_setting_left_its_preset():
    values = forms.values_of(PRESETS["fast"], "fast")
    assert not forms.edited(values)
    assert forms.edited({**values, "epochs": values["epochs"] + 1})


def test_each_layer_or_the_doubling_rule():
    values = forms.values_of(PRESETS["seed-greek-cnn"], "seed-greek-cnn")
    assert values["layers"] == "32x3,32x3p"  # a shape the simple sliders cannot say
    keras = forms.config_of(values).model
    assert (keras.channels, keras.kernel_sizes, keras.pool_after) == ((32, 32), (3, 3), (2,))
    assert layer_editor.describe(keras) == "32 → 32 filters · 3×3 · pooling after conv 2"
    simple = forms.config_of({**values, "layers": "off", "conv_layers": 3}).model
    assert simple.channels == (32, 64, 128) and simple.pool_after == ()  # filters double
    assert forms.values_of(PRESETS["fast"], "fast")["layers"] == "off"
    unpooled = forms.config_of({**values, "layers": "8x5,16x5"}).model
    assert unpooled.pool == "none"  # no "p" anywhere: no pooling, not "after each"


@pytest.mark.parametrize(
    "change, fix",
    [
        ({"kernel": 9, "conv_layers": 3, "padding": "valid"}, "use 'same' padding"),
        ({"kernel": 8, "conv_layers": 3, "padding": "valid"}, "use 'same' padding"),
    ],
)
def test_untrainable_settings_get_a_one_click_fix(change, fix):
    values = {**forms.values_of(PRESETS["fast"], "fast"), **change}
    with pytest.raises(Exception, match="does not fit|too small"):
        forms.config_of(values).validate()
    what, new = forms.suggest_fix(values)
    assert what == fix
    forms.config_of(new).validate()  # the fix trains
    assert new["kernel"] % 2 == 1 or new["padding"] == "valid"


def test_a_fix_in_the_per_layer_editor_drops_layers():
    values = {**forms.values_of(PRESETS["fast"], "fast"), "padding": "valid"}
    values |= {"layers": "8x8p,8x8p,8x8p", "conv_layers": 3}  # even kernels: no 'same' padding
    what, new = forms.suggest_fix(values)
    assert what == "use 2 conv layers" and new["layers"] == "8x8p,8x8p"
    forms.config_of(new).validate()


def test_trainable_settings_need_no_fix_to_be_found():
    values = forms.values_of(PRESETS["fast"], "fast")
    forms.config_of(values).validate()
    assert forms.suggest_fix({**values, "conv_layers": 1}) is not None  # any valid neighbour


def test_a_run_lists_where_its_settings_differ(tmp_path, monkeypatch):
    from engine.runs.store import create_run

    monkeypatch.setenv("ENGINE_RUNS_DIR", str(tmp_path))
    values = forms.values_of(PRESETS["fast"], "fast")
    run = create_run(replace(preset("fast"), lr=0.01, epochs=5), tmp_path, "older")
    assert forms.run_differences(run.id, values) == ["lr 0.01", "epochs 5"]
    assert forms.run_differences("missing", values) == []
