"""engine.nn.export: a trained model as a valid ONNX file (current dynamo exporter) with a batch
dimension, its model card, and onnxruntime giving the same class scores as torch."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import replace

import numpy as np
import onnx
import pytest
import torch

from engine.config import DEFAULT_RUN_ID, TrainConfig
from engine.data.datasets import CLASSES, normalize
from engine.nn.export import bundle, model_card, onnx_bytes, readme
from engine.nn.models import build_model
from engine.presets import CLASSIC_CNN, FAST_CNN, SEED_MLP


@pytest.mark.parametrize("cfg", [CLASSIC_CNN, FAST_CNN, SEED_MLP], ids=["classic", "fast", "mlp"])
def test_onnx_export_is_a_valid_model(cfg):
    model = onnx.load_from_string(onnx_bytes(build_model(cfg)))
    onnx.checker.check_model(model)
    [inp], [out] = model.graph.input, model.graph.output
    assert (inp.name, out.name) == ("image", "scores")
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert dims == ["batch", 1, 28, 28]


def test_the_current_exporter_is_used(monkeypatch):
    """dynamo=True: the TorchScript exporter is deprecated."""
    calls = []
    real = torch.onnx.export

    def spy(*args, **kwargs):
        calls.append(kwargs.get("dynamo"))
        return real(*args, **kwargs)

    monkeypatch.setattr(torch.onnx, "export", spy)
    onnx_bytes(build_model(SEED_MLP))
    assert calls == [True]


@pytest.mark.parametrize(
    "cfg",
    [
        TrainConfig(dataset="mnist", model=CLASSIC_CNN),
        TrainConfig(dataset="fashion-mnist", model=SEED_MLP, standardize=False),
    ],
    ids=["mnist-logprobs", "fashion-logits-unstandardised"],
)
def test_model_card_in_metadata_and_readme(cfg):
    proto = onnx.load_from_string(onnx_bytes(build_model(cfg.model), cfg, "my-run"))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["run_id"] == "my-run" and meta["dataset"] == cfg.dataset
    assert meta["input"] == "image: float32 (batch, 1, 28, 28)"
    assert json.loads(meta["class_names"]) == list(CLASSES[cfg.dataset])
    assert "white (255) ink on a black (0) background" in meta["ink_polarity"]
    if cfg.standardize:
        assert (meta["normalisation_mean"], meta["normalisation_std"]) != ("none", "none")
        assert meta["normalisation_mean"] in meta["normalisation"]
    else:
        assert meta["normalisation_mean"] == meta["normalisation_std"] == "none"
    kind = "log_probabilities" if cfg.model.log_softmax else "logits"
    assert meta["output_kind"] == kind
    assert meta == model_card(cfg, "my-run")
    text = readme(cfg, "my-run", "my-run.onnx")
    for part in ("Input", "Normalisation", "Ink polarity", "Outputs", "Classes"):
        assert f"**{part}**" in text
    assert ("log-probabilities" if cfg.model.log_softmax else "logits") in text
    assert CLASSES[cfg.dataset][-1] in text and "onnxruntime" in text
    assert "weights_only=True" in readme(cfg, "my-run", "checkpoint.pt")


def test_bundle_holds_the_model_and_its_readme():
    z = zipfile.ZipFile(io.BytesIO(bundle({"m.onnx": b"abc", "README.md": b"# hi"})))
    assert sorted(z.namelist()) == ["README.md", "m.onnx"]
    assert z.read("m.onnx") == b"abc"


def test_onnxruntime_scores_equal_torch(digit_runs_factory, mnist, fashion):
    """The class scores of 10 test images: onnxruntime and torch agree within 1e-4."""
    ort = pytest.importorskip(
        "onnxruntime", reason="onnxruntime is not installed (pip install -r requirements-dev.txt)"
    )
    from engine.runs.store import load_model

    model, cfg = load_model(digit_runs_factory() / DEFAULT_RUN_ID)
    trained = (model, cfg, mnist.x_test[:10])
    torch.manual_seed(0)  # and an untrained MLP with logits on FashionMNIST, unstandardised
    mlp_cfg = replace(TrainConfig(dataset="fashion-mnist", model=SEED_MLP), standardize=False)
    untrained = (build_model(SEED_MLP).eval(), mlp_cfg, fashion.x_test[:10])
    for m, c, images in (trained, untrained):
        x = normalize(images, c)
        with torch.inference_mode():
            expected = m(x).float().numpy()
        session = ort.InferenceSession(onnx_bytes(m, c), providers=["CPUExecutionProvider"])
        [got] = session.run(["scores"], {"image": x.numpy()})
        assert got.shape == expected.shape == (10, 10)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)
        assert (got.argmax(1) == expected.argmax(1)).all()


def test_export_leaves_the_shared_model_alone():
    """The app caches one model per run for every visitor (Inspect, Greek, "try it", the
    webcam). The exporter swaps a module's parameters while it traces, so exporting that very
    object broke classifications running beside it (AssertionError "Unexpected key
    _export_root…"). The export must work on its own copy: reads during 2 exports all succeed,
    give the same scores, and the model's parameters are the same objects afterwards."""
    import threading

    torch.manual_seed(0)
    model = build_model(FAST_CNN).eval()
    x = torch.rand(64, 1, 28, 28)
    with torch.no_grad():
        want = model(x)
    params = {k: id(v) for k, v in model.named_parameters()}
    errors, reads, done = [], [0], threading.Event()

    def classify():
        while not done.is_set():
            try:
                with torch.no_grad():
                    got = model(x)
                assert torch.allclose(got, want, atol=1e-5)
                reads[0] += 1
            except Exception as e:  # noqa: BLE001 - any failure of a read is the bug
                errors.append(f"{type(e).__name__}: {e}"[:200])

    reader = threading.Thread(target=classify)
    reader.start()
    try:
        for _ in range(2):
            onnx_bytes(model)
    finally:
        done.set()
        reader.join()
    assert not errors, errors[:3]
    assert reads[0] > 0
    assert {k: id(v) for k, v in model.named_parameters()} == params
    assert not model.training
