"""The inputs real users bring, each generated here: every one either becomes the MNIST-like
digit it shows (compared with the source digit, pixel by pixel) or gets a message saying why not.
The preview steps are asserted too: they are what the page shows when a reading looks wrong."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from engine.data import photos
from engine.data.datasets import ImageError
from engine.data.preprocess import preprocess

STEPS = ["grayscale", "ink", "cropped", "strokes", "28×28"]


def _encode(a: np.ndarray | Image.Image, fmt: str = "PNG", **kw) -> bytes:
    im = a if isinstance(a, Image.Image) else Image.fromarray(a)
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Pixel correlation of two 28×28 images, allowing a shift of a pixel (centring rounds)."""
    a = a.astype(float).ravel()
    return max(
        np.corrcoef(a, np.roll(b, (dy, dx), (0, 1)).astype(float).ravel())[0, 1]
        for dy in (-1, 0, 1)
        for dx in (-1, 0, 1)
    )


def _ink(digit: np.ndarray, side: int) -> np.ndarray:
    """The digit's ink coverage (0-1) at ``side`` px, smooth like a pen stroke."""
    big = cv2.resize(digit.astype(np.float32) / 255, (side, side), interpolation=cv2.INTER_CUBIC)
    return np.clip(big, 0, 1)


def _check(pre, digit: np.ndarray, inverted: bool | None = None, min_sim: float = 0.8) -> None:
    assert [n.split(" ")[0] for n, _ in pre.steps] == STEPS
    assert all(s.dtype == np.uint8 and s.size for _, s in pre.steps)
    assert pre.steps[-1][1].shape == (28, 28) and (pre.steps[-1][1] == pre.image).all()
    if inverted is not None:
        assert pre.inverted is inverted
        assert pre.steps[1][0] == ("ink (inverted)" if inverted else "ink")
    assert _similarity(digit, pre.image) > min_sim


@pytest.fixture(scope="module")
def digit(mnist):
    return mnist.x_test[0].numpy()  # a 7


def test_dark_ink_on_light_paper(digit):
    a = np.clip(230 - 200 * _ink(digit, 400), 0, 255).astype(np.uint8)
    _check(preprocess(_encode(a), keep_steps=True), digit, inverted=True)


def test_light_ink_on_dark_like_a_tablet_or_screenshot(digit):
    a = np.clip(30 + 210 * _ink(digit, 400), 0, 255).astype(np.uint8)
    _check(preprocess(_encode(a), keep_steps=True), digit, inverted=False)


@pytest.mark.parametrize("dark_on_light", [False, True])
def test_images_already_28_by_28_in_either_polarity(mnist, dark_on_light):
    for i in range(10):
        d = mnist.x_test[i].numpy()
        a = 255 - d if dark_on_light else d
        pre = preprocess(_encode(a), keep_steps=True)
        _check(pre, d, inverted=dark_on_light, min_sim=0.85)


def test_thin_uniform_tablet_strokes_are_thickened_and_said():
    def seven(width: int) -> np.ndarray:  # a 7 drawn with a tablet pen of ``width`` px
        a = np.full((600, 600), 250, np.uint8)
        cv2.polylines(a, [np.int32([(170, 140), (430, 140), (260, 470)])], False, 15, width)
        return a

    thin = preprocess(_encode(seven(2)), keep_steps=True)
    bold = preprocess(_encode(seven(36)), keep_steps=True)  # MNIST's stroke at this size
    _check(thin, bold.image, inverted=True, min_sim=0.75)
    assert any(n.startswith("strokes too thin") for n in thin.notes), thin.notes
    assert not bold.notes
    assert (thin.steps[3][1] > 128).sum() > 4 * (thin.steps[2][1] > 128).sum()  # thickened


def test_yellow_highlighter_on_white_reads_in_colour(digit):
    ink = _ink(digit, 400)[..., None]
    a = (250 * (1 - ink) + np.array([250, 235, 40]) * ink).astype(np.uint8)  # gray: 8% darker
    _check(preprocess(_encode(a), keep_steps=True), digit, inverted=True)


def test_faint_pencil_reads_and_says_the_contrast_is_low(digit):
    a = np.clip(220 - 25 * _ink(digit, 400), 0, 255).astype(np.uint8)
    pre = preprocess(_encode(a), keep_steps=True)
    _check(pre, digit, inverted=True)
    assert any(n.startswith("very low contrast") for n in pre.notes), pre.notes


