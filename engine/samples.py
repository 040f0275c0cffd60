"""Few-shot sample sets: labelled 28×28 images from folders, ZIPs, the seed's CSV pair,
single uploads, or rendered synthetic Greek letters. Every image goes through
``engine.preprocess.preprocess`` so samples and training data meet in the same space.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from engine import EngineError
from engine.data import ImageError
from engine.preprocess import preprocess

GREEK = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "zeta": "ζ",
    "eta": "η", "theta": "θ", "iota": "ι", "kappa": "κ", "lambda": "λ", "mu": "μ",
    "nu": "ν", "xi": "ξ", "omicron": "ο", "pi": "π", "rho": "ρ", "sigma": "σ",
    "tau": "τ", "upsilon": "υ", "phi": "φ", "chi": "χ", "psi": "ψ", "omega": "ω",
}  # fmt: skip
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif"}
MAX_ZIP_BYTES = 200 * 2**20  # total uncompressed size of a ZIP's images
MAX_ZIP_ENTRIES = 2000
MAX_ENTRY_BYTES = 40 * 2**20
CLASS_NAME = re.compile(r"^[\w][\w .+-]{0,39}$")
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


def check_class_name(name: str) -> str:
    name = name.strip()
    if not CLASS_NAME.match(name):
        raise SampleError(
            f"class name {name[:40]!r} is not allowed: use 1-40 letters, digits, spaces, '-', '_'"
        )
    return name


def _preview(src) -> np.ndarray | None:
    try:
        from engine.preprocess import open_image, to_gray

        g = to_gray(open_image(src))
        h, w = g.shape
        s = 96 / max(h, w)
        small = cv2.resize(g, (max(1, round(w * s)), max(1, round(h * s))), cv2.INTER_AREA)
        return (small * 255).astype(np.uint8)
    except ImageError:
        return None


def sample_from_image(data: bytes, label: str, name: str) -> Sample:
    """One uploaded image → a Sample (raises ImageError naming the file)."""
    label = check_class_name(label)
    return Sample(preprocess(data, name=name).image, label, name, _preview(data))


def from_images(files: list[tuple[str, bytes]], label: str) -> SampleSet:
    """Several uploads of one class; bad files are listed in ``skipped``, not fatal."""
    out = SampleSet()
    for name, data in files:
        try:
            out.samples.append(sample_from_image(data, label, name))
        except ImageError as e:
            out.skipped.append(str(e))
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


def from_zip(data: bytes, name: str = "upload.zip") -> SampleSet:
    """A ZIP whose folders are the classes. Path tricks and oversize archives are refused."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError):
        raise SampleError(f"{name}: not a ZIP archive") from None
    infos = [i for i in zf.infolist() if not i.is_dir()]
    if len(infos) > MAX_ZIP_ENTRIES:
        raise SampleError(f"{name}: {len(infos)} files; the limit is {MAX_ZIP_ENTRIES}")
    for i in infos:
        p = PurePosixPath(i.filename.replace("\\", "/"))
        if p.is_absolute() or ".." in p.parts or re.match(r"^[A-Za-z]:", i.filename):
            raise SampleError(f"{name}: unsafe path {i.filename!r} in the archive; nothing added")
    if sum(i.file_size for i in infos) > MAX_ZIP_BYTES:
        raise SampleError(f"{name}: more than {MAX_ZIP_BYTES // 2**20} MB uncompressed")
    out = SampleSet()
    for i in sorted(infos, key=lambda i: i.filename):
        p = PurePosixPath(i.filename)
        if p.name.startswith(".") or "__MACOSX" in p.parts:
            continue
        if len(p.parts) < 2:
            out.skipped.append(f"{i.filename}: not in a class folder")
            continue
        if p.suffix.lower() not in IMAGE_SUFFIXES:
            out.skipped.append(f"{i.filename}: not an image file")
            continue
        if i.file_size > MAX_ENTRY_BYTES:
            out.skipped.append(f"{i.filename}: larger than {MAX_ENTRY_BYTES // 2**20} MB")
            continue
        try:
            label = check_class_name(p.parts[-2])
            out.samples.append(sample_from_image(zf.read(i), label, i.filename))
        except (ImageError, SampleError) as e:
            out.skipped.append(str(e))
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            out.skipped.append(f"{i.filename}: unreadable in the archive ({e})")
    if not out.samples:
        raise SampleError(
            f"{name}: no usable images in class folders; " + "; ".join(out.skipped[:3])
        )
    return out


