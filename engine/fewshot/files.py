"""A sample set's files: a ZIP of class folders (upload, download, and the server's storage
of a visitor's set) and the seed's CSV pair (data.csv / letter_cat.csv). Bad input is refused
with a SampleError naming the file, entry or line; nothing is ever unpickled.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from pathlib import PurePosixPath

import numpy as np
from PIL import Image

from engine.data.datasets import ImageError
from engine.data.preprocess import open_image
from engine.fewshot.samples import (
    IMAGE_SUFFIXES,
    UNLABELLED,
    Progress,
    Sample,
    SampleError,
    SampleSet,
    check_class_name,
    sample_from_image,
)

MAX_ZIP_BYTES = 200 * 2**20  # total uncompressed size of a ZIP's images
MAX_ZIP_ENTRIES = 2000
MAX_ENTRY_BYTES = 40 * 2**20
MANIFEST = "samples.json"  # in ZIPs this module writes: each image's name and original
ORIGINALS = ".originals"  # folder of the originals' previews in those ZIPs


def from_zip(
    data: bytes,
    name: str = "upload.zip",
    unlabelled: bool = False,
    allow_empty: bool = False,
    progress: Progress | None = None,
) -> SampleSet:
    """A ZIP whose folders are the classes. Path tricks and oversize archives are refused.

    With ``unlabelled``, images at the top level (in no folder) are queries of unknown class.
    A ZIP written by ``to_zip`` gives back the very same 28×28 images, names and originals (its
    manifest lists them); images added to its folders by hand are prepared like any photo.
    ``progress`` is called after each file.
    """
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
    listed = _manifest(zf)
    rank = {f: k for k, f in enumerate(listed)}  # the manifest's order first, then by name
    out = SampleSet()
    ordered = sorted(infos, key=lambda i: (rank.get(i.filename, len(rank)), i.filename))
    for k, i in enumerate(ordered, start=1):
        if progress:
            progress(k - 1, len(ordered))
        p = PurePosixPath(i.filename)
        if (
            any(x.startswith(".") for x in p.parts)
            or "__MACOSX" in p.parts
            or i.filename == MANIFEST
        ):
            continue
        if len(p.parts) < 2 and not unlabelled:
            out.skipped.append(f"{i.filename}: not in a class folder")
            continue
        if p.suffix.lower() not in IMAGE_SUFFIXES:
            out.skipped.append(f"{i.filename}: not an image file")
            continue
        if i.file_size > MAX_ENTRY_BYTES:
            out.skipped.append(f"{i.filename}: larger than {MAX_ENTRY_BYTES // 2**20} MB")
            continue
        try:
            label = check_class_name(p.parts[-2]) if len(p.parts) > 1 else UNLABELLED
            raw = zf.read(i)
            entry = listed.get(i.filename)
            prepared = _prepared(raw) if entry is not None else None
            if prepared is not None:
                original = _prepared(_read(zf, entry.get("original")), max_side=256)
                out.samples.append(Sample(prepared, label, entry["name"], original))
            else:
                out.samples.append(sample_from_image(raw, label, i.filename, out.notes))
        except (ImageError, SampleError) as e:
            out.skipped.append(str(e))
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            out.skipped.append(f"{i.filename}: unreadable in the archive ({e})")
    if progress:
        progress(len(ordered), len(ordered))
    if not out.samples and not allow_empty:
        raise SampleError(
            f"{name}: no usable images in class folders; " + "; ".join(out.skipped[:3])
        )
    return out


def _manifest(zf: zipfile.ZipFile) -> dict[str, dict]:
    """``to_zip``'s manifest: {file in the ZIP: {"name", "original"}}, in the set's order;
    {} when there is none or it is not one (then every image is prepared like a photo)."""
    try:
        doc = json.loads(_read(zf, MANIFEST) or b"{}")
        rows = doc.get("samples", []) if isinstance(doc, dict) else []
        return {
            r["file"]: {"name": str(r.get("name", r["file"]))[:200], "original": r.get("original")}
            for r in rows
            if isinstance(r, dict) and isinstance(r.get("file"), str)
        }
    except (ValueError, UnicodeDecodeError):
        return {}


def _read(zf: zipfile.ZipFile, member: object) -> bytes | None:
    """A small member's bytes, or None when it is absent, too big or unreadable."""
    try:
        info = zf.getinfo(member) if isinstance(member, str) else None
        return zf.read(info) if info is not None and info.file_size <= 2**20 else None
    except (KeyError, zipfile.BadZipFile, OSError, EOFError):
        return None


def _prepared(data: bytes | None, max_side: int = 28) -> np.ndarray | None:
    """A grayscale PNG as written by ``to_zip`` (28×28 for a sample) as uint8, else None."""
    if not data:
        return None
    try:
        im = open_image(data, "sample")
    except ImageError:
        return None
    ok = im.mode == "L" and (im.size == (28, 28) if max_side == 28 else max(im.size) <= max_side)
    return np.asarray(im, np.uint8).copy() if ok else None


