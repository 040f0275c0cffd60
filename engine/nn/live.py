"""Live recognition on video frames: find handwritten symbols, classify them in one batch, draw.

``LiveRecognizer.process(frame_bgr)`` is the whole pipeline for one frame. Symbols are found on
a downscaled copy (grayscale → blur → adaptive threshold → contours filtered by size and
aspect), or taken from a fixed guide box; each crop then goes through the same steps as any
uploaded photo (``engine.data.preprocess``) so camera input meets the training data in the same
space. ``engine.nn.live_bench`` draws real test digits onto noisy, unevenly lit paper for tests and
the ``live bench`` command.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from engine import EngineError
from engine.config import TrainConfig
from engine.data.datasets import CLASSES, ImageError
from engine.data.preprocess import (
    WORK_SIDE,
    ImageSource,
    crop_to_ink,
    fit_and_centre,
    ink_map,
    open_image,
    remove_lines,
    thicken,
    to_colour,
)
from engine.data.symbols import Box, crop_box, find_symbols, reading_order
from engine.nn.models import NOT_SURE_BELOW, Model
from engine.nn.predict import classify

MODES = ("auto", "guide")
CROP_SIDE = 48  # px, crops are shrunk to this before preprocessing (2.4x the 20 px digit box)
GREEN, YELLOW, RED = (60, 200, 60), (0, 215, 255), (40, 40, 230)  # BGR


class LiveError(EngineError, ValueError):
    """Settings or a classifier that live recognition cannot work with."""


@dataclass(frozen=True)
class LiveSettings:
    mode: str = "auto"  # "auto": find every symbol; "guide": classify what is in a centred box
    detect_width: int = 320  # px, frames are downscaled to this width to find symbols (speed)
    block: int = 31  # px at detect_width, adaptive-threshold neighbourhood (odd)
    offset: int = 12  # grey levels below the local mean that count as ink
    min_height: float = 0.06  # symbol height as a fraction of the frame height
    max_height: float = 0.8
    max_aspect: float = 2.0  # width / height; digits are mostly taller than wide
    max_symbols: int = 12  # the largest candidates kept, to bound the time per frame
    guide: float = 0.5  # guide-box side as a fraction of the frame's shorter side
    min_confidence: float = 0.0  # hide detections the classifier is less sure of (0-1)

    def validate(self) -> None:
        if self.mode not in MODES:
            raise LiveError(f"mode must be one of {MODES}, not {self.mode!r}")
        if not 0.05 <= self.guide <= 1.0:
            raise LiveError(f"the guide box must be 5-100% of the frame, not {self.guide:.0%}")
        if not 0 < self.min_height < self.max_height <= 1:
            raise LiveError("symbol heights must satisfy 0 < min_height < max_height <= 1")


@dataclass(frozen=True)
class Detection:
    box: tuple[int, int, int, int]  # x, y, w, h in frame pixels
    label: str
    confidence: float  # 0-1: the class probability (SSD methods: share of the inverse distance)
    text: str  # what is drawn beside the box, e.g. "7 98%" or "alpha ssd 178"
    image: np.ndarray  # (28, 28) uint8, the crop as the network saw it
    scores: tuple[tuple[str, float], ...] = ()  # (class, confidence) for every class, best first

    def record(self, scale: float = 1.0) -> dict:
        """As JSON: label, confidence and box (x, y, w, h; times ``scale``: the photo's own
        pixels for a shrunk photo)."""
        return {
            "label": self.label,
            "confidence": round(self.confidence, 4),
            "box": [round(v * scale) for v in self.box],
        }


# A classifier maps uint8 images (N, 28, 28) to N (label, confidence, text) triples, or to
# (label, confidence, text, scores) with ``scores`` every class's confidence, best first (the
# live panel's bars).
Classifier = Callable[[np.ndarray], list[tuple]]


def ranked(classes: Sequence[str], p: np.ndarray) -> tuple[tuple[str, float], ...]:
    """One row of confidences → (class, confidence) pairs, best first."""
    return tuple((classes[j], float(p[j])) for j in np.argsort(-p, kind="stable"))


def net_classifier(model: Model, cfg: TrainConfig) -> Classifier:
    """The run's own classes (digits, clothes): one batched forward pass."""
    classes = CLASSES[cfg.dataset]

    def run(images: np.ndarray) -> list[tuple]:
        probs = classify(model, cfg, images)  # (N, K), normalised as the run was
        k, conf = probs.argmax(1), probs.max(1)
        return [
            (classes[j], float(c), f"{classes[j]} {float(c):.0%}", ranked(classes, p))
            for c, j, p in zip(conf, k, probs)
        ]

    return run


