"""What a trained network learned: layer table, filters, filter responses, activations, saliency.

Pure functions over an ``engine.nn.models.Model`` (a named ``nn.Sequential``); nothing here trains
or changes the model. Views that need conv layers raise ``NotApplicable`` for an MLP, with a
message a page can show as it is. Saliency (input gradient, Grad-CAM) is in ``engine.nn.saliency``;
``engine.nn.analysis.analyse`` gathers every view the Inspect page shows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine import EngineError
from engine.config import IMAGE_SIZE
from engine.data.datasets import normalize
from engine.nn.models import Model
from engine.nn.predict import as_input, device_of, ensure_eval, output_probabilities

NO_CONV = "not applicable: this model has no conv layers"


class NotApplicable(EngineError):
    """A view that makes no sense for this model (e.g. filters of an MLP); the message says why."""


# --- layer table (Keras-style summary) ----------------------------------------------------------


@dataclass(frozen=True)
class LayerRow:
    name: str  # the layer's name in the Sequential, e.g. "conv1"; "input" for the input row
    kind: str  # the PyTorch class name, e.g. "Conv2d"
    output_shape: tuple[int | None, ...]  # (None, C, H, W) or (None, F): None is the batch size
    params: int  # parameters, plus BatchNorm running statistics (as Keras counts them)

    def shape_text(self) -> str:
        return "(" + ", ".join("None" if d is None else str(d) for d in self.output_shape) + ")"


@dataclass(frozen=True)
class LayerTable:
    title: str
    rows: list[LayerRow]
    trainable: int
    non_trainable: int  # frozen parameters and BatchNorm running mean/var, as in Keras

    @property
    def total(self) -> int:
        return self.trainable + self.non_trainable

    def text(self) -> str:
        """The table as Keras' ``model.summary()`` prints it (shapes are PyTorch's N, C, H, W)."""
        names = [f"{r.name} ({r.kind})" for r in self.rows]
        shapes = [r.shape_text() for r in self.rows]
        w1 = max(29, *(len(n) + 2 for n in names))
        w2 = max(26, *(len(s) + 2 for s in shapes))
        width = w1 + w2 + 10
        lines = [f'Model: "{self.title}"', "_" * width]
        lines.append(f"{' Layer (type)':<{w1}}{'Output Shape':<{w2}}Param #")
        lines.append("=" * width)
        for n, s, r in zip(names, shapes, self.rows, strict=True):
            lines.append(f" {n:<{w1 - 1}}{s:<{w2}}{r.params:,}")
        lines += [
            "=" * width,
            f"Total params: {self.total:,}",
            f"Trainable params: {self.trainable:,}",
            f"Non-trainable params: {self.non_trainable:,}",
            "_" * width,
        ]
        return "\n".join(lines)


def _counts(module: nn.Module) -> tuple[int, int]:
    """(trainable, non-trainable) numbers of one layer's own parameters and running statistics."""
    trainable = sum(p.numel() for p in module.parameters(recurse=False) if p.requires_grad)
    frozen = sum(p.numel() for p in module.parameters(recurse=False) if not p.requires_grad)
    # BatchNorm's running mean/var are learned state that no gradient touches: Keras lists them
    # as non-trainable parameters, so the totals read like the seed's summary.
    frozen += sum(b.numel() for n, b in module.named_buffers(recurse=False) if n.startswith("run"))
    return trainable, frozen


def layer_table(model: Model, title: str = "model", upto: str | None = None) -> LayerTable:
    """One row per layer: name, type, output shape for one 1×28×28 input, parameter count.

    ``upto``: stop after that layer, as the seed's truncated model did (its totals are those of
    the sub-model: the embedding network's size)."""
    names = [n for n, _ in model.named_children()]
    if upto is not None and upto not in names:
        raise NotApplicable(f"no layer named {upto!r}; layers are: {', '.join(names)}")
    rows = [LayerRow("input", "InputLayer", (None, 1, IMAGE_SIZE, IMAGE_SIZE), 0)]
    trainable = non_trainable = 0
    x = torch.zeros(1, 1, IMAGE_SIZE, IMAGE_SIZE, device=device_of(model))
    was_training = model.training
    ensure_eval(model)  # BatchNorm must not update its statistics with our zeros
    try:
        with torch.no_grad():
            for name, layer in model.named_children():
                x = layer(x)
                t, f = _counts(layer)
                trainable, non_trainable = trainable + t, non_trainable + f
                rows.append(LayerRow(name, type(layer).__name__, (None, *x.shape[1:]), t + f))
                if name == upto:
                    break
    finally:
        if was_training:  # a shared model (always in eval mode) is never written to
            model.train()
    return LayerTable(title, rows, trainable, non_trainable)


