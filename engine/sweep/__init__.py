"""Sweeps: experiments over training settings, on Optuna, with background worker processes.

A sweep is a base TrainConfig (any preset) + a search space (a list of values per setting,
optionally several seeds as repeats) + a sampler (grid or TPE) + a trial budget + optional
median pruning. It lives in an Optuna study whose storage is a URL: a journal file under
``runs/sweeps/`` by default (safe for several worker processes on one machine), or PostgreSQL
for workers on several machines. Every trial trains through ``engine.training.loop.train`` and
records accuracy, loss, wall time and parameter count as user attributes; the best trial so far is
kept as a normal run directory (``best_run_id``).

Grid points are enqueued once when the sweep is created and workers only pop queued trials, so
no grid point is trained twice. A trial whose worker died (SIGKILL, power off) is failed and
queued again: at once when the worker's process is gone from this machine, and through
Optuna's heartbeats on RDB storage for workers elsewhere.

Modules: ``space`` (dimensions, grid, validation), ``study`` (storage, the Optuna study, trial
states, reaping), ``worker`` (objective, worker loop, worker processes), ``report`` (rows,
effects, Pareto front, conclusions; no Optuna), ``cli`` (``python -m engine sweep``). The names
callers use are re-exported here. Builds on training and runs.
"""

from engine.sweep.report import (
    Effect,
    SweepReport,
    TrialRow,
    conclusions,
    describe,
    effects,
    fmt,
    label,
    pareto_front,
)
from engine.sweep.space import (
    DIMENSIONS,
    MIN_TRIALS,
    REPEAT,
    SEED_DIMENSIONS,
    Dimension,
    SweepError,
    SweepSpec,
    applicable,
    apply,
    default_base,
    default_dimensions,
    parse_values,
)

# The study and the worker import Optuna and PyTorch: loaded on first use (PEP 562), so that the
# command line's parser (``engine.sweep.cli``), the report and the space stay light.
_STUDY = (
    "STATE_NAMES",
    "create",
    "default_storage",
    "has_work",
    "list_sweeps",
    "load",
    "new_name",
    "open_storage",
    "read_report",
    "requeue_orphans",
    "row_of",
    "stop_requested",
    "storage_errors",
)
_WORKER = (
    "NothingLeft",
    "SweepStopped",
    "active_sweeps",
    "active_trials",
    "best_run_id",
    "check_owner",
    "objective",
    "owner",
    "stop",
    "work",
)


def __getattr__(name: str):
    module = "study" if name in _STUDY else "worker" if name in _WORKER else None
    if module is None:
        raise AttributeError(f"module 'engine.sweep' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"engine.sweep.{module}"), name)


__all__ = [
    "DIMENSIONS",
    "active_sweeps",
    "active_trials",
    "check_owner",
    "MIN_TRIALS",
    "REPEAT",
    "SEED_DIMENSIONS",
    "STATE_NAMES",
    "Dimension",
    "Effect",
    "NothingLeft",
    "SweepError",
    "SweepReport",
    "SweepSpec",
    "SweepStopped",
    "TrialRow",
    "applicable",
    "apply",
    "best_run_id",
    "conclusions",
    "create",
    "default_base",
    "default_dimensions",
    "default_storage",
    "describe",
    "effects",
    "fmt",
    "has_work",
    "label",
    "list_sweeps",
    "load",
    "new_name",
    "objective",
    "open_storage",
    "owner",
    "pareto_front",
    "parse_values",
    "requeue_orphans",
    "read_report",
    "row_of",
    "stop",
    "stop_requested",
    "storage_errors",
    "work",
]
