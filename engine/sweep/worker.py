"""Sweep workers: the objective (one trial = one training), the worker loop, the best trial kept
as a run directory, and the local worker processes the page starts, stops and resumes."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import TrialState

from engine import EngineError
from engine.config import TrainConfig
from engine.data.datasets import Dataset
from engine.data.datasets import load as load_data
from engine.nn.models import param_count
from engine.runs import hosting, procs
from engine.runs.store import Run, RunState, create_run, runs_dir
from engine.sweep.space import SweepSpec, apply
from engine.sweep.study import (
    RESULT_ATTRS,
    STATE_NAMES,
    has_work,
    is_queued,
    list_sweeps,
    load,
    requeue_orphans,
    stop_requested,
    storage_errors,
    worker_id,
)
from engine.training.loop import EpochResult, TrainingCancelled, TrainState, train

STOP_POLL_S = 2.0  # how often a training worker asks the storage whether the sweep was stopped


class SweepStopped(EngineError):
    """The sweep was stopped while this trial trained; the trial is queued again."""


class NothingLeft(EngineError):
    """Another worker took the last queued grid point first (this empty trial is dropped)."""


@dataclass
class Worker:
    """What the objective needs besides the trial: one per ``work`` call."""

    name: str
    study: optuna.Study
    spec: SweepSpec
    data: Dataset
    root: Path
    should_stop: Callable[[], bool]


def _record(trial: optuna.Trial, epochs: list[EpochResult], t0: float) -> None:
    last = epochs[-1]
    for key, value in {
        "accuracy": last.test_accuracy,
        "test_loss": last.test_loss,
        "train_loss": last.train_loss,
        "seconds": sum(e.seconds for e in epochs),  # training + evaluation of every epoch
        "wall_seconds": time.perf_counter() - t0,
        "epochs_done": last.epoch,
    }.items():
        trial.set_user_attr(key, value)


def objective(trial: optuna.Trial, w: Worker) -> float:
    """Train one trial's settings; returns its final test accuracy (what the study maximises)."""
    frozen = next(t for t in w.study.get_trials(deepcopy=False) if t.number == trial.number)
    if w.spec.sampler == "grid" and not is_queued(frozen):
        raise NothingLeft("another worker took the last grid point")
    trial.set_user_attr("worker", worker_id())
    trial.set_user_attr("worker_trial", trial.number)  # this record's worker, not a copied one
    for key in RESULT_ATTRS + ("error", "note", "run_id"):  # a retry's copy of the failed run's
        if key in frozen.user_attrs:
            trial.set_user_attr(key, None)
    params = {k: trial.suggest_categorical(k, list(v)) for k, v in w.spec.space.items()}
    t0, epochs = time.perf_counter(), []
    try:
        cfg = apply(w.spec.base, params)  # ConfigError: settings that cannot be trained
        trial.set_user_attr("params_count", param_count(cfg.model))

        def on_epoch(r: EpochResult, state: TrainState) -> None:
            epochs.append(r)
            _record(trial, epochs, t0)
            trial.report(r.test_accuracy, r.epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"{100 * r.test_accuracy:.1f}% after epoch {r.epoch}")

        state = train(cfg, w.data, on_epoch=on_epoch, should_stop=w.should_stop)
    except TrainingCancelled:
        trial.set_user_attr("note", "stopped; queued again")
        w.study.enqueue_trial(params, user_attrs={"retry_of": trial.number})
        raise SweepStopped("stopped") from None
    except EngineError as e:
        trial.set_user_attr("error", str(e))
        raise
    run_id = keep_if_best(w.root, w.name, trial.number, cfg, state)
    if run_id:
        trial.set_user_attr("run_id", run_id)
    return epochs[-1].test_accuracy


def work(
    name: str,
    storage: str | None = None,
    *,
    root: Path | None = None,
    echo: Callable[[str], None] = print,
    max_trials: int | None = None,
) -> int:
    """Train queued or sampled trials of a sweep until none is left; returns how many ran.

    Any number of workers may run at once, on this machine or others. SIGTERM (or ``stop``)
    ends the current trial at its next batch and queues it again.
    """
    study, spec = load(name, storage)

    polled = {"at": 0.0, "stop": False}
    with procs.sigterm_flag() as sigterm:

        def should_stop() -> bool:
            now = time.monotonic()
            if not polled["stop"] and now - polled["at"] > STOP_POLL_S:
                polled["at"] = now
                with contextlib.suppress(Exception):  # a storage hiccup must not kill the trial
                    polled["stop"] = stop_requested(study)
            return sigterm.is_set() or polled["stop"]

        w = Worker(name, study, spec, load_data(spec.base.dataset), Path(root or runs_dir()),
                   should_stop)  # fmt: skip
        run_one = functools.partial(objective, w=w)
        done = 0
        echo(f"worker {worker_id()} joined sweep {name} ({spec.sampler}, {spec.size()} trials)")
        while not should_stop() and (max_trials is None or done < max_trials):
            with storage_errors(f"sweep {name}"):
                for n in requeue_orphans(study):
                    echo(f"trial {n}: its worker died; queued again")
                if stop_requested(study) or not has_work(study, spec):
                    break
                study.optimize(run_one, n_trials=1, catch=(EngineError,), gc_after_trial=False)
            t = _last_own_trial(study)
            if t is not None and not (t.state == TrialState.FAIL and not t.params):
                echo(line(t))
                done += 1
    echo(f"worker {worker_id()} done: {done} trial(s)")
    return done


