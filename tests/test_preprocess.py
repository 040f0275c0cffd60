import io

import numpy as np
import pytest
from PIL import Image

from engine.data.datasets import ImageError
from engine.data.preprocess import preprocess


def _digit_on_paper(digit: np.ndarray, scale: int = 8) -> Image.Image:
    """An MNIST digit drawn as dark ink on light, slightly uneven paper, at photo size."""
    big = np.asarray(Image.fromarray(digit).resize((28 * scale, 28 * scale), Image.BILINEAR))
    paper = np.linspace(215, 235, big.shape[1])[None, :]  # lighting gradient
    return Image.fromarray(np.clip(paper - big.astype(float) * 0.75, 0, 255).astype(np.uint8))


def _png(im: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=kw.pop("format", "PNG"), **kw)
    return buf.getvalue()


def _centre_of_mass(img: np.ndarray) -> tuple[float, float]:
    ys, xs = np.mgrid[0:28, 0:28]
    w = img.astype(float)
    return (ys * w).sum() / w.sum(), (xs * w).sum() / w.sum()


def test_real_greek_photos_become_mnist_like(greek_files):
    for path, _ in greek_files:
        r = preprocess(path, keep_steps=True)
        img = r.image
        assert img.shape == (28, 28) and img.dtype == np.uint8
        assert r.inverted, "dark ink on light paper must be inverted"
        ys, xs = np.nonzero(img > 40)
        assert max(np.ptp(ys), np.ptp(xs)) + 1 in range(17, 23), path  # longest side ~20 px
        cy, cx = _centre_of_mass(img)
        assert abs(cy - 13.5) < 1.5 and abs(cx - 13.5) < 1.5, path
        assert img.max() == 255 and (img == 0).mean() > 0.6  # black paper, white ink
        assert [name for name, _ in r.steps][-1] == "28×28"


def _best_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pixel correlation, allowing a shift of one pixel (centring rounds differently)."""
    a = a.astype(float).ravel()
    shifts = [np.roll(b, (dy, dx), (0, 1)) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    return max(np.corrcoef(a, s.astype(float).ravel())[0, 1] for s in shifts)


def test_a_photographed_digit_comes_back_close_to_the_original(mnist):
    for i in range(10):
        original = mnist.x_test[i].numpy()
        back = preprocess(_png(_digit_on_paper(original))).image
        assert _best_correlation(original, back) > 0.85, i


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "P", "CMYK", "I;16", "LA"])
def test_every_image_mode_gives_the_same_digit(mnist, mode):
    photo = _digit_on_paper(mnist.x_test[0].numpy())
    ref = preprocess(photo).image
    if mode == "I;16":
        im = Image.fromarray(np.asarray(photo).astype(np.uint16) * 257)
    elif mode == "RGBA":
        im = photo.convert("RGBA")
    else:
        im = photo.convert(mode)
    out = preprocess(_png(im, format="TIFF" if mode == "CMYK" else "PNG")).image
    assert np.abs(out.astype(int) - ref.astype(int)).mean() < 8


def test_transparent_background_counts_as_paper():
    rgba = np.zeros((100, 100, 4), np.uint8)
    rgba[20:80, 45:55] = (0, 0, 0, 255)  # a black bar on a transparent canvas
    img = preprocess(_png(Image.fromarray(rgba))).image
    ys, xs = np.nonzero(img > 128)
    assert np.ptp(ys) + 1 >= 18 and np.ptp(xs) + 1 <= 6  # a tall thin "1"


def test_exif_rotation_is_applied(mnist):
    photo = _digit_on_paper(mnist.x_test[0].numpy())
    upright = preprocess(photo).image
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to view": stored rotated the other way
    stored = photo.transpose(Image.Transpose.ROTATE_90)
    out = preprocess(_png(stored, format="JPEG", exif=exif, quality=95)).image
    assert np.abs(out.astype(int) - upright.astype(int)).mean() < 12


def test_light_ink_on_dark_is_not_inverted(mnist):
    r = preprocess(Image.fromarray(mnist.x_test[3].numpy()).resize((112, 112)))
    assert not r.inverted


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"", "empty"),
        (b"hello, this is not an image", "not an image"),
        (_png(Image.new("L", (50, 50), 128))[:60], "truncated|not a readable|not an image"),
        (_png(Image.new("L", (64, 64), 200)), "no ink"),
    ],
)
def test_bad_files_raise_clear_errors(payload, message):
    with pytest.raises(ImageError, match=message) as e:
        preprocess(payload, name="upload.png")
    assert "upload.png" in str(e.value)


def test_images_over_40_megapixels_are_refused_before_decoding():
    big = _png(Image.new("1", (8000, 6000), 1))
    with pytest.raises(ImageError, match="megapixels"):
        preprocess(big)
