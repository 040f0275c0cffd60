import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from engine.config import DEFAULT_RUN_ID
from engine.data.datasets import normalize
from engine.fewshot import embed
from engine.fewshot.samples import GREEK, font_files, from_folder, synthetic_greek
from engine.nn.models import truncate
from engine.runs.store import load_model, open_run


@pytest.fixture(scope="module")
def digit_run(digit_runs_factory):
    """The default digit network, trained here on the real MNIST data."""
    return open_run(DEFAULT_RUN_ID, digit_runs_factory())


def test_ssd_matches_the_definition():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 7)), rng.normal(size=(5, 7))
    expected = ((a[:, None] - b[None]) ** 2).sum(-1)
    np.testing.assert_allclose(embed.ssd(a, b), expected, rtol=1e-5)


def test_embeddings_are_the_truncated_network_output(digit_run, greek_dir):
    model, cfg = load_model(digit_run.path)
    s = from_folder(greek_dir)
    e = embed.embed(model, s.images, cfg.dataset)
    assert e.shape == (27, 1024)  # the conv features (64 maps of 4x4): the default cut for a CNN
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, rtol=1e-5)  # unit length
    raw = embed.embed(model, s.images, cfg.dataset, "flatten", l2=False)
    x = normalize(s.images, cfg)
    with torch.inference_mode():
        np.testing.assert_allclose(raw, truncate(model, "flatten")(x).numpy(), rtol=1e-5)
    np.testing.assert_allclose(e, raw / np.linalg.norm(raw, axis=1, keepdims=True), rtol=1e-5)
    assert embed.embed(model, s.images, cfg.dataset, "fc1").shape == (27, 50)
    # batching does not change the result
    batched = embed.embed(model, s.images, cfg.dataset, batch=5)
    np.testing.assert_allclose(batched, e, rtol=1e-4, atol=1e-5)


def test_real_greek_letters_leave_one_out(digit_run, greek_dir):
    model, cfg = load_model(digit_run.path)
    s = from_folder(greek_dir)
    e = embed.embed(model, s.images, cfg.dataset)
    acc = {m: embed.accuracy(embed.leave_one_out(m, e, s.labels), s.labels) for m in embed.METHODS}
    print("leave-one-out accuracy on the 27 real letters:", acc)
    assert acc["nn"] >= 0.9, acc
    head = embed.finetune_head(e, s.labels)
    assert embed.accuracy(head.predict(e), s.labels) == 1.0  # 100% on the support set
    assert head.epochs_to_100 is not None and head.losses[-1] < head.losses[0]


def test_synthetic_support_recognises_real_handwriting(digit_run, greek_dir):
    # Not tuned to the 27: the support set is rendered from fonts, the queries are photos.
    model, cfg = load_model(digit_run.path)
    support = synthetic_greek(["alpha", "beta", "gamma"], per_class=12)
    real = from_folder(greek_dir)
    s_e = embed.embed(model, support.images, cfg.dataset)
    q_e = embed.embed(model, real.images, cfg.dataset)
    acc = embed.accuracy(embed.nearest_centroid(s_e, support.labels, q_e), real.labels)
    print("synthetic support → real letters, centroid accuracy:", acc)
    # Chance is 1/3; the old default (fc1, raw vectors, no augmentation) scored ~0.67 here, the
    # measured defaults 1.0 (bench/fewshot_transfer.py: 81-85% with 3-5 samples per class).
    assert acc >= 0.8, acc


def test_seed_style_lines_and_confusion():
    p = embed.Prediction("alpha", 798.58545, "nn", 0)
    assert (
        p.line()
        == "The predicted class for this test example is alpha with the least ssd being 798.58545"
    )
    m = embed.confusion(
        [p, embed.Prediction("beta", 1, "nn")], ["alpha", "alpha"], ["alpha", "beta"]
    )
    assert m.tolist() == [[1, 1], [0, 0]]


def test_too_few_classes_is_a_clear_error():
    e = np.ones((3, 4), np.float32)
    with pytest.raises(embed.FewShotError, match="second class"):
        embed.finetune_head(e, ["a", "a", "a"])
    with pytest.raises(embed.FewShotError, match="empty"):
        embed.nearest_neighbour(e[:0], [], e)


