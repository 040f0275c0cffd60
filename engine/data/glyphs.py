"""Extra training classes: Latin letters rendered from handwriting-style fonts.

A digit network learns ten shapes, and its conv features are what the Greek page and the
webcam's Greek mode reuse for symbols it never saw. Learning more shapes beside the digits
(``TrainConfig.glyphs``) makes those features carry over better to new symbols from other hands
(docs/fewshot.md, "Few-shot transfer"). The extra classes are outputs that only training uses
(``ModelConfig.aux_classes``): the trained model still answers over the digits alone.

No Greek letter and no digit is among the glyphs, and none of their fonts is one that the
synthetic Greek letters (DejaVu) use, so the benchmark's letter proxies stay unseen.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from engine import EngineError
from engine.data.datasets import data_dir
from engine.data.preprocess import preprocess
from engine.glyph_sets import GLYPH_SETS, PER_CLASS

# Capitals, and the small letters whose shape differs from their capital once cropped and
# scaled ("o" and "O" are one shape). Class name → character.
SEED = 7
# Font folders under /usr/share/fonts and the Debian packages that install them.
HAND_FONTS = {
    "bwht": "fonts-bwht",
    "fifthhorseman": "fonts-dkg-handwriting",
    "breip": "fonts-breip",
    "femkeklaver": "fonts-femkeklaver",
    "rufscript": "fonts-rufscript",
    "humor-sans": "fonts-humor-sans",
    "comic-neue": "fonts-comic-neue",
}
FONT_ROOT = Path("/usr/share/fonts")


class GlyphError(EngineError):
    """The glyph classes cannot be made here (their fonts are missing)."""


def fonts_under(root: Path, pattern: str = "*") -> list[Path]:
    """The .ttf/.otf files under ``root`` whose path ends as ``pattern``, sorted: the one font
    finder (handwriting fonts here, DejaVu for ``engine.fewshot.samples``, script fonts in
    bench/)."""
    return sorted(p for p in root.rglob(pattern) if p.suffix.lower() in {".ttf", ".otf"})


def fonts_in(folders, root: Path = FONT_ROOT) -> list[Path]:
    """The font files in the font folders of these names under ``root``, sorted."""
    return sorted(p for d in folders for p in fonts_under(root, f"{d}/*"))


def hand_fonts(root: Path = FONT_ROOT) -> list[Path]:
    """The handwriting-style font files of every HAND_FONTS folder that is here; GlyphError
    naming the packages when none is."""
    found = fonts_in(HAND_FONTS, root)
    if not found:
        packages = " ".join(HAND_FONTS.values())
        raise GlyphError(f"no handwriting fonts under {root}: apt-get install {packages}")
    return found


def glyph_data(name: str, root: Path | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The glyph set ``name`` as (images (N, 28, 28) uint8, labels 0..K-1), preprocessed like a
    photo. Rendered once (about 20 s), then read from
    ``data/glyphs-NAME-PER_CLASS.npz``."""
    if name not in GLYPH_SETS:
        raise GlyphError(f"unknown glyph set {name!r}; choose from {', '.join(GLYPH_SETS)}")
    path = Path(root or data_dir()) / f"glyphs-{name}-{PER_CLASS}.npz"
    return rendered(GLYPH_SETS[name], path, PER_CLASS, hand_fonts)


def rendered(
    glyphs: dict[str, str], path: Path, per_class: int, fonts
) -> tuple[torch.Tensor, torch.Tensor]:
    """``glyphs`` (class name → character) rendered ``per_class`` times each from ``fonts()``
    (called only when rendering), kept at ``path`` as plain arrays (no pickles): (images,
    labels in glyph order). A damaged file is rendered again."""
    for _ in range(2):
        if not path.is_file():
            _render(glyphs, path, per_class, fonts())
        try:
            with np.load(path, allow_pickle=False) as z:
                x, y = z["x"], z["y"]
            if (
                x.shape[1:] == (28, 28)
                and len(x) == len(y)
                and 0 <= y.min() <= y.max() < len(glyphs)
            ):
                return torch.from_numpy(x), torch.from_numpy(y)
        except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile):
            pass
        path.unlink(missing_ok=True)
    raise GlyphError(f"{path} could not be written and read back")


def _render(glyphs: dict[str, str], path: Path, per_class: int, fonts: list[Path]) -> None:
    photos = render(glyphs, per_class, seed=SEED, fonts=fonts)
    x = np.stack([preprocess(p, name=f"{name} {k + 1}").image for name, k, p in photos])
    labels = np.array([list(glyphs).index(name) for name, _, _ in photos], np.int64)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.npz")
    np.savez(tmp, x=x, y=labels)
    tmp.replace(path)


def render(
    glyphs: dict[str, str], per_class: int, seed: int, fonts: list[Path]
) -> list[tuple[str, int, np.ndarray]]:
    """Each character (class name → character) ``per_class`` times from a random font of
    ``fonts`` with random stroke width, rotation, shear, scale and elastic distortion, as dark
    ink on light paper: (class name, k, photo (160, 160) uint8). Deterministic for a seed."""
    rng = np.random.default_rng(seed)
    out = []
    for name, char in glyphs.items():
        for k in range(per_class):
            font = ImageFont.truetype(str(fonts[rng.integers(len(fonts))]), 96)
            im = Image.new("L", (160, 160), 255)
            ImageDraw.Draw(im).text((80, 80), char, font=font, fill=0, anchor="mm")
            a = 255 - np.asarray(im, np.float32)  # ink bright
            grow = int(rng.integers(0, 3))  # stroke width
            if grow:
                a = cv2.dilate(a, np.ones((grow, grow), np.uint8))
            angle, shear = rng.uniform(-15, 15), rng.uniform(-0.3, 0.3)
            scale = rng.uniform(0.8, 1.1)
            m = cv2.getRotationMatrix2D((80, 80), angle, scale)
            m[0, 1] += shear
            m[0, 2] -= shear * 80
            a = cv2.warpAffine(a, m, (160, 160))
            # Elastic distortion: smooth random displacement fields (Simard et al. 2003).
            dx, dy = (
                cv2.GaussianBlur(rng.uniform(-1, 1, (160, 160)).astype(np.float32), (0, 0), 8) * 120
                for _ in range(2)
            )
            ys, xs = np.mgrid[0:160, 0:160].astype(np.float32)
            a = cv2.remap(a, xs + dx, ys + dy, cv2.INTER_LINEAR)
            photo = np.clip(235 - a * 0.85 + rng.normal(0, 4, a.shape), 0, 255).astype(np.uint8)
            out.append((name, k, photo))
    return out
