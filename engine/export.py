"""Export a trained model to ONNX (for use outside PyTorch: onnxruntime, the browser, ...)."""

from __future__ import annotations

import io
import warnings

import torch

from engine import EngineError
from engine.config import IMAGE_SIZE
from engine.models import Model


def onnx_bytes(model: Model) -> bytes:
    """The model as an ONNX file: input "image" (B, 1, 28, 28) normalised, output "scores"."""
    buf = io.BytesIO()
    model = model.eval().cpu()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the legacy exporter announces its deprecation
            # dynamo=False: the TorchScript exporter needs only the `onnx` package, not onnxscript.
            torch.onnx.export(
                model,
                (torch.zeros(1, 1, IMAGE_SIZE, IMAGE_SIZE),),
                buf,
                dynamo=False,
                input_names=["image"],
                output_names=["scores"],
                dynamic_axes={"image": {0: "batch"}, "scores": {0: "batch"}},
            )
    except Exception as e:  # noqa: BLE001 - exporter failures come in many types
        raise EngineError(f"ONNX export failed: {type(e).__name__}: {str(e)[:200]}") from None
    return buf.getvalue()
