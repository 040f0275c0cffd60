"""The glyph sets a training can add beside its dataset's classes (``TrainConfig.glyphs``): class
name → character. Data only, so that configs can check a set's name without rendering anything
(``engine.data.glyphs`` renders them)."""

from __future__ import annotations

LATIN = {c: c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"} | {f"{c}_": c for c in "abdefghijmnqrty"}
GLYPH_SETS = {"latin-hand": LATIN}
PER_CLASS = 200  # rendered images per class (8,200 in all: about as many as the MNIST subset)


def glyph_count(name: str) -> int:
    """Training examples that the glyph set ``name`` adds to each epoch ("" adds none)."""
    return len(GLYPH_SETS[name]) * PER_CLASS if name else 0