def test_shadow_and_uneven_light(digit):
    ink = _ink(digit, 300)
    page = np.zeros((600, 600), np.float32)
    page[150:450, 150:450] = ink
    yy, xx = np.mgrid[0:600, 0:600]
    shadow = cv2.GaussianBlur(np.where(xx + 0.3 * yy > 380, 0.6, 1.0), (0, 0), 40)  # a phone's
    light = shadow * (0.8 + 0.4 * yy / 600)  # soft shadow over half the digit, and a gradient
    a = np.clip((235 - 200 * page) * light, 0, 255).astype(np.uint8)
    _check(preprocess(_encode(a), keep_steps=True), digit, inverted=True)


@pytest.mark.parametrize("squared", [False, True])
def test_ruled_or_squared_paper_lines_go(digit, squared):
    a = np.full((600, 600, 3), 245, np.float32)
    for k in range(20, 600, 40):
        a[k : k + 2, :] = (150, 180, 230)  # blue rules
        if squared:
            a[:, k : k + 2] = (150, 180, 230)
    ink = np.zeros((600, 600), np.float32)
    ink[140:460, 140:460] = _ink(digit, 320)
    a = a * (1 - ink[..., None]) + 30 * ink[..., None]
    pre = preprocess(_encode(a.astype(np.uint8)), keep_steps=True)
    _check(pre, digit, inverted=True, min_sim=0.75)
    assert pre.symbols == 1


def test_exif_rotation_of_a_phone_photo(digit):
    rng = np.random.default_rng(0)
    upright = photos.photograph(digit, rng, (600, 800))
    exif = Image.Exif()
    exif[0x0112] = 8  # "rotate 90° counter-clockwise to view": stored turned clockwise
    stored = Image.fromarray(upright).transpose(Image.Transpose.ROTATE_270)
    pre = preprocess(_encode(stored, "JPEG", exif=exif, quality=90), keep_steps=True)
    assert pre.steps[0][1].shape[0] > pre.steps[0][1].shape[1]  # upright: taller than wide
    _check(pre, digit, inverted=True, min_sim=0.7)


@pytest.mark.parametrize("ink_rgb", [(0, 0, 0), (255, 255, 255), (20, 60, 200)])
def test_transparent_png_background_counts_as_paper(digit, ink_rgb):
    alpha = (_ink(digit, 200) * 255).astype(np.uint8)
    rgba = np.zeros((200, 200, 4), np.uint8)
    rgba[..., :3] = ink_rgb
    rgba[..., 3] = alpha  # only the strokes are opaque
    _check(preprocess(_encode(rgba), keep_steps=True), digit, min_sim=0.85)


def test_two_symbols_in_one_photo_the_largest_is_read_and_said(mnist, digit):
    other = mnist.x_test[2].numpy()  # a 1
    a = np.full((400, 800), 235, np.float32)
    a[60:340, 40:320] -= 200 * _ink(digit, 280)  # the larger symbol
    a[120:300, 520:700] -= 200 * _ink(other, 180)
    pre = preprocess(_encode(np.clip(a, 0, 255).astype(np.uint8)), keep_steps=True)
    assert pre.symbols == 2
    assert any(n.startswith("several symbols: 2 found") for n in pre.notes)
    _check(pre, digit, inverted=True)


def test_a_phone_photo_with_the_desk_beyond_the_paper(digit):
    hits = 0
    for seed in range(12):
        rgb = photos.photograph(digit, np.random.default_rng(seed), (600, 800))
        pre = preprocess(_encode(rgb, "JPEG", quality=80), keep_steps=True)
        hits += _similarity(digit, pre.image) > 0.7
    assert hits >= 11


@pytest.mark.parametrize("level", [0, 128, 250])
def test_a_near_blank_photo_gets_a_clear_message(level):
    rng = np.random.default_rng(level)
    a = np.clip(level + rng.normal(0, 1.5, (300, 400)), 0, 255).astype(np.uint8)
    with pytest.raises(ImageError, match="no ink found: the image looks blank") as e:
        preprocess(_encode(a, "JPEG", quality=90), name="blank.jpg")
    assert str(e.value).startswith("blank.jpg: ")


@pytest.mark.parametrize("seed", range(4))
def test_any_ink_map_gives_boxes_inside_it_never_an_error(seed):
    """Random rectangles of ink (bars, specks, frames, things touching the edge) on many image
    sizes: find_symbols returns boxes inside the image, the largest first, and never raises."""
    from engine.data.symbols import find_symbols

    rng = np.random.default_rng(seed)
    for _ in range(300):
        h, w = (int(v) for v in rng.integers(20, 300, 2))
        ink = np.zeros((h, w), np.float32)
        for _ in range(int(rng.integers(1, 9))):
            y, x = int(rng.integers(0, h)), int(rng.integers(0, w))
            ink[y : y + int(rng.integers(1, h)), x : x + int(rng.integers(1, w))] = rng.random()
        for x, y, bw, bh in find_symbols(ink):
            assert 0 <= x and 0 <= y and bw > 0 and bh > 0 and x + bw <= w and y + bh <= h
