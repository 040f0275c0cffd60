import json

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from inspect_runs import CNN_RUN, MLP_RUN, trained_runs

from engine.__main__ import main
from engine.config import ModelConfig
from engine.data.datasets import normalize
from engine.nn import inspect as ins
from engine.nn import saliency as sal
from engine.nn.models import build_model, count_params, truncate
from engine.nn.predict import predict
from engine.presets import CLASSIC_CNN, FAST_CNN, SEED_MLP
from engine.runs.store import load_model

DEEP = ModelConfig(channels=(8, 16, 32), kernel_sizes=(3, 3, 3), padding="same", pool="avg")


@pytest.fixture(scope="session")
def runs_root(tmp_path_factory):
    return trained_runs(tmp_path_factory)


@pytest.fixture(scope="session")
def cnn(runs_root):
    return load_model(runs_root / CNN_RUN)[0]


@pytest.fixture(scope="session")
def mlp(runs_root):
    return load_model(runs_root / MLP_RUN)[0]


@pytest.fixture(scope="session")
def digit(mnist):
    return mnist.x_test[0].numpy()  # (28, 28) uint8


def test_layer_table_of_the_classic_cnn_matches_the_pytorch_example():
    t = ins.layer_table(build_model(CLASSIC_CNN), "classic")
    shapes = {r.name: r.output_shape for r in t.rows}
    assert shapes["input"] == (None, 1, 28, 28)
    assert shapes["conv1"] == (None, 10, 24, 24) and shapes["pool1"] == (None, 10, 12, 12)
    assert shapes["conv2"] == (None, 20, 8, 8) and shapes["act2"] == (None, 20, 4, 4)
    assert shapes["flatten"] == (None, 320) and shapes["out"] == (None, 10)
    params = {r.name: r.params for r in t.rows}
    trained = {"conv1": 260, "conv2": 5020, "fc1": 16050, "out": 510}
    assert params == {**dict.fromkeys(params, 0), **trained}
    assert (t.total, t.trainable, t.non_trainable) == (21_840, 21_840, 0)


@pytest.mark.parametrize("cfg", [DEEP, FAST_CNN, SEED_MLP], ids=["deep-cnn", "bn-cnn", "mlp"])
def test_layer_table_shapes_follow_a_real_forward_pass(cfg):
    m = build_model(cfg).eval()
    t = ins.layer_table(m)
    x = torch.zeros(1, 1, 28, 28)
    for row in t.rows[1:]:
        x = getattr(m, row.name)(x)
        assert row.output_shape == (None, *x.shape[1:])
    buffers = sum(b.numel() for n, b in m.named_buffers() if "running" in n)
    assert t.trainable == count_params(m) and t.non_trainable == buffers  # BN stats, as Keras
    assert sum(r.params for r in t.rows) == t.total


def test_deep_cnn_shapes():
    shapes = {r.name: r.output_shape for r in ins.layer_table(build_model(DEEP)).rows}
    assert shapes["conv3"] == (None, 32, 7, 7) and shapes["act3"] == (None, 32, 3, 3)


def test_summary_text_looks_like_keras():
    text = ins.layer_table(build_model(CLASSIC_CNN), "default-mnist-cnn").text()
    lines = text.splitlines()
    assert lines[0] == 'Model: "default-mnist-cnn"'
    assert lines[2].split() == ["Layer", "(type)", "Output", "Shape", "Param", "#"]
    assert set(lines[3]) == {"="}
    assert any(line.split()[:4] == ["conv1", "(Conv2d)", "(None,", "10,"] for line in lines)
    assert "Total params: 21,840" in lines and "Trainable params: 21,840" in lines
    assert "Non-trainable params: 0" in lines


def test_filter_image_equals_opencv_filter2d_and_conv2d():
    img = np.random.default_rng(0).normal(size=(28, 28)).astype(np.float32)
    for kernel in (
        np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32),  # Sobel x: not symmetric
        np.arange(25, dtype=np.float32).reshape(5, 5) / 25,
        np.array([[1, 2], [3, 4]], np.float32),  # even size: anchor at k // 2
    ):
        ours = ins.filter_image(img, kernel)
        np.testing.assert_allclose(ours, cv2.filter2D(img, -1, kernel), atol=1e-5)
        k = kernel.shape[0]
        inner = F.conv2d(torch.from_numpy(img)[None, None], torch.from_numpy(kernel)[None, None])
        a = k // 2
        np.testing.assert_allclose(ours[a : a + 29 - k, a : a + 29 - k], inner[0, 0], atol=1e-5)


def test_filter_responses_are_the_first_layer_filters_applied_like_the_seed(cnn, digit):
    resp = ins.filter_responses(cnn, digit, "mnist")
    assert resp.shape == (10, 28, 28)
    x = normalize(digit, "mnist")[0, 0].numpy()
    for r, w in zip(resp, cnn.conv1.weight.detach()[:, 0].numpy(), strict=True):
        np.testing.assert_allclose(r, cv2.filter2D(x, -1, w), atol=1e-5)


