"""engine.nn.live on synthetic frames: real MNIST test digits drawn onto noisy, unevenly lit
paper."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.config import DEFAULT_RUN_ID
from engine.fewshot import live as fewshot_live
from engine.nn import live, live_bench
from engine.runs.store import Run, load_model


@pytest.fixture(scope="module")
def digit_run(digit_runs_factory) -> Run:
    """The default digit network, trained once per test session on the real MNIST data."""
    return Run(digit_runs_factory() / DEFAULT_RUN_ID)


@pytest.fixture(scope="module")
def recognizer(digit_run):
    model, cfg = load_model(digit_run.path)
    return live.LiveRecognizer(live.net_classifier(model, cfg))


@pytest.fixture(scope="module")
def test_digits(mnist):
    return mnist.x_test.numpy(), [str(v) for v in mnist.y_test.tolist()]


def _covered(inner, outer) -> float:
    """The share of box ``inner`` that lies inside box ``outer``."""
    x, y, w, h = inner
    X, Y, W, H = outer
    dx = max(0, min(x + w, X + W) - max(x, X))
    dy = max(0, min(y + h, Y + H) - max(y, Y))
    return dx * dy / (w * h)


def test_finds_and_labels_digits_on_paper(recognizer, test_digits):
    frames = live_bench.bench_frames(*test_digits, n=20, per_frame=6, seed=1)
    right, total, extra = 0, 0, 0
    for frame, truth in frames:
        out, dets = recognizer.process(frame)
        assert out.shape == frame.shape and out.dtype == np.uint8
        assert not np.shares_memory(out, frame)  # the input frame is not drawn on
        r, e = live_bench.match(dets, truth)
        right, total, extra = right + r, total + len(truth), extra + e
        for t in truth:  # every digit lies (almost all) inside exactly one box
            assert sum(_covered(t.box, d.box) > 0.8 for d in dets) == 1, (t, [d.box for d in dets])
        for d in dets:
            assert d.image.shape == (28, 28) and d.image.dtype == np.uint8
            assert 0 <= d.confidence <= 1 and d.text.startswith(d.label)
    assert extra <= 2  # rarely, a digit written in two pieces gives two boxes
    assert right / total >= 0.85, f"{right}/{total} right"  # the network alone gets ~94%


def test_detections_come_in_reading_order(recognizer, test_digits):
    (frame, truth), = live_bench.bench_frames(*test_digits, n=1, per_frame=4, seed=3)  # fmt: skip
    _, dets = recognizer.process(frame)
    rows = [(d.box[1] // d.box[3], d.box[0]) for d in dets]
    assert rows == sorted(rows)


def test_empty_paper_gives_no_detections(recognizer, test_digits):
    x, _ = test_digits
    rng = np.random.default_rng(0)
    for _ in range(5):
        frame, truth = live_bench.synthetic_frame(x[:0], [], rng)  # paper, noise and lighting only
        assert truth == [] and recognizer.process(frame)[1] == []
    assert recognizer.process(np.zeros((480, 640, 3), np.uint8))[1] == []


def test_guide_box_mode_classifies_what_is_in_the_box(digit_run, test_digits):
    x, labels = test_digits
    model, cfg = load_model(digit_run.path)
    rec = live.LiveRecognizer(live.net_classifier(model, cfg), live.LiveSettings(mode="guide"))
    right = 0
    for i in range(10):
        img = np.zeros((480, 640), np.float32)
        digit = live.cv2.resize(x[i], (160, 160), interpolation=live.cv2.INTER_LINEAR)
        img[160:320, 240:400] = digit / 255
        frame = np.repeat((215 - 170 * img)[..., None], 3, axis=2).astype(np.uint8)
        _, dets = rec.process(frame)
        assert len(dets) == 1
        assert dets[0].box == (200, 120, 240, 240)  # the guide box: half the shorter side
        right += dets[0].label == labels[i]
    assert right >= 8
    blank = np.full((480, 640, 3), 200, np.uint8)
    assert rec.process(blank)[1] == []
    # A digit outside the guide box is not looked at.
    frame = np.full((480, 640, 3), 210, np.uint8)
    frame[10:90, 10:90] = 30
    assert rec.process(frame)[1] == []


def test_min_confidence_hides_unsure_detections(digit_run, test_digits):
    model, cfg = load_model(digit_run.path)
    (frame, _), = live_bench.bench_frames(*test_digits, n=1, seed=5)  # fmt: skip
    strict = live.LiveRecognizer(
        live.net_classifier(model, cfg), live.LiveSettings(min_confidence=1.01)
    )
    assert strict.process(frame)[1] == []


def test_greek_letters_with_a_few_shot_classifier(digit_run):
    from engine.fewshot.samples import synthetic_greek

    model, cfg = load_model(digit_run.path)
    letters = ["alpha", "beta", "gamma"]
    support = synthetic_greek(letters, per_class=8, seed=0)
    query = synthetic_greek(letters, per_class=4, seed=1)
    rng = np.random.default_rng(0)
    for method in ("centroid", "nn", "finetune"):
        clf = fewshot_live.classifier(model, cfg, support.images, support.labels, method)
        rec = live.LiveRecognizer(clf)
        right = total = 0
        for k in range(0, len(query), 4):
            imgs, labs = query.images[k : k + 4], query.labels[k : k + 4]
            frame, truth = live_bench.synthetic_frame(imgs, labs, rng)
            _, dets = rec.process(frame)
            right += live_bench.match(dets, truth)[0]
            total += len(truth)
            assert all(d.label in letters and 0 <= d.confidence <= 1 for d in dets)
            for d in dets:  # every letter's confidence, best first (the live panel's bars)
                names, values = zip(*d.scores, strict=True)
                assert sorted(names) == letters and list(values) == sorted(values, reverse=True)
                assert abs(sum(values) - 1) < 1e-3
                assert method == "nn" or names[0] == d.label
        assert right / total >= 0.6, (method, right, total)  # chance is 1/3


def test_each_detection_carries_every_class_confidence(recognizer, test_digits):
    (frame, _), = live_bench.bench_frames(*test_digits, n=1, seed=4)  # fmt: skip
    _, dets = recognizer.process(frame)
    assert dets
    for d in dets:
        names = [c for c, _ in d.scores]
        assert sorted(names) == list("0123456789") and names[0] == d.label
        assert d.scores[0][1] == pytest.approx(d.confidence)


def test_bad_input_and_settings_are_refused(recognizer, digit_run):
    with pytest.raises(live.LiveError, match="BGR frame"):
        recognizer.process(np.zeros((480, 640), np.uint8))
    with pytest.raises(live.LiveError, match="mode"):
        live.LiveRecognizer(recognizer.classifier, live.LiveSettings(mode="magic"))
    model, cfg = load_model(digit_run.path)
    with pytest.raises(live.LiveError, match="two classes"):
        fewshot_live.classifier(model, cfg, np.zeros((2, 28, 28), np.uint8), ["a", "a"])


def test_fps_counter_and_timing(recognizer, test_digits):
    frames = live_bench.bench_frames(*test_digits, n=3, seed=7)
    for frame, _ in frames:
        recognizer.process(frame)
    assert recognizer.fps > 0 and recognizer.ms > 0


def test_cli_live_bench_prints_json(digit_run, capsys):
    from engine.__main__ import main

    assert main(["live", "bench", "--run-dir", str(digit_run.path), "--frames", "8"]) == 0
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["frames"] == 8 and last["median_ms"] > 0 and last["accuracy"] >= 0.8
