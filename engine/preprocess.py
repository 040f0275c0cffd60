"""One preprocessing function for images from outside: a photo of ink on paper → MNIST-like 28×28.

Steps (each kept for a preview): decode safely → upright (EXIF) → grayscale → ink map (inverted
when the paper is light, uneven lighting removed) → crop to the ink (specks dropped) → thicken
thin strokes → scale the longest side to 20 px → centre by centre of mass in 28×28.
The result is uint8 white-on-black like the datasets; ``engine.data.normalize`` does the rest,
the same function training uses.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from engine.data import MAX_PIXELS, ImageError

BOX = 20  # px, the longest side of the digit inside the 28x28 frame, as in MNIST
SIZE = 28
STROKE = 2.2  # px, typical MNIST stroke width at the 20 px scale

ImageSource = str | Path | bytes | BinaryIO | Image.Image | np.ndarray


@dataclass
class Preprocessed:
    image: np.ndarray  # (28, 28) uint8, white ink on black, centred by mass
    inverted: bool  # True when the input was dark ink on light paper
    size: tuple[int, int]  # (width, height) of the decoded input
    steps: list[tuple[str, np.ndarray]] = field(default_factory=list)  # for previews, uint8


def open_image(src: ImageSource, name: str = "image") -> Image.Image:
    """Decode ``src`` fully, refusing empty, non-image, truncated and oversized files."""
    if isinstance(src, Image.Image):
        im = src
    elif isinstance(src, np.ndarray):
        if src.ndim not in (2, 3) or src.size == 0:
            raise ImageError(f"{name}: an image array must be 2-D (gray) or 3-D (RGB)")
        return Image.fromarray(np.ascontiguousarray(src))
    else:
        if isinstance(src, (str, Path)):
            try:
                data = Path(src).read_bytes()
            except OSError as e:
                raise ImageError(f"{name}: cannot read the file ({e.strerror})") from None
        elif isinstance(src, bytes):
            data = src
        else:
            data = src.read()
        if not data:
            raise ImageError(f"{name}: the file is empty (0 bytes)")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                im = Image.open(io.BytesIO(data))
        except (
            UnidentifiedImageError,
            Image.DecompressionBombError,
            Image.DecompressionBombWarning,
        ):
            raise ImageError(
                f"{name}: not an image we can read (use PNG, JPEG, BMP, WebP, TIFF or GIF)"
            ) from None
        except Exception as e:  # noqa: BLE001 - malformed headers raise many types
            raise ImageError(f"{name}: not a readable image ({type(e).__name__})") from None
    w, h = im.size
    if w * h > MAX_PIXELS:
        raise ImageError(
            f"{name}: {w}×{h} is {w * h / 1e6:.0f} megapixels; the limit is {MAX_PIXELS // 10**6}"
        )
    if w == 0 or h == 0:
        raise ImageError(f"{name}: the image has no pixels")
    try:
        im.load()
    except Exception as e:  # noqa: BLE001 - truncated/corrupt data raise OSError, SyntaxError...
        raise ImageError(f"{name}: the image data is truncated or corrupt ({e})") from None
    return im


def to_gray(im: Image.Image) -> np.ndarray:
    """Any PIL mode → float32 gray in [0, 1]; transparency becomes white paper."""
    im = ImageOps.exif_transpose(im) or im
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(im, dtype=np.float64)
        hi = 65535.0 if im.mode.startswith("I;16") or a.max() > 255 else 255.0
        if im.mode == "F":
            hi = max(1.0, float(a.max()))
        return np.clip(a / hi, 0, 1).astype(np.float32)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(paper, rgba)
    return np.asarray(im.convert("L"), dtype=np.float32) / 255.0


def ink_map(gray: np.ndarray) -> tuple[np.ndarray, bool]:
    """Ink strength in [0, 1] (1 = full ink) and whether the paper was light (so we inverted)."""
    h, w = gray.shape
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    inverted = float(np.median(border)) > 0.5
    g = 1.0 - gray if inverted else gray  # now ink is bright on dark paper
    # Paper level per pixel: a wide minimum filter erases strokes narrower than the kernel,
    # leaving the (unevenly lit) paper; subtracting it removes shadows and gradients.
    k = max(3, (min(h, w) // 6) | 1)
    # (In 16-bit integers: 3x faster than in float32, and exact for 8- and 16-bit images; this
    # erosion was most of the time of a prediction from a photo.)
    g16 = np.rint(g * 65535.0).astype(np.uint16)
    paper = cv2.erode(g16, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    paper = paper.astype(np.float32) / 65535.0
    paper = cv2.blur(paper, (k, k))
    ink = np.clip(g - paper, 0, None)
    top = float(np.percentile(ink, 99.5))
    if top < 0.05:  # less than 5% contrast anywhere: no writing
        raise ImageError("no ink found: the image looks blank")
    ink8 = np.clip(ink / top * 255, 0, 255).astype(np.uint8)
    t, _ = cv2.threshold(ink8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    lo, hi = (
        0.5 * t,
        max(t + 1.0, float(np.percentile(ink8[ink8 > t], 90)) if (ink8 > t).any() else 255),
    )
    return np.clip((ink8.astype(np.float32) - lo) / (hi - lo), 0, 1), inverted


def crop_to_ink(ink: np.ndarray) -> np.ndarray:
    """Crop to the ink, ignoring specks (components under 10% of the largest one's area)."""
    mask = (ink > 0.5).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 1:
        raise ImageError("no ink found: the image looks blank")
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = 1 + np.flatnonzero(areas >= 0.1 * areas.max())
    kept = np.isin(labels, keep)
    near = cv2.dilate(kept.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=2) > 0
    ink = np.where(near, ink, 0)  # soft edges of kept strokes stay, specks go
    ys, xs = np.nonzero(kept)
    return ink[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def thicken(ink: np.ndarray) -> np.ndarray:
    """Dilate strokes that would be thinner than MNIST's once the ink is scaled to 20 px."""
    mask = (ink > 0.5).astype(np.uint8)
    contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    perimeter = sum(cv2.arcLength(c, True) for c in contours)
    if perimeter <= 0:
        return ink
    width = 2.0 * mask.sum() / perimeter  # px: area / (perimeter / 2) for long thin strokes
    target = STROKE * max(ink.shape) / BOX
    grow = int(round((target - width) / 2))
    if grow < 1:
        return ink
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
    return cv2.dilate(ink, k)


def fit_and_centre(ink: np.ndarray) -> np.ndarray:
    """Scale the longest side to 20 px (area-averaged) and centre by mass in 28×28 → uint8."""
    h, w = ink.shape
    s = BOX / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    small = cv2.resize(ink, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    small = small / max(float(small.max()), 1e-6)
    ys, xs = np.mgrid[0:nh, 0:nw]
    total = float(small.sum())
    cy, cx = (ys * small).sum() / total, (xs * small).sum() / total
    top = int(np.clip(round(SIZE / 2 - cy - 0.5), 0, SIZE - nh))
    left = int(np.clip(round(SIZE / 2 - cx - 0.5), 0, SIZE - nw))
    out = np.zeros((SIZE, SIZE), np.float32)
    out[top : top + nh, left : left + nw] = small
    return np.clip(out * 255 + 0.5, 0, 255).astype(np.uint8)


def preprocess(src: ImageSource, name: str = "image", keep_steps: bool = False) -> Preprocessed:
    """A photo or scan of dark-on-light (or light-on-dark) writing → an MNIST-like 28×28 uint8."""
    im = open_image(src, name)
    size = im.size
    try:
        gray = to_gray(im)
        ink, inverted = ink_map(gray)
        crop = crop_to_ink(ink)
        thick = thicken(crop)
        out = fit_and_centre(thick)
    except ImageError as e:
        raise ImageError(f"{name}: {e}") from None
    steps = []
    if keep_steps:
        as8 = lambda a: np.clip(a * 255 + 0.5, 0, 255).astype(np.uint8)  # noqa: E731
        steps = [
            ("grayscale", as8(gray)),
            ("ink (inverted)" if inverted else "ink", as8(ink)),
            ("cropped", as8(crop)),
            ("strokes", as8(thick)),
            ("28×28", out),
        ]
    return Preprocessed(out, inverted, size, steps)
