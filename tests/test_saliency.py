"""Saliency on networks whose answer is known, and on a model shared between threads.

Grad-CAM must show where the evidence is (a synthetic network whose evidence for one class
sits in one quadrant of the image), explain the class logit rather than a saturated
probability, and never touch the model it explains: the dashboard shares one cached model
between every session and the webcam's thread.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
import pytest
import torch
from inspect_runs import CNN_RUN, trained_runs
from torch import nn

from engine.config import ModelConfig
from engine.data.datasets import normalize
from engine.nn import saliency as sal
from engine.nn.models import Model, build_model
from engine.nn.predict import as_input, predict
from engine.presets import CLASSIC_CNN, FAST_CNN
from engine.runs.store import load_model


def quadrants(m: np.ndarray) -> dict[str, float]:
    """Share of the map's total in each quadrant."""
    total = float(m.sum()) or 1.0
    return {
        "top-left": float(m[:14, :14].sum()) / total,
        "top-right": float(m[:14, 14:].sum()) / total,
        "bottom-left": float(m[14:, :14].sum()) / total,
        "bottom-right": float(m[14:, 14:].sum()) / total,
    }


def signs_net() -> Model:
    """Class 0 = "there is bright ink", class 1 = "there is dark ink" (below the background).

    conv1 (1×1) has a channel that passes positive pixels and one that passes negative ones;
    each class's logit is the mean of its channel's rectified, pooled map. Shaped like the
    engine's models (conv, pool, act, flatten, out) and in eval mode, like a cached model.
    """
    conv = nn.Conv2d(1, 2, 1, bias=False)
    out = nn.Linear(2 * 14 * 14, 2)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, -1.0]).view(2, 1, 1, 1))
        out.weight.zero_()
        out.bias.zero_()
        out.weight[0, : 14 * 14] = 1.0 / (14 * 14)
        out.weight[1, 14 * 14 :] = 1.0 / (14 * 14)
    layers = OrderedDict(
        conv1=conv, pool1=nn.MaxPool2d(2), act1=nn.ReLU(), flatten=nn.Flatten(), out=out
    )
    cfg = ModelConfig(channels=(2,), kernel_sizes=(1,), padding="same", log_softmax=False)
    return Model(layers, cfg).eval()


def signs_image() -> np.ndarray:
    """Bright strokes in the top-left quadrant, dark strokes in the bottom-right."""
    img = np.zeros((28, 28), dtype=np.float32)
    for r in (3, 6, 9, 12):
        img[r, 2:12] = 1.0
    for c in (16, 19, 22, 25):
        img[16:26, c] = -1.0
    return img


@pytest.mark.parametrize(("target", "where"), [(0, "top-left"), (1, "bottom-right")])
def test_grad_cam_finds_the_quadrant_that_holds_the_evidence(target, where):
    model, x = signs_net(), signs_image()
    s = sal.saliency(model, x, target)
    assert s.cam_layer == "act1" and s.cam_shape == (14, 14)  # after activation, before flatten
    assert s.cam.shape == (28, 28) and s.cam.max() == pytest.approx(1.0) and s.cam.min() >= 0
    share = quadrants(s.cam)
    assert share[where] > 0.95, share
    grad = quadrants(s.gradient)
    assert grad[where] == pytest.approx(1.0), grad  # the input gradient agrees
    # A head that pools each map evenly: the original Grad-CAM gives the same map.
    channel = sal.grad_cam(model, x, target, weighting="channel")
    np.testing.assert_allclose(channel, s.cam, atol=1e-5)
    # Interpolated, not blocky: the 0/1 map of strokes gets in-between values at its edges.
    assert ((s.cam > 0.01) & (s.cam < 0.99)).any()


def test_grad_cam_of_a_class_with_no_evidence_is_empty_not_noise():
    model = signs_net()
    only_bright = signs_image()
    only_bright[14:] = 0
    cam = sal.grad_cam(model, only_bright, target=1)
    assert cam.shape == (28, 28) and cam.max() == 0  # nothing dark: nothing shown, no NaN


