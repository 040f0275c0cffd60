"""Synthetic phone photos of handwriting, for benchmarks and tests: a white-on-black 28×28 symbol
(an MNIST digit, a rendered glyph) becomes ink on paper as a phone would see it.

Each photo draws at random: the symbol's size and place, ink colour and darkness, paper tint,
a slight rotation, the perspective of a hand-held phone, a light gradient and sometimes a soft
shadow, sometimes the desk beyond the paper's edge, blur, sensor noise, and JPEG compression.
``sheet`` puts several symbols on one photo and returns where each one is.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

INKS = [(25, 25, 30), (30, 40, 120), (15, 30, 80), (60, 60, 60), (110, 30, 30)]  # RGB pens


@dataclass(frozen=True)
class Placed:
    box: tuple[int, int, int, int]  # x, y, w, h of the symbol's ink in the photo
    label: str


def _alpha(symbol: np.ndarray, height: int, angle: float) -> np.ndarray:
    """The symbol's ink coverage (0-1) scaled so its 20 px MNIST box is ``height`` px, rotated,
    on a square patch 1.4 × height."""
    m = cv2.getRotationMatrix2D((14, 14), angle, height / 20)
    m[:, 2] += height * 0.7 - 14
    p = int(height * 1.4)
    return cv2.warpAffine(symbol.astype(np.float32) / 255, m, (p, p), flags=cv2.INTER_CUBIC)


def _photo(alpha: np.ndarray, rng: np.random.Generator, edge: bool) -> np.ndarray:
    """Ink coverage on a paper-sized canvas → RGB uint8 as a phone would take it."""
    h, w = alpha.shape
    alpha = np.clip(alpha, 0, 1)
    paper = rng.uniform(175, 245) * rng.uniform(0.93, 1.03, 3)  # tinted paper
    ink = np.array(INKS[rng.integers(len(INKS))], np.float32) + rng.uniform(0, 50)
    strength = rng.uniform(0.6, 1.0)  # faint pens and pencils as well
    img = paper * (1 - strength * alpha[..., None]) + ink * (strength * alpha[..., None])
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    light = 1 + rng.uniform(0.1, 0.4) * (
        (xx / w - 0.5) * np.cos(angle) + (yy / h - 0.5) * np.sin(angle)
    )
    if rng.random() < 0.4:  # the phone's (or the hand's) soft shadow over part of the page
        a2 = rng.uniform(0, 2 * np.pi)
        d = (xx / w - 0.5) * np.cos(a2) + (yy / h - 0.5) * np.sin(a2) - rng.uniform(-0.3, 0.3)
        light *= 1 - rng.uniform(0.15, 0.4) / (1 + np.exp(-d * rng.uniform(8, 30)))
    img = img * (light * rng.uniform(0.75, 1.05))[..., None]
    # A hand-held phone: the page's corners move by up to 6% of the side; beyond them, the desk.
    shrink = rng.uniform(0.04, 0.1) if edge else 0.0
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    jitter = rng.uniform(-0.06, 0.06, (4, 2)) * (w, h) * (0 if edge else 0.5)
    inward = np.float32([[1, 1], [-1, 1], [-1, -1], [1, -1]]) * (w, h) * shrink
    dst = (src + jitter + inward).astype(np.float32)
    desk = tuple(float(v) for v in rng.uniform(20, 120, 3))
    m = cv2.getPerspectiveTransform(src, dst)
    img = cv2.warpPerspective(img.astype(np.float32), m, (w, h), borderValue=desk)
    sigma = rng.uniform(0.3, 1.2) * max(h, w) / 800  # focus and motion blur
    img = cv2.GaussianBlur(img, (0, 0), sigma)
    img = img + rng.normal(0, rng.uniform(2, 7), img.shape)
    return np.clip(img, 0, 255).astype(np.uint8), m


def photograph(
    symbol: np.ndarray, rng: np.random.Generator, size: tuple[int, int] = (768, 1024)
) -> np.ndarray:
    """One white-on-black 28×28 symbol → an RGB uint8 phone photo of ``size`` (width, height):
    the symbol 15-55% of the shorter side high, anywhere with a margin; the desk shows past the
    paper's edge on a third of the photos."""
    w, h = size
    height = int(rng.uniform(0.15, 0.55) * min(w, h))
    patch = _alpha(symbol, height, float(rng.uniform(-10, 10)))
    p = patch.shape[0]
    canvas = np.zeros((h, w), np.float32)
    margin = int(0.12 * min(w, h))
    x0 = int(rng.integers(margin, max(margin + 1, w - p - margin)))
    y0 = int(rng.integers(margin, max(margin + 1, h - p - margin)))
    canvas[y0 : y0 + p, x0 : x0 + p] = patch[: h - y0, : w - x0]
    return _photo(canvas, rng, edge=rng.random() < 1 / 3)[0]


def sheet(
    symbols: np.ndarray,
    labels: Sequence[str],
    rng: np.random.Generator,
    size: tuple[int, int] = (1024, 768),
    cols: int = 4,
) -> tuple[np.ndarray, list[Placed]]:
    """Several symbols written in rows on one page → (RGB photo, where each symbol's ink is).
    Symbols are about the same height, as one writer's are, with gaps between them."""
    w, h = size
    rows = -(-len(symbols) // cols)
    cw, ch = w // cols, h // rows
    height = int(rng.uniform(0.45, 0.6) * min(cw, ch))
    canvas = np.zeros((h, w), np.float32)
    truth = []
    for k, (sym, label) in enumerate(zip(symbols, labels)):
        patch = _alpha(sym, int(height * rng.uniform(0.85, 1.1)), float(rng.uniform(-8, 8)))
        p = patch.shape[0]
        x0 = (k % cols) * cw + (cw - p) // 2 + int(rng.integers(-cw // 10, cw // 10 + 1))
        y0 = (k // cols) * ch + (ch - p) // 2 + int(rng.integers(-ch // 10, ch // 10 + 1))
        x0, y0 = int(np.clip(x0, 0, w - p)), int(np.clip(y0, 0, h - p))
        canvas[y0 : y0 + p, x0 : x0 + p] = np.maximum(canvas[y0 : y0 + p, x0 : x0 + p], patch)
        ys, xs = np.nonzero(patch > 0.3)
        truth.append(((x0 + xs.min(), y0 + ys.min(), x0 + xs.max(), y0 + ys.max()), label))
    photo, m = _photo(canvas, rng, edge=False)
    placed = []
    for (x0, y0, x1, y1), label in truth:  # the ink's box, moved by the perspective
        pts = cv2.perspectiveTransform(np.float32([[[x0, y0], [x1, y0], [x1, y1], [x0, y1]]]), m)
        (bx0, by0), (bx1, by1) = pts[0].min(0), pts[0].max(0)
        placed.append(Placed((int(bx0), int(by0), int(bx1 - bx0) + 1, int(by1 - by0) + 1), label))
    return photo, placed


def jpeg(rgb: np.ndarray, quality: int = 85) -> bytes:
    """An RGB uint8 image as JPEG bytes, as a phone saves it."""
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()
