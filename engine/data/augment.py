"""Random distortions of handwriting-like images, on whole batches of tensors (no PIL, no loops).

Used while training (``TrainConfig.augment``) so that a digit network's embedding tolerates the
ways one writer's letters differ from another's: slant and size (affine), wobble (elastic) and
pen width (stroke), and what a phone photo leaves after preprocessing (photo: blur and noise).
The few-shot methods use the same function for support-set and test-time
augmentation. Images are (B, 1, 28, 28) float tensors with the background at ``background``
(the normalised value of a black pixel).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _uniform(n: int, lo: float, hi: float, g: torch.Generator, device) -> torch.Tensor:
    return (torch.rand(n, generator=g) * (hi - lo) + lo).to(device)


def affine_grid(n: int, g: torch.Generator, device, strength: float = 1.0) -> torch.Tensor:
    """Sampling grids (n, 28, 28, 2) of random rotations (±12°), shears (±0.25), scales
    (0.85-1.1) and shifts (±1.5 px), the range in which handwriting of one symbol varies."""
    a = _uniform(n, -12, 12, g, device) * strength * math.pi / 180
    shear = _uniform(n, -0.25, 0.25, g, device) * strength
    scale = 1 + _uniform(n, -0.15, 0.1, g, device) * strength
    shift = (torch.rand(n, 2, generator=g).to(device) * 2 - 1) * (1.5 / 14) * strength
    cos, sin = torch.cos(a) / scale, torch.sin(a) / scale
    theta = torch.stack(
        [
            torch.stack([cos, -sin + shear * cos, shift[:, 0]], 1),
            torch.stack([sin, cos, shift[:, 1]], 1),
        ],
        1,
    )  # (n, 2, 3): output → input coordinates in [-1, 1]
    return F.affine_grid(theta, (n, 1, 28, 28), align_corners=False)


def elastic_offsets(n: int, g: torch.Generator, device, strength: float = 1.0) -> torch.Tensor:
    """Smooth random displacements (n, 28, 28, 2) of about 1 px: coarse noise, upsampled."""
    coarse = torch.randn(n, 2, 4, 4, generator=g).to(device) * (1.2 / 14) * strength
    return F.interpolate(coarse, size=(28, 28), mode="bicubic", align_corners=False).permute(
        0, 2, 3, 1
    )


def stroke(x: torch.Tensor, g: torch.Generator, background: float) -> torch.Tensor:
    """Random pen width: each image thickened (3×3 dilation) or thinned (erosion) by a random
    fraction, or left as it is (one in three each)."""
    n = len(x)
    thick = F.max_pool2d(x, 3, 1, 1)
    thin = -F.max_pool2d(-x, 3, 1, 1)
    pick = torch.randint(0, 3, (n,), generator=g).to(x.device)
    t = _uniform(n, 0.3, 1.0, g, x.device).view(n, 1, 1, 1)
    out = torch.where((pick == 1).view(n, 1, 1, 1), x + t * (thick - x), x)
    out = torch.where((pick == 2).view(n, 1, 1, 1), x + 0.6 * t * (thin - x), out)
    return out.clamp_min(background)


def photo(x: torch.Tensor, g: torch.Generator, background: float) -> torch.Tensor:
    """What a phone photo leaves once prepared (``engine.data.preprocess``): strokes softened by a
    random blur (focus, shake, the shrink to 20 px) and a little sensor noise on the ink, on
    half the images."""
    n = len(x)
    w = torch.tensor([1.0, 2.0, 1.0], device=x.device)
    kernel = (w[:, None] * w[None, :] / 16).view(1, 1, 3, 3)
    soft = F.conv2d(x - background, kernel, padding=1) + background
    on = (torch.rand(n, generator=g) < 0.5).to(x.device).view(n, 1, 1, 1)
    t = _uniform(n, 0.3, 1.0, g, x.device).view(n, 1, 1, 1) * on
    noise = torch.randn(x.shape, generator=g).to(x.device) * _uniform(n, 0, 0.3, g, x.device).view(
        n, 1, 1, 1
    )
    out = x + t * (soft - x) + noise * on * (x > background)
    return out.clamp(background, float(x.max()))  # no pixel beyond the batch's white


def augment(
    x: torch.Tensor,
    kinds: tuple[str, ...],
    g: torch.Generator,
    background: float = 0.0,
    strength: float = 1.0,
) -> torch.Tensor:
    """A randomly distorted copy of the batch ``x`` (B, 1, 28, 28); ``x`` itself is unchanged."""
    if not kinds or len(x) == 0:
        return x
    if "stroke" in kinds:
        x = stroke(x, g, background)
    if "photo" in kinds:
        x = photo(x, g, background)
    geo = [k for k in kinds if k in ("affine", "elastic")]
    if geo:
        n = len(x)
        if "affine" in geo:
            grid = affine_grid(n, g, x.device, strength)
        else:
            eye = torch.tensor([[1.0, 0, 0], [0, 1.0, 0]], device=x.device).expand(n, 2, 3)
            grid = F.affine_grid(eye, (n, 1, 28, 28), align_corners=False)
        if "elastic" in geo:
            grid = grid + elastic_offsets(n, g, x.device, strength)
        # grid_sample pads with zeros: shift so that the background is zero while sampling.
        x = F.grid_sample(x - background, grid, align_corners=False) + background
    return x