def frame_from_photo(
    src: ImageSource, name: str = "photo", max_side: int = WORK_SIDE
) -> tuple[np.ndarray, float]:
    """A photo → (a BGR frame like one from the camera, the photo's pixels per frame pixel): decoded
    safely (size limits, a JPEG at a reduced scale), turned upright (EXIF), transparency as
    paper, and shrunk so its longest side is at most ``max_side`` px. Raises ImageError for
    anything that is not a readable image."""
    im = open_image(src, name, max_side=max_side)
    full = max(im.info.get("full_size", im.size))
    colour = to_colour(im, max_side)
    rgb = np.clip(colour * 255 + 0.5, 0, 255).astype(np.uint8)
    if rgb.shape[2] == 1:
        rgb = np.repeat(rgb, 3, axis=2)
    return np.ascontiguousarray(rgb[..., ::-1]), full / max(rgb.shape[:2])  # RGB → BGR


def photo_symbols(frame_bgr: np.ndarray, max_symbols: int = 12) -> list[tuple[Box, np.ndarray]]:
    """Every symbol of a photo (a BGR frame) as (box in frame px, MNIST-like 28×28 uint8), in
    reading order: the whole photo's ink map (paper level, any ink colour, lines removed), then
    strokes grouped into symbols (``engine.data.symbols.find_symbols``). A photo of one digit gives
    one box whatever its size and margins; a blank photo gives none."""
    try:
        ink, _, _ = ink_map(frame_bgr[..., ::-1].astype(np.float32) * (1 / 255))
    except ImageError:
        return []
    ink = remove_lines(ink)
    out = []
    for box in find_symbols(ink, max_symbols):
        out.append((box, fit_and_centre(thicken(crop_box(ink, box)))))
    return [out[i] for i in reading_order([box for box, _ in out])]


def crop_to_mnist(gray: np.ndarray) -> np.ndarray:
    """A uint8 grayscale crop of one symbol on paper → MNIST-like 28×28 uint8 (the shared
    preprocessing's steps after decoding). Raises ImageError when the crop holds no ink."""
    # The result is 20 px across; working on at most CROP_SIDE px keeps every step (the ink
    # map's wide erosion above all) cheap without losing detail the 20 px image could show.
    scale = CROP_SIDE / max(gray.shape)
    if scale < 1:
        size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
        gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    ink, _, _ = ink_map(gray.astype(np.float32) * (1 / 255))
    return fit_and_centre(thicken(crop_to_ink(ink)))


def _inside(corners: tuple[int, int, int, int], box: tuple[int, int, int, int]) -> float:
    """The share of the area of ``corners`` (x0, y0, x1, y1) that lies inside ``box`` (x, y,
    w, h)."""
    x0, y0, x1, y1 = corners
    bx, by, bw, bh = box
    iw = max(0, min(x1, bx + bw) - max(x0, bx))
    ih = max(0, min(y1, by + bh) - max(y0, by))
    return iw * ih / max(1, (x1 - x0) * (y1 - y0))