def test_greek_cli_prints_seed_lines_and_json(digit_run, greek_dir):
    p = subprocess.run(
        [sys.executable, "-m", "engine", "greek", str(digit_run.path), "--support", str(greek_dir),
         "--query", str(greek_dir), "--method", "nn"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    assert result["n"] == 27 and result["method"] == "nn" and result["accuracy"] == 1.0
    seed_lines = [x for x in lines if x.startswith("The predicted class for this test example is")]
    assert len(seed_lines) == 27 and "least ssd being 0.0 " in seed_lines[0]


def test_nn_margin_says_how_clearly_the_nearest_class_wins():
    support = np.array([[0.0, 0.0], [0.0, 0.1], [10.0, 0.0]], np.float32)
    labels = ["a", "a", "b"]
    q = np.array([[0.0, 0.05], [5.0, 0.0], [9.0, 0.0]], np.float32)
    m = embed.nn_margin(support, labels, q)
    assert m[0] > 0.99  # right by an "a", far from "b"
    assert abs(m[1]) < 1e-6  # half-way: a tie, "not sure"
    assert 0.9 < m[2] < 1 and (m[1] < embed.NOT_SURE_MARGIN <= m[0])
    assert (embed.nn_margin(support[:2], labels[:2], q) == 1).all()  # one class: nothing to doubt


# --- the fine-tuned head: right as often as it says (issue 4) ------------------------------------
def test_calibration_error_matches_its_definition():
    right = np.array([1] * 9 + [0])
    assert embed.calibration_error(np.full(10, 0.9), right) == pytest.approx(0.0)
    assert embed.calibration_error(np.ones(10), right) == pytest.approx(0.1)
    # two bins: 0.95 said, 1/2 right; 0.55 said, 2/2 right → (2 × 0.45 + 2 × 0.45) / 4
    assert embed.calibration_error([0.95, 0.95, 0.55, 0.55], [1, 0, 1, 1]) == pytest.approx(0.45)


def test_the_head_starts_at_the_class_means_and_its_held_out_heads_train_as_if_alone():
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(3, 64))
    x = np.concatenate([c + 2.0 * rng.normal(size=(5, 64)) for c in centres]).astype(np.float32)
    labels = [c for c in "abc" for _ in range(5)]
    untrained = embed.finetune_head(x, labels, epochs=0, held_out=False)
    z = x / np.linalg.norm(x, axis=1, keepdims=True)
    means = np.stack([z[i : i + 5].mean(0) for i in (0, 5, 10)])
    np.testing.assert_allclose(untrained.weight, means / np.linalg.norm(means, axis=1)[:, None],
                               rtol=1e-5, atol=1e-6)  # fmt: skip
    head = embed.finetune_head(x, labels, epochs=30, lr=0.01)
    for i in (0, 7):  # the batched held-out heads against heads trained one by one
        alone = embed.finetune_head(np.delete(x, i, 0), labels[:i] + labels[i + 1 :], epochs=30,
                                    lr=0.01, held_out=False)  # fmt: skip
        np.testing.assert_allclose(head.held_out_cosines[i], alone.cosines(x[i : i + 1])[0],
                                   rtol=1e-4, atol=1e-5)  # fmt: skip
    said = [np.argmax(head.held_out_cosines[i]) for i in range(15)]
    assert [p.label for p in head.held_out()] == ["abc"[k] for k in said]
    one_each = embed.finetune_head(x[[0, 5, 10]], ["a", "b", "c"])
    assert np.isneginf(one_each.held_out_cosines[[0, 1, 2], [0, 1, 2]]).all()  # its class: gone
    assert [p.label for p in one_each.held_out()] != ["a", "b", "c"]


def test_the_heads_confidence_is_calibrated_on_letters_it_never_saw(digit_run):
    """A proxy for the page: 5 Greek letters (never alpha/beta/gamma), 3 samples each rendered
    in the Sans fonts, 10 queries each in the Serif fonts. The old head (a linear layer on
    standardised embeddings) scored 82% here with an ECE of 0.175."""
    model, cfg = load_model(digit_run.path)
    fonts = font_files()
    serif = [f for f in fonts if "Serif" in f.name or "Math" in f.name]
    sans = [f for f in fonts if f not in serif]
    if not serif or not sans:
        pytest.skip("needs the DejaVu Sans and Serif fonts (fonts-dejavu)")
    others = [k for k in GREEK if k not in ("alpha", "beta", "gamma")]
    conf, right = [], []
    for episode in range(4):
        letters = list(np.random.default_rng(episode).choice(others, 5, replace=False))
        support = synthetic_greek(letters, 3, seed=10 + episode, fonts=sans)
        queries = synthetic_greek(letters, 10, seed=20 + episode, fonts=serif)
        s_e = embed.embed(model, support.images, cfg.dataset)
        q_e = embed.embed(model, queries.images, cfg.dataset)
        preds = embed.finetune_head(s_e, support.labels).predict(q_e)
        conf += [p.score for p in preds]
        right += [p.label == t for p, t in zip(preds, queries.labels)]
    conf, right = np.array(conf), np.array(right)
    ece = embed.calibration_error(conf, right)
    print(f"head on held-out letters: accuracy {right.mean():.2f}, ECE {ece:.3f}")
    assert ece < 0.08, ece
    assert not right.all(), "no wrong answer: the proxy tests nothing"
    assert (conf[~right] < 0.95).mean() > 0.5, np.sort(conf[~right])  # wrong: rarely sure
