"""One preprocessing function for images from outside: a photo of ink on paper → MNIST-like 28×28.

Steps (each kept for a preview): decode safely, already shrunk (a JPEG decodes at 1/2-1/8 scale)
→ upright (EXIF) → colour at a working size of at most ``WORK_SIDE`` px → ink map (any ink colour
on any paper, either polarity; the paper level is estimated on a small copy, so shadows and
uneven light go) → ruled or squared paper lines removed → symbols found (strokes grouped, specks
and the paper's edge dropped; the largest symbol kept) → thin strokes thickened → longest side
scaled to 20 px → centred by centre of mass in 28×28.
Its cost follows the output, not the megapixels: everything after decoding runs on at most a
megapixel. The result is uint8 white-on-black like the datasets;
``engine.data.datasets.normalize`` does the rest, the same function training uses.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from engine.data.datasets import MAX_PIXELS, ImageError
from engine.data.symbols import SMALL, crop_box, find_symbols, page_edges

BOX = 20  # px, the longest side of the digit inside the 28x28 frame, as in MNIST
SIZE = 28
STROKE = 2.2  # px, typical MNIST stroke width at the 20 px scale
WORK_SIDE = 1024  # px, photos are shrunk to this longest side before anything else: a pen stroke
# on a 12 MP photo of one letter is still 3-5 px wide there, and the output is 20 px across
PAPER_SIDE = 128  # px, the paper level (light and shadows) is estimated on a copy this small
THUMB = 96  # px, the longest side of ``Preprocessed.thumb``
LOW_CONTRAST = 0.15  # ink darker than the paper by less than this (0-1) is "very faint"
THIN = 0.5  # strokes under this share of MNIST's width (at the 20 px scale) are "very thin"
EXIF_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}  # the EXIF orientation tag (0x0112) → what turns the stored pixels upright

ImageSource = str | Path | bytes | BinaryIO | Image.Image | np.ndarray


@dataclass
class Preprocessed:
    image: np.ndarray  # (28, 28) uint8, white ink on black, centred by mass
    inverted: bool  # True when the input was dark ink on light paper
    size: tuple[int, int]  # (width, height) of the decoded input
    steps: list[tuple[str, np.ndarray]] = field(default_factory=list)  # for previews, uint8
    symbols: int = 1  # symbols found; the largest one became ``image``
    notes: list[str] = field(default_factory=list)  # what may make it hard to read, for the UI
    thumb: np.ndarray | None = None  # uint8 gray, longest side THUMB px: the input at a glance


def open_image(
    src: ImageSource, name: str = "image", max_side: int | None = None, mode: str = "RGB"
) -> Image.Image:
    """Decode ``src`` fully, refusing empty, non-image, truncated and oversized files.

    With ``max_side``, a JPEG is decoded at the smallest of 1/2, 1/4 or 1/8 scale that keeps its
    longest side at least ``max_side`` (in ``mode``): the decoder skips the detail we would throw
    away. The full size stays in ``im.info["full_size"]``."""
    if isinstance(src, Image.Image):
        im = src.copy() if max_side else src  # its info is the caller's: ours is a copy
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
    if max_side and im.format == "JPEG" and max(w, h) > max_side:
        f = max_side / max(w, h)
        im.draft(mode, (max(1, round(w * f)), max(1, round(h * f))))
    try:
        im.load()
    except Exception as e:  # noqa: BLE001 - truncated/corrupt data raise OSError, SyntaxError...
        raise ImageError(f"{name}: the image data is truncated or corrupt ({e})") from None
    im.info["full_size"] = (w, h)
    return im


def _on_paper(im: Image.Image) -> Image.Image:
    """Transparency counts as paper: composited on white for dark ink, on black for light ink
    (decided by the opaque pixels), so the ink always stands out."""
    rgba = im.convert("RGBA")
    a = np.asarray(rgba)
    opaque = a[..., 3] > 127
    light = opaque.any() and float(a[..., :3][opaque].mean()) > 127
    paper = Image.new("RGBA", rgba.size, (0, 0, 0, 255) if light else (255, 255, 255, 255))
    return Image.alpha_composite(paper, rgba).convert("RGB")


def to_colour(im: Image.Image, side: int = WORK_SIDE) -> np.ndarray:
    """Any PIL mode → float32 (H, W, C) in [0, 1], C = 3 (colour) or 1 (gray), upright (EXIF),
    transparency as paper, shrunk (area-averaged) so the longest side is at most ``side``."""
    orientation = im.getexif().get(0x0112, 1) if hasattr(im, "getexif") else 1
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = _on_paper(im)
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(im, dtype=np.float32)
        hi = 65535.0 if im.mode.startswith("I;16") or a.max() > 255 else 255.0
        if im.mode == "F":
            hi = max(1.0, float(a.max()))
        a = np.clip(a / hi, 0, 1)[..., None]
    else:
        im = im if im.mode in ("L", "RGB") else im.convert("RGB")
        factor = max(im.size) // side
        if factor >= 2:  # a fast box average in PIL first; the exact size follows in OpenCV
            im = im.reduce(factor)
        a = np.asarray(im, dtype=np.float32) * (1 / 255)
        a = a[..., None] if a.ndim == 2 else a
    h, w = a.shape[:2]
    if max(h, w) > side:
        f = side / max(h, w)
        a = cv2.resize(a, (max(1, round(w * f)), max(1, round(h * f))), cv2.INTER_AREA)
        a = a[..., None] if a.ndim == 2 else a
    if orientation in EXIF_TRANSPOSE:
        a = _transpose(a, EXIF_TRANSPOSE[orientation])
    return np.ascontiguousarray(a)


def _transpose(a: np.ndarray, how: Image.Transpose) -> np.ndarray:
    """``Image.transpose`` for an (H, W, C) array."""
    ops = {
        Image.Transpose.FLIP_LEFT_RIGHT: lambda x: x[:, ::-1],
        Image.Transpose.FLIP_TOP_BOTTOM: lambda x: x[::-1],
        Image.Transpose.ROTATE_90: lambda x: np.rot90(x, 1),  # counter-clockwise
        Image.Transpose.ROTATE_180: lambda x: np.rot90(x, 2),
        Image.Transpose.ROTATE_270: lambda x: np.rot90(x, -1),
        Image.Transpose.TRANSPOSE: lambda x: x.transpose(1, 0, 2),
        Image.Transpose.TRANSVERSE: lambda x: np.rot90(x, 2).transpose(1, 0, 2),
    }
    return ops[how](a)


def gray_of(colour: np.ndarray) -> np.ndarray:
    """(H, W, C) float → (H, W) luminance."""
    if colour.shape[2] == 1:
        return colour[..., 0]
    return colour @ np.array([0.299, 0.587, 0.114], np.float32)


def to_gray(im: Image.Image, side: int = WORK_SIDE) -> np.ndarray:
    """Any PIL mode → float32 gray in [0, 1] (upright, transparency as paper, shrunk)."""
    return gray_of(to_colour(im, side))


def _paper_level(g: np.ndarray) -> np.ndarray:
    """The paper's level under the ink, per pixel, for an ink-bright channel: a wide minimum
    filter (a sixth of the image) erases the strokes, even a tight crop's thick ones, and leaves
    the unevenly lit paper; soft shadows follow, a hard shadow edge leaves a band. Found on a
    ``PAPER_SIDE`` copy: light and shadows vary slowly, and a wide erosion at full resolution
    was once 53 of the 57 s a phone photo took. (On an image already 28×28 it also thins a
    bold font's blobs, which read better so than solid: 2 of 300 digits.)"""
    h, w = g.shape
    f = min(1.0, PAPER_SIDE / min(h, w))
    small = g if f >= 1 else cv2.resize(g, (round(w * f), round(h * f)), cv2.INTER_AREA)
    k = max(3, (min(small.shape) // 6) | 1)
    paper = cv2.erode(small, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    paper = cv2.blur(paper, (k, k))
    return paper if f >= 1 else cv2.resize(paper, (w, h), interpolation=cv2.INTER_LINEAR)


def dark_ink(gray: np.ndarray) -> bool:
    """Whether the ink is darker than the paper: ink is the longer tail of the image's levels
    around the paper's. A small image (a crop) is mostly paper, so its median is the paper's
    level. A photo is first flattened (less a wide blur of itself), so a dim page, a gradient,
    a soft shadow or a dark desk at its edge leave the tails alone; 0.1% of the pixels make a
    tail, as the strokes of a small letter on a phone photo do."""
    h, w = gray.shape
    if min(h, w) < SMALL:
        r = gray - float(np.median(gray))
    else:
        f = PAPER_SIDE / min(h, w)
        small = gray if f >= 1 else cv2.resize(gray, (round(w * f), round(h * f)), cv2.INTER_AREA)
        wide = cv2.GaussianBlur(small, (0, 0), min(small.shape) / 4)
        r = gray - (wide if f >= 1 else cv2.resize(wide, (w, h), interpolation=cv2.INTER_LINEAR))
    lo, hi = np.percentile(r, [0.1, 99.9])
    return bool(-lo > hi)


def ink_map(colour: np.ndarray) -> tuple[np.ndarray, bool, float]:
    """Ink strength in [0, 1] (1 = full ink), whether the paper was light (so we inverted), and
    the ink's contrast against the paper (0-1). ``colour``: (H, W, C) or (H, W) float in [0, 1].

    Any ink colour reads: each channel is compared with its own paper level and the strongest
    difference counts (yellow highlighter on white is faint in gray, strong in blue)."""
    colour = colour[..., None] if colour.ndim == 2 else colour
    inverted = dark_ink(gray_of(colour))
    g = 1.0 - colour if inverted else colour  # ink is now bright on dark paper
    ink = np.max([np.clip(c - _paper_level(c), 0, None) for c in g.transpose(2, 0, 1)], axis=0)
    top = _ink_level(ink)
    if top < 0.05:  # less than 5% contrast anywhere: no writing
        raise ImageError("no ink found: the image looks blank")
    ink8 = np.clip(ink / top * 255, 0, 255).astype(np.uint8)
    t, _ = cv2.threshold(ink8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    lo, hi = (
        0.5 * t,
        max(t + 1.0, float(np.percentile(ink8[ink8 > t], 90)) if (ink8 > t).any() else 255),
    )
    return np.clip((ink8.astype(np.float32) - lo) / (hi - lo), 0, 1), inverted, top


def _ink_level(ink: np.ndarray) -> float:
    """The ink's strength over the paper: a high percentile of the ink map, leaving out what is
    not writing (``_page_edges``: a desk or the paper's edge would outshine a pencil)."""
    peak = float(ink.max())
    if peak <= 0:
        return 0.0
    if min(ink.shape) < SMALL:  # a crop: its symbol may well touch the edge
        return float(np.percentile(ink, 99.5))
    u8 = (ink * (255 / peak)).astype(np.uint8)
    t, rough = cv2.threshold(u8, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(rough)
    edges = 1 + np.flatnonzero(page_edges(stats[1:], ink.shape))
    rest = ink[~np.isin(labels, edges)] if len(edges) < n - 1 else ink
    return float(np.percentile(rest, 99.9))


def remove_lines(ink: np.ndarray) -> np.ndarray:
    """Ruled or squared paper: thin straight lines across most of the image go, when there are
    at least two of them in a direction (one long bar may be part of the symbol, a 7's top)."""
    h, w = ink.shape
    if min(h, w) < SMALL:  # a small image is a crop of the symbol, not a page
        return ink
    mask = (ink > 0.5).astype(np.uint8)
    lines = np.zeros_like(mask)
    for horizontal in (True, False):
        length, across = (w, h) if horizontal else (h, w)
        kernel = np.ones((1, length * 3 // 5) if horizontal else (length * 3 // 5, 1), np.uint8)
        found = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(found)
        thick = stats[1:, cv2.CC_STAT_HEIGHT if horizontal else cv2.CC_STAT_WIDTH]
        thin = 1 + np.flatnonzero(thick <= max(3, across // 50))
        if len(thin) >= 2:
            lines |= cv2.dilate(np.isin(labels, thin).astype(np.uint8), np.ones((3, 3), np.uint8))
    return np.where(lines > 0, 0, ink) if lines.any() else ink


def crop_to_ink(ink: np.ndarray) -> np.ndarray:
    """Crop to the largest symbol (see ``find_symbols``)."""
    boxes = find_symbols(ink)
    if not boxes:
        raise ImageError("no ink found: the image looks blank")
    return crop_box(ink, boxes[0])


def stroke_width(ink: np.ndarray) -> float:
    """Mean stroke width in px: area / (perimeter / 2), right for long thin strokes."""
    mask = (ink > 0.5).astype(np.uint8)
    contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    perimeter = sum(cv2.arcLength(c, True) for c in contours)
    return 2.0 * mask.sum() / perimeter if perimeter > 0 else 0.0


def thicken(ink: np.ndarray) -> np.ndarray:
    """Dilate strokes that would be thinner than MNIST's once the ink is scaled to 20 px."""
    width = stroke_width(ink)
    if width <= 0:
        return ink
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


def as8(a: np.ndarray) -> np.ndarray:
    """Float in [0, 1] → uint8."""
    return np.clip(a * 255 + 0.5, 0, 255).astype(np.uint8)


def notes_for(contrast: float, crop: np.ndarray, symbols: int) -> list[str]:
    """Why an input may read badly, in words for the page: very faint ink, very thin strokes
    (before thickening), several symbols."""
    notes = []
    if contrast < LOW_CONTRAST:
        notes.append(f"very low contrast: the ink differs from the paper by {contrast:.0%}")
    width = stroke_width(crop) * BOX / max(crop.shape)  # at the 20 px scale
    if 0 < width < THIN * STROKE:
        notes.append(f"strokes too thin: {width:.1f} px at MNIST's scale, thickened to {STROKE}")
    if symbols > 1:
        notes.append(f"several symbols: {symbols} found, the largest one is read")
    return notes


def preprocess(src: ImageSource, name: str = "image", keep_steps: bool = False) -> Preprocessed:
    """A photo or scan of dark-on-light (or light-on-dark) writing → an MNIST-like 28×28 uint8."""
    im = open_image(src, name, max_side=WORK_SIDE)
    size = im.info.get("full_size", im.size)
    try:
        colour = to_colour(im)
        ink, inverted, contrast = ink_map(colour)
        ink = remove_lines(ink)
        boxes = find_symbols(ink)
        if not boxes:
            raise ImageError("no ink found: the image looks blank")
        crop = crop_box(ink, boxes[0])
        thick = thicken(crop)
        out = fit_and_centre(thick)
    except ImageError as e:
        raise ImageError(f"{name}: {e}") from None
    steps = []
    if keep_steps:
        steps = [
            ("grayscale", as8(gray_of(colour))),
            ("ink (inverted)" if inverted else "ink", as8(ink)),
            ("cropped", as8(crop)),
            ("strokes", as8(thick)),
            ("28×28", out),
        ]
    gray = gray_of(colour)
    f = min(1.0, THUMB / max(gray.shape))
    thumb = cv2.resize(gray, (max(1, round(gray.shape[1] * f)), max(1, round(gray.shape[0] * f))),
                       interpolation=cv2.INTER_AREA)  # fmt: skip
    notes = notes_for(contrast, crop, len(boxes))
    return Preprocessed(out, inverted, size, steps, len(boxes), notes, as8(thumb))