def test_saliency_explains_the_logit_not_a_saturated_probability():
    """With log-softmax outputs, the probability of a confident class is flat (its gradient
    vanishes); the logit's is not. The classic net ends in log-softmax."""
    model = signs_net()
    layers = OrderedDict(model.named_children())
    layers["log_softmax"] = nn.LogSoftmax(dim=1)
    with torch.no_grad():
        layers["out"].weight.mul_(200.0)  # a very confident network
    confident = Model(layers, ModelConfig(channels=(2,), kernel_sizes=(3,), padding="same")).eval()
    x = signs_image()
    x[14:] = 0
    assert predict(confident, as_input(confident, x))[0, 0] > 0.999999
    s = sal.saliency(confident, x)
    assert s.target == 0 and s.cam.max() == pytest.approx(1.0)
    assert quadrants(s.cam)["top-left"] > 0.9 and s.gradient.max() > 1.0


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    return load_model(trained_runs(tmp_path_factory) / CNN_RUN)[0]  # eval mode, as cached


def test_the_layer_is_the_deepest_block_output_that_can_still_localise():
    assert sal.grad_cam_layer(build_model(CLASSIC_CNN)) == "act1"  # 12×12; act2 is 4×4
    assert sal.grad_cam_layer(build_model(FAST_CNN)) == "act2"  # 7×7
    assert sal.block_outputs(build_model(CLASSIC_CNN)) == [("act1", 12), ("act2", 4)]


def test_grad_cam_of_a_trained_digit_network_lies_on_the_digit(shared, mnist):
    """The "entirely black on confident answers" report: every map has content, on the digit,
    not at the empty border."""
    on_ink, in_box = 0, []
    for i in range(20):
        img = mnist.x_test[i].numpy()
        s = sal.saliency(shared, normalize(img, "mnist"))
        assert s.cam.max() == pytest.approx(1.0), i  # never all black
        ink = img > 0
        on_ink += s.cam[ink].mean() > s.cam[~ink].mean()
        ys, xs = np.nonzero(ink)
        in_box.append(s.cam[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].sum() / s.cam.sum())
    assert on_ink >= 18, on_ink
    assert np.mean(in_box) > 0.6, in_box


def test_saliency_in_one_thread_while_others_run_inference_on_the_same_model(shared, mnist):
    images = [normalize(mnist.x_test[i].numpy(), "mnist") for i in range(8)]
    with torch.inference_mode():
        expected_out = [shared(x) for x in images]
    expected_cam = [sal.grad_cam(shared, x) for x in images]
    expected_grad = [sal.gradient_saliency(shared, x) for x in images]
    errors: list[str] = []
    stop = threading.Event()

    def infer(worker: int) -> None:
        n = 0
        while not stop.is_set() or n < 20:
            i = (worker + n) % len(images)
            with torch.inference_mode():
                out = shared(images[i])
            if not torch.allclose(out, expected_out[i], atol=1e-5):
                errors.append(f"inference {worker}: image {i} changed")
            n += 1

    def explain() -> None:
        try:
            for _ in range(5):
                for i, x in enumerate(images):
                    cam = sal.grad_cam(shared, x)
                    grad = sal.gradient_saliency(shared, x)
                    if not np.allclose(cam, expected_cam[i], atol=1e-5):
                        errors.append(f"Grad-CAM of image {i} changed")
                    if not np.allclose(grad, expected_grad[i], atol=1e-5):
                        errors.append(f"input gradient of image {i} changed")
        finally:
            stop.set()

    threads = [threading.Thread(target=infer, args=(w,)) for w in range(3)]
    threads.append(threading.Thread(target=explain))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert not shared.training and all(p.grad is None for p in shared.parameters())
    assert not any(m._forward_hooks for m in shared.modules())  # nothing left attached
