"""A visitor's Greek sample set and queries, kept on the server between page loads.

Stored under ``<runs>/.visitors/<visitor id>/greek/`` as ``samples.zip`` and ``queries.zip``,
in the format of ``engine.fewshot.files.to_zip`` (class folders of PNGs and a JSON manifest: the
very file a visitor downloads, and can upload again). Nothing is ever unpickled. Writes are atomic.
The sets live in the visitor's folder, so they expire with it: in hosted mode, when the visitor
is unseen for ``$ENGINE_VISITOR_IDLE_HOURS`` (``engine.runs.hosting.expire``, the one expiry).
In hosted mode each visitor's stored samples are capped in count and bytes.
"""

from __future__ import annotations

import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

from engine.fewshot.files import from_zip, to_zip
from engine.fewshot.samples import SampleError, SampleSet
from engine.runs import hosting
from engine.runs.hosting import Visitor
from engine.runs.store import atomic_write_bytes, runs_dir

KINDS = ("samples", "queries")  # the support set and the letters to recognise
FOLDER = "greek"


@dataclass(frozen=True)
class Usage:
    count: int  # samples and queries stored
    bytes: int  # their size on disk


def folder(visitor_id: str, root: Path | None = None) -> Path:
    """``<runs>/.visitors/<id>/greek``; the id must be a valid visitor token."""
    return hosting.visitor_dir(Path(root or runs_dir()), visitor_id) / FOLDER


def _path(visitor_id: str, kind: str, root: Path | None) -> Path:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    return folder(visitor_id, root) / f"{kind}.zip"


def load(visitor_id: str, kind: str, root: Path | None = None):
    """The visitor's stored set of ``kind`` (a SampleSet), or None when there is none.
    Raises SampleError when the stored file is damaged."""
    path = _path(visitor_id, kind, root)
    if not path.is_file():
        return None
    try:
        data = path.read_bytes()
    except OSError as e:
        raise SampleError(f"your stored {kind} cannot be read ({e.strerror})") from None
    return from_zip(data, f"stored {kind}", unlabelled=kind == "queries", allow_empty=True)


def _count(path: Path) -> int:
    """How many images a stored set holds (0 when none), without decoding them."""
    try:
        with zipfile.ZipFile(path) as zf:
            return sum(not n.startswith(".") and n.lower().endswith(".png") for n in zf.namelist())
    except (OSError, zipfile.BadZipFile):
        return 0


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def usage(visitor_id: str, root: Path | None = None) -> Usage:
    """How many samples and queries the visitor keeps here, and their bytes on disk."""
    paths = [_path(visitor_id, kind, root) for kind in KINDS]
    return Usage(sum(map(_count, paths)), sum(map(_size, paths)))


def _check_caps(by: Visitor, kind: str, count: int, size: int, root: Path) -> None:
    """Hosted mode: the visitor's samples and queries together stay under their caps
    (``engine.runs.hosting.Limits``: count and MB per visitor) and the server's total."""
    if not hosting.bound(by):
        return
    lim = hosting.Limits.from_env()
    old, kept = _path(by.id, kind, root), usage(by.id, root)
    total, total_size = kept.count - _count(old) + count, kept.bytes - _size(old) + size
    if total > lim.samples_per_visitor:
        raise hosting.HostingError(
            f"That makes {total} samples and queries; one visitor may keep "
            f"{lim.samples_per_visitor} on this shared server. Remove some first."
        )
    if total_size > lim.sample_mb_per_visitor * 2**20:
        raise hosting.HostingError(
            f"That makes {total_size / 2**20:.1f} MB of samples and queries; one visitor may "
            f"keep {lim.sample_mb_per_visitor} MB on this shared server. Remove some first."
        )
    hosting.check_storage(root, max(0, size - _size(old)))


def save(by: Visitor, kind: str, samples: SampleSet, root: Path | None = None) -> None:
    """Keep ``samples`` as the visitor's set of ``kind`` (replacing the stored one).

    Raises ``hosting.HostingError`` when a cap is hit and SampleError when the disk is full;
    the stored set is then the previous one, whole."""
    root = Path(root or runs_dir())
    path = _path(by.id, kind, root)
    data = to_zip(samples)
    _check_caps(by, kind, len(samples), len(data), root)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data)
    except OSError as e:
        msg = hosting.disk_full_message(e)
        raise SampleError(msg or f"your {kind} could not be saved ({e.strerror})") from None
    hosting.touch(root, by.id)  # the visitor's folder is in use (engine.runs.hosting.expire)


def forget(visitor_id: str, root: Path | None = None) -> None:
    """Remove the visitor's stored sample set and queries."""
    shutil.rmtree(folder(visitor_id, root), ignore_errors=True)
