"""The glyph classes the default digit model learns beside the digits, and the training-only
outputs that keep it a digit reader."""

from dataclasses import replace

import pytest
import torch

from engine import glyph_sets
from engine.config import ConfigError, ModelConfig, TrainConfig
from engine.data import glyphs
from engine.nn.models import build_model
from engine.presets import DEFAULT_MODEL
from engine.training.loop import train


def test_the_glyph_set_is_41_latin_shapes_and_no_greek_letter_or_digit():
    chars = set(glyph_sets.LATIN.values())
    assert len(glyph_sets.LATIN) == 41 and len(chars) == 41
    assert not chars & set("0123456789αβγδεζηθικλμνξοπρστυφχψω")


def test_rendered_glyphs_are_cached_deterministic_and_a_damaged_file_is_made_again(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(glyphs, "PER_CLASS", 2)
    x, y = glyphs.glyph_data("latin-hand", tmp_path)
    assert x.shape == (82, 28, 28) and x.dtype == torch.uint8
    assert sorted(set(y.tolist())) == list(range(41))
    (path,) = tmp_path.glob("glyphs-latin-hand-*.npz")
    again = glyphs.glyph_data("latin-hand", tmp_path)[0]
    assert torch.equal(x, again)
    for damage in (b"not an npz", b""):  # a damaged cache is rendered again, the same
        path.write_bytes(damage)
        assert torch.equal(glyphs.glyph_data("latin-hand", tmp_path)[0], x)


def test_missing_fonts_name_the_debian_packages(tmp_path):
    with pytest.raises(glyphs.GlyphError, match="fonts-bwht"):
        glyphs.hand_fonts(tmp_path)


def test_the_config_needs_one_extra_output_per_glyph_class():
    with pytest.raises(ConfigError, match="aux_classes=41"):
        TrainConfig(glyphs="latin-hand").validate()
    with pytest.raises(ConfigError, match="glyphs must be one of"):
        TrainConfig(glyphs="klingon", model=ModelConfig(aux_classes=41)).validate()
    with pytest.raises(ConfigError, match="aux_classes=0"):
        TrainConfig(model=ModelConfig(aux_classes=3)).validate()
    DEFAULT_MODEL.validate()
    assert DEFAULT_MODEL.glyphs and DEFAULT_MODEL.model.aux_classes == len(glyph_sets.LATIN)
    # runs saved before the fields existed load without them
    old = DEFAULT_MODEL.to_dict()
    del old["glyphs"], old["model"]["aux_classes"]
    back = TrainConfig.from_dict(old)
    assert back.glyphs == "" and back.model.aux_classes == 0


def test_training_only_outputs_score_in_training_and_vanish_outside_it():
    model = build_model(replace(DEFAULT_MODEL.model, aux_classes=41))
    x = torch.randn(3, 1, 28, 28)
    assert model.train()(x).shape == (3, 51)
    out = model.eval()(x)
    assert out.shape == (3, 10)
    assert torch.allclose(out.exp().sum(1), torch.ones(3), atol=1e-5)  # renormalised


def test_a_digit_model_trained_with_glyphs_learns_them_and_still_reads_only_digits(mnist):
    from engine.data.datasets import normalize
    from engine.nn.models import truncate

    cfg = replace(DEFAULT_MODEL, epochs=1, limit_train=1000, threads=1, snapshots=False)
    seen = []
    model = train(cfg, mnist, on_progress=seen.append).model.eval()
    gx, gy = glyphs.glyph_data("latin-hand")
    assert seen[0].total == 1000 + len(gx)  # the glyphs were in the training set
    with torch.no_grad():
        pred = model(normalize(mnist.x_test[:500], cfg)).argmax(1)
        # the letter outputs learned too: their scores (the layer's plain Linear part) pick
        # the right letter far above chance (1 in 41)
        names = model.layer_names
        feats = truncate(model, names[names.index("out") - 1])(normalize(gx[::20], cfg))
        letters = torch.nn.Linear.forward(model.out, feats)[:, 10:].argmax(1)
    assert pred.max() < 10  # every answer is a digit
    assert (pred == mnist.y_test[:500]).float().mean() > 0.5  # chance: 0.1; 1 short epoch
    assert (letters == gy[::20]).float().mean() > 0.3


def test_the_time_estimate_counts_the_glyph_examples():
    from engine.training.estimate import epoch_seconds

    without = replace(DEFAULT_MODEL, glyphs="", model=replace(DEFAULT_MODEL.model, aux_classes=0))
    ratio = epoch_seconds(DEFAULT_MODEL, 8000, 0) / epoch_seconds(without, 8000, 0)
    assert ratio == pytest.approx((8000 + glyph_sets.glyph_count("latin-hand")) / 8000, rel=0.02)


def test_an_epochs_examples_are_counted_once_as_the_loop_builds_them(mnist):
    """The runner's steps, the estimate, the Train page and the quota count with
    ``examples_per_epoch``; it is what the loop trains on, glyph classes included."""
    from engine.training.estimate import examples_per_epoch
    from engine.training.loop import device_tensors

    cfg = replace(DEFAULT_MODEL, limit_train=1000, threads=1)
    x, *_ = device_tensors(cfg, mnist, torch.device("cpu"))
    assert len(x) == examples_per_epoch(cfg, len(mnist.x_train))
    assert len(x) == 1000 + glyph_sets.glyph_count("latin-hand")
