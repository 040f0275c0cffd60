"""How long a training job will take, before it starts: a cost model calibrated by the runs.

The model counts multiply-accumulates (``conv_geometry`` gives every conv layer's size): a
training step costs about three forward passes per example, plus a per-example overhead. The
machine's real speed (its CPU, the threads, other work beside it) is learned from the runs it
finished: each epoch's measured seconds over the model's seconds is one sample of a ratio, and
the estimate is shown as the range those ratios span.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable

from engine.config import TrainConfig, auto_threads, conv_geometry, flat_features
from engine.glyph_sets import glyph_count

MACS_PER_SECOND = 8e9  # one CPU thread here, measured on the fast and classic CNNs (rough)
SECONDS_PER_EXAMPLE = 5e-5  # per-example overhead (indexing, optimizer, activations)
STARTUP_SECONDS = 4.0  # a job process imports torch and loads the dataset
UNCALIBRATED = (0.6, 1.8)  # the range around the model before this machine has finished runs
MIN_SAMPLES = 3  # finished runs needed before their ratios replace UNCALIBRATED


def macs_per_example(cfg: TrainConfig) -> int:
    """Multiply-accumulates of one forward pass on a 28x28 image."""
    m = cfg.model
    macs = sum(b.macs for b in conv_geometry(m))
    width = flat_features(m)
    for h in (*m.hidden, m.num_classes):
        macs += width * h
        width = h
    return macs


def examples_per_epoch(cfg: TrainConfig, n_train: int) -> int:
    """The images one epoch of ``cfg`` trains on, from a training set of ``n_train``: its subset
    (``limit_train``) and the glyph classes beside it (``engine.training.loop.device_tensors``
    builds exactly these). The runner's steps, this estimate, the Train page and the hosted
    quota all count with it."""
    return min(cfg.limit_train or n_train, n_train) + glyph_count(cfg.glyphs)


def epoch_seconds(cfg: TrainConfig, n_train: int, n_test: int) -> float:
    """The cost model's seconds for one epoch (training and evaluation) of ``cfg``."""
    n = examples_per_epoch(cfg, n_train)
    t = min(cfg.limit_test or n_test, n_test)
    per = macs_per_example(cfg) / (MACS_PER_SECOND * max(1, cfg.threads or auto_threads()))
    return n * (3 * per + SECONDS_PER_EXAMPLE) + t * per


def estimate_seconds(cfg: TrainConfig, n_train: int, n_test: int) -> float:
    """The cost model's wall time of a whole job (uncalibrated: the middle of the range)."""
    return STARTUP_SECONDS + cfg.epochs * epoch_seconds(cfg, n_train, n_test)


def speed_ratios(runs: Iterable, sizes: dict[str, tuple[int, int]]) -> list[float]:
    """Measured over modelled seconds per epoch, one sample per finished run that recorded
    epochs. ``runs``: ``engine.runs.store.Run`` objects; ``sizes``: dataset → (n_train, n_test)."""
    ratios = []
    for run in runs:
        try:
            cfg = run.config()
            epochs = [m["seconds"] for m in run.metrics() if m.get("kind") == "epoch"]
        except Exception:  # noqa: BLE001 - a run being written or deleted just has no sample
            continue
        if not epochs or cfg.dataset not in sizes:
            continue
        modelled = epoch_seconds(cfg, *sizes[cfg.dataset])
        if modelled > 0:
            ratios.append(statistics.median(epochs) / modelled)
    return ratios


def estimate_range(
    cfg: TrainConfig, n_train: int, n_test: int, ratios: list[float] = ()
) -> tuple[float, float]:
    """(fastest, slowest) likely wall time in seconds: the model scaled by the 20th and 80th
    percentile of this machine's measured ratios, or by UNCALIBRATED before enough runs."""
    if len(ratios) >= MIN_SAMPLES:
        q = statistics.quantiles(ratios, n=5, method="inclusive")  # 20/40/60/80th percentiles
        lo, hi = q[0], q[-1]
    else:
        lo, hi = UNCALIBRATED
    work = cfg.epochs * epoch_seconds(cfg, n_train, n_test)
    return STARTUP_SECONDS + lo * work, STARTUP_SECONDS + hi * work
