"""engine.export: a trained model as a valid ONNX file with a batch dimension."""

from __future__ import annotations

import onnx
import pytest

from engine.config import CLASSIC_CNN, FAST_CNN, SEED_MLP
from engine.export import onnx_bytes
from engine.models import build_model


@pytest.mark.parametrize("cfg", [CLASSIC_CNN, FAST_CNN, SEED_MLP], ids=["classic", "fast", "mlp"])
def test_onnx_export_is_a_valid_model(cfg):
    model = onnx.load_from_string(onnx_bytes(build_model(cfg)))
    onnx.checker.check_model(model)
    [inp], [out] = model.graph.input, model.graph.output
    assert (inp.name, out.name) == ("image", "scores")
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert dims == ["batch", 1, 28, 28]
