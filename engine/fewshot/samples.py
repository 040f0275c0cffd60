"""Few-shot sample sets: labelled 28×28 images from folders, single uploads, or rendered
synthetic Greek letters (ZIPs and the seed's CSV pair: ``engine.fewshot.files``). Every image goes
through ``engine.data.preprocess.preprocess`` so samples and training data meet in the same space.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine import EngineError
from engine.data.datasets import ImageError
from engine.data.glyphs import fonts_under, render
from engine.data.preprocess import preprocess

GREEK = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "zeta": "ζ",
    "eta": "η", "theta": "θ", "iota": "ι", "kappa": "κ", "lambda": "λ", "mu": "μ",
    "nu": "ν", "xi": "ξ", "omicron": "ο", "pi": "π", "rho": "ρ", "sigma": "σ",
    "tau": "τ", "upsilon": "υ", "phi": "φ", "chi": "χ", "psi": "ψ", "omega": "ω",
}  # fmt: skip
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif"}
CLASS_NAME = re.compile(r"^[\w][\w .+-]{0,39}$")
UNLABELLED = ""  # the label of a query whose class is not known
FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts"))


class SampleError(EngineError, ValueError):
    """A sample file or archive that cannot be used; the message names the file or line."""


@dataclass(frozen=True)
class Sample:
    image: np.ndarray  # (28, 28) uint8, preprocessed
    label: str
    name: str  # file name or description, for tables
    raw: np.ndarray | None = None  # small grayscale preview of the original, uint8


@dataclass
class SampleSet:
    samples: list[Sample] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "name: why" for files left out
    notes: list[str] = field(default_factory=list)  # "name: note" for images that may read badly

    @property
    def labels(self) -> list[str]:
        return [s.label for s in self.samples]

    @property
    def classes(self) -> list[str]:
        return sorted(set(self.labels))

    @property
    def images(self) -> np.ndarray:
        return (
            np.stack([s.image for s in self.samples])
            if self.samples
            else np.zeros((0, 28, 28), np.uint8)
        )

    def counts(self) -> dict[str, int]:
        return {c: self.labels.count(c) for c in self.classes}

    def __len__(self) -> int:
        return len(self.samples)

    def merged(self, other: SampleSet) -> SampleSet:
        """A new set with ``other``'s samples appended (the originals are not changed)."""
        return SampleSet(self.samples + other.samples, self.skipped + other.skipped)

    @property
    def labelled(self) -> bool:
        """Whether every sample has a class (queries may have none)."""
        return bool(self.samples) and UNLABELLED not in self.labels

    def digest(self) -> str:
        """A fingerprint of the images, labels and names: equal sets give equal digests (for
        cache keys)."""
        h = hashlib.sha1(self.images.tobytes(), usedforsecurity=False)
        h.update("\0".join(self.labels + [s.name for s in self.samples]).encode())
        return h.hexdigest()


def check_class_name(name: str) -> str:
    name = name.strip()
    if not CLASS_NAME.match(name):
        raise SampleError(
            f"class name {name[:40]!r} is not allowed: use 1-40 letters, digits, spaces, '-', '_'"
        )
    return name


def sample_from_image(data: bytes, label: str, name: str, notes: list[str] | None = None) -> Sample:
    """One uploaded image → a Sample (raises ImageError naming the file). ``label`` may be
    UNLABELLED for a query whose class is not known. What may make it read badly (several
    symbols, faint ink, thin strokes) is added to ``notes`` as "name: note"."""
    label = check_class_name(label) if label != UNLABELLED else label
    pre = preprocess(data, name=name)
    if notes is not None:
        notes += [f"{name}: {n}" for n in pre.notes]
    return Sample(pre.image, label, name, pre.thumb)


Progress = Callable[[int, int], None]  # (images done, images in all), e.g. for a progress bar


def from_images(
    files: list[tuple[str, bytes]], label: str, progress: Progress | None = None
) -> SampleSet:
    """Several uploads of one class (or UNLABELLED queries); bad files are listed in
    ``skipped``, not fatal. ``progress`` is called after each image."""
    out = SampleSet()
    for k, (name, data) in enumerate(files, start=1):
        try:
            out.samples.append(sample_from_image(data, label, name, out.notes))
        except ImageError as e:
            out.skipped.append(str(e))
        if progress:
            progress(k, len(files))
    return out


def from_folder(root: Path | str) -> SampleSet:
    """A folder with one subfolder per class (the CLI's --support/--query)."""
    root = Path(root)
    if not root.is_dir():
        raise SampleError(f"{root} is not a folder")
    out = SampleSet()
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        part = from_images([(str(p), p.read_bytes()) for p in files], d.name)
        out = out.merged(part)
    if not out.samples:
        raise SampleError(f"{root} has no images in class subfolders (e.g. {root}/alpha/1.png)")
    return out


def font_files() -> list[Path]:
    """The machine's DejaVu fonts (not the monospaced ones) the synthetic letters use."""
    for d in FONT_DIRS:
        if found := [p for p in fonts_under(d, "DejaVu*") if "Mono" not in p.name]:
            return found
    raise SampleError("no DejaVu fonts found (apt-get install fonts-dejavu-core)")


def synthetic_greek(
    letters: list[str] = ("alpha", "beta", "gamma"),
    per_class: int = 9,
    seed: int = 0,
    fonts: list[Path] | None = None,
) -> SampleSet:
    """Greek letters rendered from the machine's fonts (or ``fonts``) with random stroke width,
    rotation, shear, scale and elastic distortion, as dark ink on light paper, then preprocessed
    like any photo. Deterministic for a given seed."""
    unknown = [x for x in letters if x not in GREEK]
    if unknown:
        raise SampleError(f"unknown Greek letters {unknown}; choose from {', '.join(GREEK)}")
    return synthetic_glyphs({name: GREEK[name] for name in letters}, per_class, seed, fonts)


def synthetic_glyphs(
    glyphs: dict[str, str], per_class: int, seed: int = 0, fonts: list[Path] | None = None
) -> SampleSet:
    """Any characters (class name → character) rendered as ``synthetic_greek`` renders letters
    (``engine.data.glyphs.render``), each preprocessed like a photo."""
    out = SampleSet()
    for n, k, photo in render(glyphs, per_class, seed, list(fonts or font_files())):
        image = preprocess(photo, name=f"{n} {k + 1}").image
        out.samples.append(Sample(image, n, f"synthetic {n} {k + 1}", photo[::2, ::2]))
    return out