def _last_own_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    me = worker_id()
    own = [
        t
        for t in study.get_trials(deepcopy=False)
        if t.user_attrs.get("worker") == me and t.user_attrs.get("worker_trial") == t.number
    ]
    return max(own, key=lambda t: t.number) if own else None


def line(t: optuna.trial.FrozenTrial) -> str:
    """One log line per trial: its settings and result."""
    settings = " ".join(f"{k}={v}" for k, v in t.params.items())
    a = t.user_attrs
    if t.state == TrialState.COMPLETE:
        return f"trial {t.number} {settings}: {100 * a['accuracy']:.1f}% in {a['seconds']:.1f} s"
    why = a.get("error") or a.get("note") or ""
    return f"trial {t.number} {settings}: {STATE_NAMES[t.state]} {why}".rstrip()


# --- the best trial as a normal run directory ---------------------------------------------------
def best_run_id(name: str) -> str:
    """``<name>-best`` for a name that says "sweep" already (``sweep-20261127-1200-best``),
    else ``sweep-<name>-best``."""
    return f"{name}-best" if name.lower().startswith("sweep") else f"sweep-{name}-best"


def keep_if_best(root: Path, name: str, number: int, cfg: TrainConfig, state: TrainState) -> str:
    """Save this trial as the sweep's best run if it beats the one there; returns its id."""
    acc = state.history[-1]["test_accuracy"]
    final = root / best_run_id(name)
    tmp_root = root / "sweeps" / name / "tmp"
    with procs.file_lock(root / "sweeps" / ".best.lock"):  # workers on this machine take turns
        with contextlib.suppress(ValueError, TypeError):  # no best yet: its status says "failed"
            if float(Run(final).status().get("test_accuracy") or 0) >= acc:
                return ""
        run = create_run(cfg, tmp_root, f"trial-{number}-{os.getpid()}")
        run.save_checkpoint(state)
        for h in state.history:
            run.append_metric({"kind": "epoch", **h})
        run.set_status(
            RunState.COMPLETE,
            test_accuracy=acc,
            seconds=sum(h["seconds"] for h in state.history),
            finished=time.time(),
            message=f"best trial ({number}) of sweep {name}",
            sweep=name,
            trial=number,
        )
        trash = tmp_root / f"old-{os.getpid()}"
        if final.exists():
            os.replace(final, trash)
        os.replace(run.path, final)
        shutil.rmtree(trash, ignore_errors=True)
    return final.name


# --- who owns a sweep, and what it keeps busy (engine.queue.trials queues its trials) -----------
def owner(name: str, storage: str | None = None) -> str:
    """Who started the sweep (a visitor token, or ``hosting.OPERATOR``)."""
    study, _ = load(name, storage)
    return str(study.user_attrs.get("owner") or hosting.OPERATOR)


def check_owner(name: str, by: hosting.Visitor | None, storage: str | None = None) -> None:
    """Raise HostingError unless ``by`` may stop or resume the sweep (hosted mode)."""
    if hosting.bound(by):
        hosting.check_owner({"owner": owner(name, storage)}, f"sweep {name}", by)


def active_sweeps(visitor_id: str, storage: str | None = None) -> int:
    """How many sweeps of this visitor have trials left to train and are not stopped."""
    return sum(1 for o, _ in active_trials(storage) if o == visitor_id)


def active_trials(storage: str | None = None, exclude: str = "") -> list[tuple[str, int]]:
    """(owner, trials at once) of every started sweep with trials left and not stopped."""
    out = []
    for name in list_sweeps(storage):
        if name == exclude:
            continue
        study, spec = load(name, storage)
        parallel = int(study.user_attrs.get("parallel") or 0)  # 0: never started
        if parallel and not stop_requested(study) and has_work(study, spec):
            out.append((owner(name, storage), parallel))
    return out


def stop(
    name: str,
    storage: str | None = None,
    root: Path | None = None,
    by: hosting.Visitor | None = None,
) -> None:
    """Ask the sweep to stop: a running trial stops at its next batch check and is queued
    again; no further trial starts."""
    check_owner(name, by, storage)
    study, _ = load(name, storage)
    with storage_errors(f"cannot stop sweep {name}"):
        study.set_user_attr("stopped", True)