def _csv_rows(data: bytes, name: str) -> list[list[str]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SampleError(f"{name}: not a text (UTF-8) CSV file") from None
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as e:
        raise SampleError(f"{name}: not a valid CSV file ({e})") from None
    return [row for row in rows if any(c.strip() for c in row)]


def from_csv_pair(data_csv: bytes, cat_csv: bytes) -> SampleSet:
    """The seed's pair: data.csv (784 pixel values 0-255 per row, white on black, an optional
    header) and letter_cat.csv (the class of each row)."""
    rows = _csv_rows(data_csv, "data.csv")
    cats = _csv_rows(cat_csv, "letter_cat.csv")
    if rows and not _is_number(rows[0][0]):
        rows = rows[1:]  # header
    if cats and len(cats) == len(rows) + 1:
        cats = cats[1:]
    if not rows:
        raise SampleError("data.csv has no rows")
    if len(cats) != len(rows):
        raise SampleError(f"data.csv has {len(rows)} rows but letter_cat.csv has {len(cats)}")
    out = SampleSet()
    for n, (row, cat) in enumerate(zip(rows, cats), start=1):
        if len(row) != 784:
            raise SampleError(f"data.csv line {n}: {len(row)} values; expected 784 (28×28)")
        try:
            px = np.array([float(v) for v in row])
        except ValueError:
            raise SampleError(f"data.csv line {n}: a value is not a number") from None
        if px.min() < 0 or px.max() > 255:
            raise SampleError(f"data.csv line {n}: values must be between 0 and 255")
        label = check_class_name(cat[-1] if cat else "")
        img = np.rint(px).astype(np.uint8).reshape(28, 28)
        out.samples.append(Sample(img, label, f"data.csv line {n}", img))
    return out


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def to_csv_pair(samples: SampleSet) -> tuple[bytes, bytes]:
    """Export as the seed's data.csv / letter_cat.csv (with headers)."""
    d, c = io.StringIO(), io.StringIO()
    dw, cw = csv.writer(d), csv.writer(c)
    dw.writerow([f"pixel{i}" for i in range(784)])
    cw.writerow(["letter"])
    for s in samples.samples:
        dw.writerow(s.image.ravel().tolist())
        cw.writerow([s.label])
    return d.getvalue().encode(), c.getvalue().encode()


def font_files() -> list[Path]:
    """The machine's DejaVu fonts (not the monospaced ones) the synthetic letters use."""
    found = []
    for d in FONT_DIRS:
        if d.is_dir():
            found += sorted(p for p in d.rglob("DejaVu*.ttf") if "Mono" not in p.name)
        if found:
            break
    if not found:
        raise SampleError("no DejaVu fonts found (apt-get install fonts-dejavu-core)")
    return found


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
    fonts = list(fonts or font_files())
    rng = np.random.default_rng(seed)
    out = SampleSet()
    for name in letters:
        for k in range(per_class):
            font = ImageFont.truetype(str(fonts[rng.integers(len(fonts))]), 96)
            im = Image.new("L", (160, 160), 255)
            ImageDraw.Draw(im).text((80, 80), GREEK[name], font=font, fill=0, anchor="mm")
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
            s = preprocess(photo, name=f"{name} {k + 1}")
            out.samples.append(Sample(s.image, name, f"synthetic {name} {k + 1}", photo[::2, ::2]))
    return out