def _png(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(img, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def to_zip(samples: SampleSet) -> bytes:
    """The set as a ZIP of class folders (``alpha/0001.png`` …, the prepared 28×28 images;
    unlabelled queries at the top level), with a manifest of names and originals, so that
    ``from_zip`` gives back the very same set. Also the server's storage format."""
    buf = io.BytesIO()
    rows = []
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:  # PNGs are compressed already
        for k, s in enumerate(samples.samples, start=1):
            row = {"file": f"{s.label}/{k:04d}.png" if s.label else f"{k:04d}.png", "name": s.name}
            zf.writestr(row["file"], _png(s.image))
            if s.raw is not None:
                row["original"] = f"{ORIGINALS}/{k:04d}.png"
                zf.writestr(row["original"], _png(s.raw))
            rows.append(row)
        zf.writestr(MANIFEST, json.dumps({"format": 1, "samples": rows}, indent=1))
    return buf.getvalue()


def _csv_rows(data: bytes, name: str) -> list[tuple[int, list[str]]]:
    """(line number in the file, cells) of each non-blank row."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SampleError(f"{name}: not a text (UTF-8) CSV file") from None
    out = []
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        line = 1
        for row in reader:
            if any(c.strip() for c in row):
                out.append((line, row))
            line = reader.line_num + 1
    except csv.Error as e:
        raise SampleError(f"{name}: not a valid CSV file ({e})") from None
    return out


def _is_header(row: list[str]) -> bool:
    """A header row: names (``pixel0``…), or the column numbers pandas writes (``,0,1,…``)."""
    cells = [c.strip() for c in row]
    if cells and cells[0] == "":
        cells = cells[1:]  # pandas' index column has no name
    return not all(_is_number(c) for c in cells) or cells == [str(i) for i in range(len(cells))]


def _pixels(cells: list[str], line: int) -> np.ndarray:
    """One data.csv row → (28, 28) uint8, white ink on black; raises naming the line."""
    where = f"data.csv line {line}"
    if len(cells) == 785:  # pandas' to_csv writes the row index first
        if not (_is_number(cells[0]) and float(cells[0]).is_integer()):
            raise SampleError(
                f"{where}: 785 values, but the first ({cells[0][:20]!r}) is not a row index; "
                "expected 784 pixel values (28×28), or a row index and 784 values"
            )
        cells = cells[1:]
    if len(cells) != 784:
        raise SampleError(
            f"{where}: {len(cells)} values; expected 784 (28×28), or 785 with a row index first"
        )
    try:
        px = np.array([float(v) for v in cells])
    except ValueError:
        bad = next(k for k, v in enumerate(cells) if not _is_number(v))
        raise SampleError(
            f"{where}: value {bad + 1} ({cells[bad][:20]!r}) is not a number"
        ) from None
    if not np.isfinite(px).all() or px.min() < 0 or px.max() > 255:
        raise SampleError(f"{where}: values must be between 0 and 255")
    img = px.reshape(28, 28)
    if img.max() - img.min() < 1:
        raise SampleError(f"{where}: the image is blank (every pixel is {img.flat[0]:g})")
    edge = np.median(np.concatenate([img[:2].ravel(), img[-2:].ravel(), img[:, :2].ravel(),
                                     img[:, -2:].ravel()]))  # fmt: skip
    if edge >= 192:  # black ink on white paper: make it white on black like the digits
        img = 255 - img
    elif edge > 64:
        raise SampleError(
            f"{where}: neither white ink on black nor black ink on white (the border pixels "
            f"are grey, median {edge:g}); the letter should stand out from a plain background"
        )
    return np.rint(img).astype(np.uint8)


def from_csv_pair(data_csv: bytes, cat_csv: bytes) -> SampleSet:
    """The seed's pair: data.csv (784 pixel values 0-255 per row; a header and a leading row
    index, as pandas' ``to_csv`` writes them, are fine) and letter_cat.csv (the class of each
    row, in its last column). White ink on black is taken as it is, black ink on white is
    inverted; any other row is refused with a message naming its line in the file."""
    rows = _csv_rows(data_csv, "data.csv")
    cats = _csv_rows(cat_csv, "letter_cat.csv")
    if rows and _is_header(rows[0][1]):
        rows = rows[1:]
    if cats and len(cats) == len(rows) + 1:
        cats = cats[1:]  # its header
    if not rows:
        raise SampleError("data.csv has no rows")
    if len(cats) != len(rows):
        raise SampleError(f"data.csv has {len(rows)} rows but letter_cat.csv has {len(cats)}")
    out = SampleSet()
    for (line, row), (cat_line, cat) in zip(rows, cats, strict=True):
        img = _pixels(row, line)
        try:
            label = check_class_name(cat[-1])
        except SampleError as e:
            raise SampleError(f"letter_cat.csv line {cat_line}: {e}") from None
        out.samples.append(Sample(img, label, f"data.csv line {line}", img))
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
