"""Saliency: where a network looks for one image and one class, as an input gradient and as
Grad-CAM, computed from the model without changing it.

A cached model is shared by every browser session and by the webcam's thread, so nothing here
writes to it: no hooks (Grad-CAM splits the ``nn.Sequential`` at a layer instead), no ``.grad``
(``autograd.grad`` instead of ``backward``), and eval mode is only set on a model that is not in
it already (a cached model always is).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.config import IMAGE_SIZE
from engine.nn.inspect import NO_CONV, NotApplicable, conv_layers
from engine.nn.models import SCORES, Model, score_model, truncate
from engine.nn.predict import as_input, device_of, ensure_eval, predict


@dataclass(frozen=True)
class Saliency:
    """Where the network looks for one image and one class (the predicted one by default)."""

    target: int  # the class whose score is explained
    gradient: np.ndarray  # (28, 28) |∂ score / ∂ pixel| of the normalised input, ≥ 0, raw units
    cam: np.ndarray | None  # (28, 28) Grad-CAM in [0, 1] (1 = the image's maximum); None: MLP
    cam_layer: str | None  # the layer whose feature maps Grad-CAM weighs
    cam_shape: tuple[int, int] | None  # (h, w) of those maps, before upsampling


def gradient_saliency(
    model: Model, x: torch.Tensor | np.ndarray, target: int | None = None
) -> np.ndarray:
    """|∂ score / ∂ pixel| of the target class (default: the predicted one), (28, 28), ≥ 0.

    The score is the class's logit: a probability saturates at 100% and its gradient vanishes.
    Bright pixels are those whose change would move the score most. Works for any model; the
    values are in score units per unit of normalised input (not scaled).
    """
    x = as_input(model, x)
    ensure_eval(model)
    with torch.inference_mode(False), torch.enable_grad():
        x = x.clone().requires_grad_(True)  # a normal tensor even if x came from inference mode
        scores = score_model(model)(x)
        k = int(scores.argmax(1)) if target is None else int(target)
        (g,) = torch.autograd.grad(scores[0, k], x)
    return g[0].abs().amax(0).cpu().numpy()


MIN_CAM_SIDE = 7  # px: a coarser map (the classic net's last one is 4×4) cannot localise


def block_outputs(model: Model) -> list[tuple[str, int]]:
    """(name, side) of each conv block's last layer (after its pooling and activation)."""
    names = [n for n, _ in model.named_children()]
    convs = conv_layers(model)
    if not convs or "flatten" not in names:
        return []
    starts = [names.index(c) for c in convs] + [names.index("flatten")]
    ends = [names[j - 1] for j in starts[1:]]
    out, x = [], torch.zeros(1, 1, IMAGE_SIZE, IMAGE_SIZE, device=device_of(model))
    with torch.no_grad():
        for name, layer in model.named_children():
            if name == "flatten":
                break
            x = layer(x)
            if name in ends:
                out.append((name, int(x.shape[-1])))
    return out


def grad_cam_layer(model: Model) -> str:
    """Grad-CAM's layer: the deepest conv block output (after its pooling and activation, so
    the maps are rectified as the method expects) whose maps are still at least
    ``MIN_CAM_SIDE`` px wide; the first block's when none is."""
    blocks = block_outputs(model)
    if not blocks:
        raise NotApplicable(f"{NO_CONV}; Grad-CAM needs feature maps, see the input gradient")
    wide = [name for name, side in blocks if side >= MIN_CAM_SIDE]
    return wide[-1] if wide else blocks[0][0]


def split(model: Model, layer: str) -> tuple[nn.Sequential, nn.Sequential]:
    """(input → ``layer``, after ``layer`` → class scores): two stacks sharing the weights."""
    names = [n for n, _ in model.named_children()]
    if layer not in names:
        raise NotApplicable(f"no layer named {layer!r}; layers are: {', '.join(names)}")
    head = truncate(model, layer)
    end = names.index(SCORES) + 1 if SCORES in names else len(names)
    tail = names[names.index(layer) + 1 : end]
    return head, nn.Sequential(OrderedDict((n, getattr(model, n)) for n in tail))


def grad_cam(
    model: Model,
    x: torch.Tensor | np.ndarray,
    target: int | None = None,
    layer: str | None = None,
    weighting: str = "position",
) -> np.ndarray:
    """Grad-CAM heat map (28, 28) in [0, 1] for the target class (default: the predicted one).

    The model is split at ``layer`` (default ``grad_cam_layer``): its feature maps A (C, h, w)
    come from the first part, the class's logit from the second, so the gradient G = ∂ logit / ∂ A
    needs no hook. The map is ReLU(Σ_c G_c ⊙ A_c), upsampled bilinearly to 28×28 and divided by
    its maximum (per image; all zero when nothing supports the class).

    ``weighting="position"`` (default) multiplies each position by its own gradient (HiResCAM,
    Draelos & Carin 2020). The original Grad-CAM, ``"channel"``, first averages G over each map;
    that assumes a global-average-pooling head. These networks flatten the maps into dense
    layers instead, and there the averages cancel out: on the classic digit net, channel
    weighting at the 12×12 maps left 36 of 40 test digits entirely black, position weighting
    none, with the map on the digit's ink for 40 of 40. With a pooling head both are the same.
    """
    return _grad_cam(model, x, target, layer, weighting)[0]


def _grad_cam(
    model: Model,
    x: torch.Tensor | np.ndarray,
    target: int | None,
    layer: str | None,
    weighting: str = "position",
) -> tuple[np.ndarray, int, str, tuple[int, int]]:
    if weighting not in ("position", "channel"):
        raise ValueError(f"weighting must be 'position' or 'channel', not {weighting!r}")
    layer = layer or grad_cam_layer(model)
    head, tail = split(model, layer)
    x = as_input(model, x)
    ensure_eval(model)
    with torch.inference_mode(False), torch.enable_grad():
        with torch.no_grad():
            a = head(x.clone())
        if a.dim() != 4:
            raise NotApplicable(f"Grad-CAM needs feature maps; {layer} outputs {tuple(a.shape)}")
        a = a.detach().requires_grad_(True)  # (1, C, h, w): the leaf the gradient is taken at
        scores = tail(a)
        k = int(scores.argmax(1)) if target is None else int(target)
        (g,) = torch.autograd.grad(scores[0, k], a)
    if weighting == "channel":
        g = g.mean(dim=(2, 3), keepdim=True)  # (1, C, 1, 1): how much each map matters
    cam = F.relu((g * a.detach()).sum(1, keepdim=True))  # (1, 1, h, w)
    up = F.interpolate(cam, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False)
    up = up[0, 0].clamp_min(0).cpu().numpy()
    top = float(up.max())
    return (up / top if top > 0 else up), k, layer, (int(a.shape[2]), int(a.shape[3]))


def saliency(model: Model, x: torch.Tensor | np.ndarray, target: int | None = None) -> Saliency:
    """The input gradient and, for a CNN, Grad-CAM of one class for one normalised image."""
    if target is None:
        target = int(predict(model, as_input(model, x))[0].argmax())
    grad = gradient_saliency(model, x, target)
    try:
        cam, _, layer, shape = _grad_cam(model, x, target, None)
    except NotApplicable:
        cam, layer, shape = None, None, None
    return Saliency(target, grad, cam, layer, shape)