def test_filters_of_both_conv_layers(cnn):
    assert ins.first_layer_filters(cnn).shape == (10, 5, 5)
    assert ins.second_layer_filters(cnn).shape == (20, 10, 5, 5)
    assert ins.conv_layers(cnn) == ["conv1", "conv2"]


def test_trained_filters_are_smooth_unlike_random_init(cnn):
    # Neighbouring weights of learned edge/blob detectors agree; initial weights are independent
    # noise (over 300 seeds: mean -0.04, sd 0.05, max 0.08). Training is seeded, so no flakiness.
    trained = ins.spatial_autocorrelation(ins.first_layer_filters(cnn))
    torch.manual_seed(0)
    fresh = ins.spatial_autocorrelation(ins.first_layer_filters(build_model(CLASSIC_CNN)))
    assert trained > 0.2 > 0.1 > fresh
    smooth = np.outer(np.hanning(5), np.hanning(5))[None]
    assert ins.spatial_autocorrelation(smooth) > 0.5


def test_activations_are_the_truncated_submodels_outputs(cnn, digit):
    x = normalize(digit, "mnist")
    acts = ins.activations(cnn, x)
    assert [a.name for a in acts.layers] == cnn.layer_names
    shapes = {a.name: a.value.shape for a in acts.layers}
    assert shapes["conv1"] == (10, 24, 24) and shapes["act2"] == (20, 4, 4)
    assert shapes["fc1_act"] == (50,) and shapes["log_softmax"] == (10,)
    with torch.inference_mode():
        for name in ("act1", "fc1_act", "out"):
            want = truncate(cnn, name)(x)[0].numpy()
            np.testing.assert_allclose(acts.layers[cnn.layer_names.index(name)].value, want)
    probs = acts.probabilities
    assert probs.shape == (10,) and abs(probs.sum() - 1) < 1e-5 and (probs >= 0).all()
    np.testing.assert_allclose(probs, np.exp(acts.layers[-1].value), rtol=1e-5)  # LogSoftmax
    assert acts.predicted == int(probs.argmax())


def test_probabilities_of_a_logit_model_use_softmax(mlp, digit):
    x = normalize(digit, "mnist")
    probs = predict(mlp, x)[0]
    with torch.inference_mode():
        want = mlp(x).softmax(1)[0].numpy()
    np.testing.assert_allclose(probs, want, rtol=1e-5)
    assert ins.activations(mlp, x).layers[-1].name == "out"


def test_saliency_maps(cnn, digit):
    x = normalize(digit, "mnist")
    grad = sal.gradient_saliency(cnn, x)
    cam = sal.grad_cam(cnn, x)
    for m in (grad, cam):
        assert m.shape == (28, 28) and (m >= 0).all() and m.max() > 0
    assert cam.max() == pytest.approx(1.0)
    # Grad-CAM of the digit lies on it more than on the empty border.
    ink = digit > 0
    assert cam[ink].mean() > cam[~ink].mean()
    assert all(p.grad is None for p in cnn.parameters())  # the (shared) model is left untouched


def test_saliency_inside_inference_mode(cnn, digit):
    with torch.inference_mode():
        x = normalize(digit, "mnist")
        assert sal.gradient_saliency(cnn, x).shape == (28, 28)
        assert sal.grad_cam(cnn, x).shape == (28, 28)


def test_mlp_views_say_not_applicable(mlp, digit):
    for view in (ins.first_layer_filters, ins.second_layer_filters):
        with pytest.raises(ins.NotApplicable, match="this model has no conv layers"):
            view(mlp)
    with pytest.raises(ins.NotApplicable, match="no conv layers"):
        ins.filter_responses(mlp, digit, "mnist")
    with pytest.raises(ins.NotApplicable, match="no conv layers"):
        sal.grad_cam(mlp, normalize(digit, "mnist"))
    assert sal.gradient_saliency(mlp, normalize(digit, "mnist")).shape == (28, 28)
    one_conv = build_model(ModelConfig(channels=(4,), kernel_sizes=(5,)))
    with pytest.raises(ins.NotApplicable, match="only 1 conv layer"):
        ins.second_layer_filters(one_conv)


def test_summary_cli_prints_the_table_and_json(runs_root, capsys):
    assert main(["summary", str(runs_root / CNN_RUN)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == f'Model: "{CNN_RUN}"'
    assert "Total params: 21,840" in lines
    out = json.loads(lines[-1])
    assert out["command"] == "summary" and out["total_params"] == 21_840
    assert out["trainable_params"] == 21_840 and out["non_trainable_params"] == 0


def test_summary_cli_reports_a_missing_checkpoint(tmp_path, capsys):
    assert main(["summary", str(tmp_path)]) == 2
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert "no checkpoint" in out["error"]