# --- filters --------------------------------------------------------------------------------------


def conv_layers(model: Model) -> list[str]:
    """Names of the conv layers, input side first (empty for an MLP)."""
    return [n for n, m in model.named_children() if isinstance(m, nn.Conv2d)]


def _conv(model: Model, index: int) -> nn.Conv2d:
    names = conv_layers(model)
    if not names:
        raise NotApplicable(NO_CONV)
    if index >= len(names):
        raise NotApplicable(f"not applicable: this model has only {len(names)} conv layer(s)")
    return getattr(model, names[index])


def first_layer_filters(model: Model) -> np.ndarray:
    """The first conv layer's weights as (C_out, k, k) (its input is the 1-channel image)."""
    return _conv(model, 0).weight.detach().cpu()[:, 0].numpy().copy()


def second_layer_filters(model: Model) -> np.ndarray:
    """The second conv layer's weights as (C_out, C_in, k, k): one k×k kernel per input channel."""
    return _conv(model, 1).weight.detach().cpu().numpy().copy()


def spatial_autocorrelation(filters: np.ndarray) -> float:
    """Mean correlation of horizontally and vertically neighbouring weights, over all filters.

    Freshly initialised filters are independent noise (≈ 0); learned edge and blob detectors are
    smooth, so neighbouring weights agree (clearly > 0). Input: (..., k, k).
    """
    w = np.asarray(filters, dtype=np.float64).reshape(-1, *filters.shape[-2:])
    w = w - w.mean(axis=(1, 2), keepdims=True)
    var = (w**2).sum(axis=(1, 2))
    num = (w[:, :, 1:] * w[:, :, :-1]).sum(axis=(1, 2)) + (w[:, 1:] * w[:, :-1]).sum(axis=(1, 2))
    # Normalise by the pairs' share of the sum of squares (2k(k-1) pairs over k² cells).
    k = w.shape[-1]
    pairs = 2 * k * (k - 1) / (k * k)
    return float(np.mean(num / np.maximum(var * pairs, 1e-12)))


def filter_image(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Correlate one image with one kernel exactly like OpenCV's ``cv2.filter2D(img, -1, k)``.

    Same-size output; borders reflected without repeating the edge pixel (BORDER_REFLECT_101,
    torch's "reflect"); the anchor is the kernel centre (k // 2), also for even sizes.
    """
    kh, kw = kernel.shape
    x = torch.as_tensor(np.asarray(image, dtype=np.float32))[None, None]  # (1, 1, H, W)
    # Pads (left, right, top, bottom): the anchor k // 2 has k // 2 pixels before it.
    x = F.pad(x, (kw // 2, kw - 1 - kw // 2, kh // 2, kh - 1 - kh // 2), mode="reflect")
    k = torch.as_tensor(np.asarray(kernel, dtype=np.float32))[None, None]
    return F.conv2d(x, k)[0, 0].numpy()  # conv2d is a correlation, as filter2D is


def filter_responses(model: Model, image: np.ndarray, dataset) -> np.ndarray:
    """Every first-layer filter applied to the normalised image, as the seed's ``filter2D``.
    ``dataset``: the run's TrainConfig (or dataset name), for the input normalisation.

    Returns (C_out, 28, 28). Like the seed, it uses the kernels only (no bias, no activation).
    """
    filters = first_layer_filters(model)
    x = normalize(np.asarray(image), dataset)[0, 0].numpy()  # (28, 28), as the network sees it
    return np.stack([filter_image(x, f) for f in filters])


# --- activations and predictions -----------------------------------------------------------------


@dataclass(frozen=True)
class LayerOutput:
    name: str
    kind: str
    value: np.ndarray  # one example's output: (C, H, W) feature maps or (F,) features


@dataclass(frozen=True)
class Activations:
    layers: list[LayerOutput]
    probabilities: np.ndarray  # (num_classes,), sums to 1
    predicted: int


def activations(model: Model, x: torch.Tensor | np.ndarray) -> Activations:
    """The output of every layer for one normalised image (1, 1, 28, 28), and the prediction.

    Running the stack layer by layer gives, after each layer, exactly what the truncated
    sub-model ``truncate(model, name)`` would output, in one forward pass instead of one per layer.
    """
    x = as_input(model, x)
    layers = []
    ensure_eval(model)
    with torch.inference_mode():
        for name, layer in model.named_children():
            x = layer(x)
            layers.append(LayerOutput(name, type(layer).__name__, x[0].float().cpu().numpy()))
        probs = output_probabilities(model, x)[0].cpu().numpy()
    return Activations(layers, probs, int(probs.argmax()))
