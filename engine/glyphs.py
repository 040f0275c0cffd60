"""Extra training classes: Latin letters rendered from handwriting-style fonts.

A digit network learns ten shapes, and its conv features are what the Greek page and the
webcam's Greek mode reuse for symbols it never saw. Learning more shapes beside the digits
(``TrainConfig.glyphs``) makes those features carry over better to new symbols from other hands
(README, "Few-shot transfer"). The extra classes are outputs that only training uses
(``ModelConfig.aux_classes``): the trained model still answers over the digits alone.

No Greek letter and no digit is among the glyphs, and none of their fonts is one that the
synthetic Greek letters (DejaVu) use, so the benchmark's letter proxies stay unseen.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import torch

from engine import EngineError
from engine.config import ConfigError
from engine.data import data_dir

# Capitals, and the small letters whose shape differs from their capital once cropped and
# scaled ("o" and "O" are one shape). Class name → character.
LATIN = {c: c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"} | {f"{c}_": c for c in "abdefghijmnqrty"}
GLYPH_SETS = {"latin-hand": LATIN}
PER_CLASS = 200  # rendered images per class (8,200 in all: about as many as the MNIST subset)
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


def check_glyphs(name: str, aux_classes: int) -> None:
    """ConfigError unless ``name`` is "" or a glyph set, and the model has one extra output for
    each of its classes (``TrainConfig.validate`` asks)."""
    if name and name not in GLYPH_SETS:
        raise ConfigError(f"glyphs must be one of {list(GLYPH_SETS)} or empty, not {name!r}")
    extra = len(GLYPH_SETS[name]) if name else 0
    if aux_classes != extra:
        raise ConfigError(f"glyphs {name!r} needs model.aux_classes={extra}, not {aux_classes}")


def glyph_count(name: str) -> int:
    """Training examples that the glyph set ``name`` adds to each epoch ("" adds none)."""
    return len(GLYPH_SETS[name]) * PER_CLASS if name else 0


def fonts_in(folders, root: Path = FONT_ROOT) -> list[Path]:
    """The .ttf/.otf files in the font folders of these names under ``root``, sorted."""
    return sorted(
        p for d in folders for p in root.rglob(f"{d}/*") if p.suffix.lower() in {".ttf", ".otf"}
    )


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
    photo (``engine.samples.synthetic_glyphs``). Rendered once (about 20 s), then read from
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
    from engine.samples import synthetic_glyphs

    s = synthetic_glyphs(glyphs, per_class, seed=SEED, fonts=fonts)
    labels = np.array([list(glyphs).index(v) for v in s.labels], np.int64)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.npz")
    np.savez(tmp, x=s.images, y=labels)
    tmp.replace(path)
