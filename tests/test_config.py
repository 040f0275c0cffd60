import json

import pytest

from engine.config import ConfigError, ModelConfig, TrainConfig
from engine.presets import PRESETS, preset


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_are_valid_and_round_trip_through_json(name):
    cfg = PRESETS[name]
    cfg.validate()
    again = TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg


def test_seed_presets_match_the_seed_document():
    cnn = PRESETS["seed-mnist-cnn"]
    assert (cnn.dataset, cnn.optimizer, cnn.lr, cnn.momentum, cnn.batch_size, cnn.epochs) == (
        "mnist", "sgd", 0.01, 0.5, 64, 5,
    )  # fmt: skip
    mlp = PRESETS["seed-fashion-mlp"]
    assert mlp.model.family == "mlp" and mlp.model.hidden == (512, 512)
    assert (mlp.lr, mlp.batch_size, mlp.epochs) == (1e-3, 64, 10)


@pytest.mark.parametrize(
    "fields, words",
    [
        (dict(channels=(8, 8, 8), kernel_sizes=(5, 5, 5)), ["conv3", "5x5", "4x4"]),
        (dict(channels=(8,), kernel_sizes=(29,)), ["conv1", "29x29", "28x28"]),
        (dict(channels=(8, 8), kernel_sizes=(5,)), ["2 conv layers", "1 kernel"]),
        (dict(activation="swish"), ["activation"]),
        (dict(dropout=1.0), ["dropout"]),
        (dict(padding="same", kernel_sizes=(4, 4)), ["odd"]),
        (dict(pool_after=(3,)), ["pool_after", "1-2"]),
        (dict(pool_after=(1, 1)), ["pool_after", "each once"]),
    ],
)
def test_nonsense_model_configs_name_the_problem(fields, words):
    with pytest.raises(ConfigError) as e:
        ModelConfig(**fields)
    for w in words:
        assert w in str(e.value)


def test_a_config_is_checked_once_when_it_is_made_so_every_one_that_exists_is_valid():
    """Not again by each caller (the loop, the runner, the page...): a bad change is refused
    where it is made, by the constructor, ``replace`` and ``from_dict`` alike."""
    from dataclasses import replace

    cfg = PRESETS["fast"]
    with pytest.raises(ConfigError, match="lr"):
        replace(cfg, lr=0.0)
    with pytest.raises(ConfigError, match="aux_classes"):
        replace(cfg, model=replace(cfg.model, aux_classes=3))
    with pytest.raises(ConfigError, match="epochs"):
        TrainConfig.from_dict({**cfg.to_dict(), "epochs": 0})


@pytest.mark.parametrize(
    "field, value", [("epochs", 0), ("batch_size", 0), ("lr", 0.0), ("lr", -1.0), ("momentum", 1)]
)
def test_nonsense_training_settings_are_refused(field, value):
    with pytest.raises(ConfigError, match=field):
        preset("fast", **{field: value}).validate()


def test_unknown_fields_are_errors_not_ignored():
    with pytest.raises(ConfigError, match="unknown"):
        preset("fast", learning_rate=0.1)
    with pytest.raises(ConfigError, match="unknown"):
        TrainConfig.from_dict({"epochs": 1, "bogus": 2})
    with pytest.raises(ConfigError, match="unknown preset"):
        preset("nope")


def test_augmentations_are_named_and_checked():
    assert preset("fast", augment="affine+elastic").augment == "affine+elastic"
    preset("fast", augment="affine+elastic+stroke").validate()
    with pytest.raises(ConfigError, match="unknown augmentation 'blur'"):
        preset("fast", augment="affine+blur").validate()


def test_the_doubling_rule_is_one_function():
    from engine.config import doubling_channels

    assert doubling_channels(16, 3) == (16, 32, 64)
    assert doubling_channels(10, 1) == (10,)


def test_layers_as_text_for_links_and_the_cli():
    from engine.__main__ import build_parser, config_from_args
    from engine.config import layers_text, parse_layers

    keras = PRESETS["seed-greek-cnn"].model
    assert layers_text(keras) == "32x3,32x3p"
    assert parse_layers("32x3, 32x3p") == ((32, 32), (3, 3), (2,))
    with pytest.raises(ConfigError, match="layer 2: '3x'"):
        parse_layers("8x3,3x")
    cfg = config_from_args(build_parser().parse_args(["train", "--layers", "16x5p,8x3"]))
    assert (cfg.model.channels, cfg.model.kernel_sizes, cfg.model.pool_after) == (
        (16, 8), (5, 3), (1,),
    )  # fmt: skip
    cfg.validate()
