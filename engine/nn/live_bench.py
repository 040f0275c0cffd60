"""Synthetic video frames for the live recognizer's tests and benchmarks: real test digits on
noisy, unevenly lit paper (``synthetic_frame``, ``bench_frames``), how detections match the
digits drawn (``match``, ``matches``), and one timed pass over frames (``bench``)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from engine.nn.live import Detection, LiveError, LiveRecognizer


@dataclass(frozen=True)
class Truth:
    box: tuple[int, int, int, int]  # x, y, w, h of the digit's ink in the frame
    label: str


def synthetic_frame(
    digits: np.ndarray,
    labels: Sequence[str],
    rng: np.random.Generator,
    size: tuple[int, int] = (640, 480),
    heights: tuple[int, int] = (60, 110),
) -> tuple[np.ndarray, list[Truth]]:
    """Draw each white-on-black 28×28 ``digit`` as dark ink on paper: random size, a slight
    rotation, sensor noise and a lighting gradient. Returns the BGR frame and the truth boxes.
    Digits go into a grid of cells (at most 4×3), so they never overlap."""
    w, h = size
    cols, rows = 4, 3
    if len(digits) > cols * rows:
        raise LiveError(f"at most {cols * rows} digits per frame")
    cells = rng.permutation(cols * rows)[: len(digits)]
    alpha = np.zeros((h, w), np.float32)
    truth = []
    for img, label, cell in zip(digits, labels, cells):
        dh = int(rng.integers(*heights))
        m = cv2.getRotationMatrix2D((14, 14), float(rng.uniform(-12, 12)), dh / 20)
        m[:, 2] += dh * 0.7 - 14  # MNIST's 20 px box in a 28 px frame → dh in a 1.4·dh patch
        p = int(dh * 1.4)
        patch = cv2.warpAffine(img.astype(np.float32) / 255, m, (p, p), flags=cv2.INTER_LINEAR)
        cw, ch = w // cols, h // rows
        x0 = (cell % cols) * cw + int(rng.integers(0, max(1, cw - p)))
        y0 = (cell // cols) * ch + int(rng.integers(0, max(1, ch - p)))
        pw, ph = min(p, w - x0), min(p, h - y0)
        alpha[y0 : y0 + ph, x0 : x0 + pw] = np.maximum(
            alpha[y0 : y0 + ph, x0 : x0 + pw], patch[:ph, :pw]
        )
        ys, xs = np.nonzero(patch[:ph, :pw] > 0.3)
        truth.append(Truth((x0 + xs.min(), y0 + ys.min(), np.ptp(xs) + 1, np.ptp(ys) + 1), label))
    paper, ink = rng.uniform(190, 235), rng.uniform(20, 70)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)  # lighting: a linear gradient in a random direction
    light = 1 + rng.uniform(0.1, 0.35) * (
        (xx / w - 0.5) * np.cos(angle) + (yy / h - 0.5) * np.sin(angle)
    )
    light *= rng.uniform(0.7, 1.1)  # overall brightness
    gray = (paper * (1 - alpha) + ink * alpha) * light + rng.normal(0, 6, (h, w))
    tint = rng.uniform(0.9, 1.05, 3)  # a slightly coloured light
    frame = np.clip(gray[..., None] * tint, 0, 255).astype(np.uint8)
    return frame, truth


def match(dets: Sequence[Detection], truth: Sequence[Truth]) -> tuple[int, int]:
    """(digits found with the right label, detections matching no digit): see ``matches``."""
    _, right, extra = matches(dets, truth)
    return right, extra


def matches(dets: Sequence[Detection], truth: Sequence[Truth]) -> tuple[int, int, int]:
    """(digits found, found with the right label, detections matching no digit): a detection
    matches a digit when the digit's centre lies inside its box. ``truth``: anything with a
    ``box`` and a ``label`` (``engine.data.photos.Placed`` too)."""
    found, right, used = 0, 0, set()
    for t in truth:
        cx, cy = t.box[0] + t.box[2] / 2, t.box[1] + t.box[3] / 2
        for i, d in enumerate(dets):
            x, y, w, h = d.box
            if i not in used and x <= cx <= x + w and y <= cy <= y + h:
                used.add(i)
                found += 1
                right += d.label == t.label
                break
    return found, right, len(dets) - len(used)


def bench_frames(
    images: np.ndarray, labels: Sequence[str], n: int, per_frame: int = 6, seed: int = 0
) -> list[tuple[np.ndarray, list[Truth]]]:
    """``n`` synthetic 640×480 frames, each with ``per_frame`` digits drawn from ``images``."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        idx = rng.choice(len(images), per_frame, replace=False)
        out.append(synthetic_frame(images[idx], [labels[i] for i in idx], rng))
    return out


def bench(rec: LiveRecognizer, frames: list[tuple[np.ndarray, list[Truth]]]) -> dict:
    """Time ``rec.process`` on each frame (after one warm-up call) and score the detections."""
    rec.process(frames[0][0])
    times, right, extra, total = [], 0, 0, 0
    for frame, truth in frames:
        t0 = time.perf_counter()
        _, dets = rec.process(frame)
        times.append(1000 * (time.perf_counter() - t0))
        r, e = match(dets, truth)
        right, extra, total = right + r, extra + e, total + len(truth)
    return {
        "frames": len(frames),
        "median_ms": float(np.median(times)),
        "p90_ms": float(np.percentile(times, 90)),
        "accuracy": right / max(1, total),
        "false_detections": extra,
        "digits": total,
    }
