"""Trained runs that tests share, kept between test sessions (not a test module).

A session fixture that trains runs calls ``kept(name, build)``: the runs folder is built once
under data/cache/tests and kept, keyed by the engine's source and torch's version, so a fresh
clone trains it once and `make test-fast` after an edit outside engine/ does not train it
again. Tests copy what they change; the kept folder is only read.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _engine_key() -> str:
    import torch

    h = hashlib.sha256(torch.__version__.encode())
    for src in sorted((ROOT / "engine").rglob("*.py")):
        h.update(src.read_bytes())
    return h.hexdigest()[:16]


def kept(name: str, build: Callable[[Path], None]) -> Path:
    """The folder ``build(folder)`` fills, built now or by an earlier session on this engine.
    Sessions running at once (pytest-xdist's workers) build it once: the others wait for it."""
    import fcntl

    home = ROOT / "data" / "cache" / "tests"
    folder = home / f"{name}-{_engine_key()}"
    if (folder / ".done").exists():
        return folder
    home.mkdir(parents=True, exist_ok=True)
    with open(home / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the process dies
        if (folder / ".done").exists():  # built while this session waited
            return folder
        return _build(home, name, folder, build)


def _build(home: Path, name: str, folder: Path, build: Callable[[Path], None]) -> Path:
    for old in home.glob(f"{name}-*"):  # older engines' runs, or a half-built one, go
        shutil.rmtree(old, ignore_errors=True)
    staging = home / f".{name}-{os.getpid()}"  # whole or not at all: another session may read
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    build(staging)
    (staging / ".done").touch()
    try:
        staging.rename(folder)
    except OSError:  # another session kept one first
        shutil.rmtree(staging, ignore_errors=True)
    return folder