@dataclass
class LiveRecognizer:
    """Holds the classifier and settings; ``process`` is called once per video frame."""

    classifier: Classifier
    settings: LiveSettings = field(default_factory=LiveSettings)
    fps: float = 0.0  # calls per second: 1 / the median interval of the last 30 calls
    ms: float = 0.0  # milliseconds per ``process`` call (median of the last 30)
    _last: float | None = None
    # Medians, not moving averages: the slow first calls (lazy torch set-up) would linger.
    _times: deque = field(default_factory=lambda: deque(maxlen=30))
    _intervals: deque = field(default_factory=lambda: deque(maxlen=30))

    def __post_init__(self) -> None:
        self.settings.validate()

    def process(
        self, frame_bgr: np.ndarray, stats: bool = True
    ) -> tuple[np.ndarray, list[Detection]]:
        """Find, classify and draw the symbols of one BGR frame → (annotated copy, detections
        in reading order). ``stats=False`` (a photo, not a video frame) leaves the frame-rate
        figures alone and draws none."""
        t0 = time.perf_counter()
        if frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3 or frame_bgr.size == 0:
            raise LiveError(f"expected an (H, W, 3) BGR frame, got shape {frame_bgr.shape}")
        gray = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
        s = self.settings
        boxes = self._guide_box(gray.shape) if s.mode == "guide" else self._find(gray)
        crops, kept = [], []
        for x, y, w, h in boxes:
            try:
                crops.append(crop_to_mnist(gray[y : y + h, x : x + w]))
                kept.append((x, y, w, h))
            except ImageError:  # a blank guide box, or a blob that is not ink after all
                continue
        dets = self._classify(kept, crops)
        out = frame_bgr.copy()
        self._draw(out, dets)
        if not stats:
            return out, dets
        now = time.perf_counter()
        self._times.append(1000 * (now - t0))
        self.ms = float(np.median(self._times))
        if self._last is not None and now > self._last:
            self._intervals.append(now - self._last)
            self.fps = 1.0 / float(np.median(self._intervals))
        self._last = now
        cv2.putText(
            out, f"{self.fps:4.1f} fps  {self.ms:4.1f} ms", (8, 22),
            cv2.FONT_HERSHEY_SIMPLEX, 0.6, RED, 2, cv2.LINE_AA,
        )  # fmt: skip
        return out, dets

    def process_photo(
        self, src: ImageSource, name: str = "photo"
    ) -> tuple[np.ndarray, list[Detection]]:
        """A photo of a sheet (file bytes, path, PIL image or RGB array) through the same steps
        as a video frame: the same boxes, labels and confidences (see ``frame_from_photo``)."""
        return self.read_photo(frame_from_photo(src, name)[0])

    def read_photo(self, frame: np.ndarray) -> tuple[np.ndarray, list[Detection]]:
        """``process_photo`` on a decoded photo (a BGR frame from ``frame_from_photo``)."""
        if self.settings.mode == "guide":
            return self.process(frame, stats=False)
        found = photo_symbols(frame, self.settings.max_symbols)
        dets = self._classify([b for b, _ in found], [img for _, img in found])
        out = frame.copy()
        self._draw(out, dets)
        return out, dets

    def _classify(self, boxes: list[Box], crops: list[np.ndarray]) -> list[Detection]:
        """Every crop in one forward pass; detections under ``min_confidence`` are dropped."""
        if not crops:
            return []
        batch = np.stack(crops)  # (N, 28, 28)
        dets = []
        for box, img, (label, conf, text, *scores) in zip(boxes, batch, self.classifier(batch)):
            if conf >= self.settings.min_confidence:
                text = text if conf >= NOT_SURE_BELOW else f"{text} not sure"
                dets.append(Detection(box, label, conf, text, img, *scores))
        return dets

    def _guide_box(self, shape: tuple[int, int]) -> list[tuple[int, int, int, int]]:
        h, w = shape
        side = int(self.settings.guide * min(h, w))
        return [((w - side) // 2, (h - side) // 2, side, side)]

    def _find(self, gray: np.ndarray) -> list[tuple[int, int, int, int]]:
        """Candidate symbol boxes (square, with a margin of paper) in frame pixels."""
        s = self.settings
        h, w = gray.shape
        f = min(1.0, s.detect_width / w)
        small = cv2.resize(gray, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (5, 5), 0)
        mask = cv2.adaptiveThreshold(
            small, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, s.block | 1, s.offset
        )
        mask = cv2.dilate(mask, np.ones((3, 3), np.uint8))  # join strokes broken by the blur
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        sh, sw = mask.shape
        cands = []
        for c in contours:
            x, y, bw, bh = cv2.boundingRect(c)
            if not s.min_height * sh <= bh <= s.max_height * sh or bw > s.max_aspect * bh:
                continue
            if x <= 0 or y <= 0 or x + bw >= sw or y + bh >= sh:  # cut by the frame edge
                continue
            cands.append((bh * bw, x, y, bw, bh))
        cands = sorted(cands, reverse=True)[: s.max_symbols]
        boxes = []
        for _, x, y, bw, bh in cands:
            # A square crop with a paper margin, so the ink map's paper estimate sees paper.
            side = 1.3 * max(bw, bh) / f
            cx, cy = (x + bw / 2) / f, (y + bh / 2) / f
            x0, y0 = max(0, int(cx - side / 2)), max(0, int(cy - side / 2))
            x1, y1 = min(w, int(cx + side / 2)), min(h, int(cy + side / 2))
            if any(_inside((x0, y0, x1, y1), b) > 0.6 for b in boxes):
                continue  # mostly within a larger symbol's box: a detached part of it
            boxes.append((x0, y0, x1 - x0, y1 - y0))
        return [boxes[i] for i in reading_order(boxes)]  # rows, then left → right

    def _draw(self, out: np.ndarray, dets: list[Detection]) -> None:
        if self.settings.mode == "guide":
            (x, y, w, h), = self._guide_box(out.shape[:2])  # fmt: skip
            cv2.rectangle(out, (x, y), (x + w, y + h), YELLOW, 2)
        for d in dets:
            x, y, w, h = d.box
            cv2.rectangle(out, (x, y), (x + w, y + h), GREEN, 2)
            ty = y - 6 if y >= 20 else y + 18  # above the box, or inside it at the top edge
            cv2.putText(
                out, d.text, (x + 2, ty), cv2.FONT_HERSHEY_SIMPLEX, 0.6, GREEN, 2, cv2.LINE_AA
            )  # fmt: skip
