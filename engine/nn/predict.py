"""Class probabilities from a trained model: the one place where the pages, the CLI, the webcam,
Inspect and saliency classify images.

- ``classify``: uint8 images as drawn, photographed and preprocessed (N, 28, 28) → (N, K),
  normalised as the run was trained, in batches, on the model's own device (CPU or GPU);
- ``predict``: already normalised inputs (N, 1, 28, 28) → (N, K);
- ``output_probabilities``, ``as_input``, ``device_of``, ``ensure_eval``: what the views of one
  image (activations, saliency) build on.
A cached model is shared by every visitor: nothing here writes to it, except setting eval mode
once when it is not set yet.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from engine.config import TrainConfig
from engine.data.datasets import normalize
from engine.nn.models import probabilities

BATCH = 1000  # images per forward pass: the test set in 10 passes, a few MB at a time


def device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def ensure_eval(model: nn.Module) -> None:
    """Eval mode, set only when needed: a shared, cached model (always in eval mode) is never
    written to by a view."""
    if model.training:
        model.eval()


def as_input(model: nn.Module, x: torch.Tensor | np.ndarray) -> torch.Tensor:
    """One normalised image, (28, 28), (1, 28, 28) or (1, 1, 28, 28), as a batch of one on the
    model's device."""
    x = torch.as_tensor(x, dtype=torch.float32)
    if x.dim() == 2:
        x = x[None, None]
    elif x.dim() == 3:
        x = x[None]
    if x.shape[0] != 1:
        raise ValueError(f"expected one normalised image (1, 1, 28, 28), got {tuple(x.shape)}")
    return x.to(device_of(model))


def output_probabilities(model: nn.Module, out: torch.Tensor) -> torch.Tensor:
    """Class probabilities from the network's output (a bare stack, with no ``config``, is
    taken to give logits)."""
    config = getattr(model, "config", None)
    return probabilities(config, out.float()) if config is not None else out.float().softmax(-1)


def predict(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    """Class probabilities (N, K) of normalised inputs (N, 1, 28, 28)."""
    ensure_eval(model)
    device, parts = device_of(model), []
    with torch.inference_mode():
        for i in range(0, len(x), BATCH):
            parts.append(output_probabilities(model, model(x[i : i + BATCH].to(device))).cpu())
    return torch.cat(parts).numpy()


def classify(model: nn.Module, cfg: TrainConfig, images: np.ndarray | torch.Tensor) -> np.ndarray:
    """Class probabilities (N, K) of uint8 images (N, 28, 28), or (1, K) of one (28, 28),
    normalised as the run ``cfg`` was trained."""
    x = torch.as_tensor(images)
    if x.dim() == 2:
        x = x[None]
    parts = [predict(model, normalize(x[i : i + BATCH], cfg)) for i in range(0, len(x), BATCH)]
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)
