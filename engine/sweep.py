"""Sweeps: experiments over training settings, on Optuna, with background worker processes.

A sweep is a base TrainConfig + a search space (a list of values per setting) + a sampler
(grid or TPE) + a trial budget + optional median pruning. It lives in an Optuna study whose
storage is a URL: a journal file under ``runs/sweeps/`` by default (safe for several worker
processes on one machine), or PostgreSQL for workers on several machines. Every trial trains
through ``engine.train.train`` and records accuracy, loss, wall time and parameter count as user
attributes; the best trial so far is kept as a normal run directory ``runs/sweep-<name>-best``.

Grid points are enqueued once when the sweep is created and workers only pop queued trials, so
no grid point is trained twice. A trial whose worker died (SIGKILL, power off) is marked failed
and queued again: at once when the worker's process is gone from this machine, and through
Optuna's heartbeats on RDB storage for workers elsewhere.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from engine import EngineError
from engine.config import (
    ACTIVATIONS,
    OPTIMIZERS,
    ConfigError,
    TrainConfig,
    preset,
)
from engine.models import param_count
from engine.runs import (
    RUN_ID,
    RunState,
    _pid_alive,
    atomic_write_json,
    create_run,
    runs_dir,
)
from engine.train import EpochResult, TrainingCancelled, TrainState, train

HEARTBEAT_S = 5  # RDB storage: a worker writes a heartbeat this often while it trains
GRACE_S = 30  # ...and a trial without one for this long is failed and queued again
MAX_RETRIES = 3  # a trial that keeps killing its worker is given up after this many retries
STOP_POLL_S = 2.0  # how often a training worker asks the storage whether the sweep was stopped

optuna.logging.set_verbosity(optuna.logging.WARNING)  # our own one-line-per-trial log instead


class SweepError(EngineError):
    """A sweep that cannot be created, opened or run; the message says why."""


class SweepStopped(EngineError):
    """The sweep was stopped while this trial trained; the trial is queued again."""


class NothingLeft(EngineError):
    """Another worker took the last queued grid point first (this empty trial is dropped)."""


# --- the search space ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Dimension:
    label: str  # how the page and the conclusions name it
    kind: type  # int, float, str or bool: how CLI text is parsed
    choices: tuple  # the values the page offers
    seed: tuple  # values preselected on the page


DIMENSIONS: dict[str, Dimension] = {
    "batch_size": Dimension("batch size", int, (16, 32, 64, 128, 256, 512), (64, 256)),
    "conv_layers": Dimension("conv layers", int, (1, 2, 3), (1, 2)),
    "kernel_size": Dimension("kernel size", int, (1, 3, 5, 7, 9), (3, 5)),
    "activation": Dimension("activation", str, ACTIVATIONS, ("relu", "tanh")),
    "filters": Dimension("filters", int, (4, 8, 10, 16, 20, 32, 64), (8, 16)),
    "hidden": Dimension("hidden width", int, (32, 50, 64, 128, 256, 512), (64, 128)),
    "dropout": Dimension("dropout", float, (0.0, 0.1, 0.25, 0.5), (0.0, 0.25)),
    "batchnorm": Dimension("BatchNorm", bool, (False, True), (False, True)),
    "optimizer": Dimension("optimizer", str, OPTIMIZERS, ("sgd", "adamw")),
    "lr": Dimension(
        "learning rate", float, (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1), (1e-3, 1e-2)
    ),
    "weight_decay": Dimension("weight decay", float, (0.0, 1e-4, 1e-3, 1e-2), (0.0, 1e-3)),
    "epochs": Dimension("epochs", int, (1, 2, 3, 5, 10), (1, 2)),
}
SEED_DIMENSIONS = ("batch_size", "conv_layers", "kernel_size", "activation")  # the seed's four


def default_base(**overrides: Any) -> TrainConfig:
    """A quick base for sweeps: the fast BN-CNN on FashionMNIST, 1 epoch on 2,000 examples."""
    kw = dict(dataset="fashion-mnist", epochs=1, limit_train=2000, limit_test=2000, threads=1)
    return preset("fast", **{**kw, "log_every": 10**6, **overrides})


def apply(base: TrainConfig, params: dict[str, Any]) -> TrainConfig:
    """``base`` with a trial's settings; filters double per conv layer as on the Train page."""
    m = base.model
    n = int(params.get("conv_layers", len(m.channels) or 1))
    first = int(params.get("filters", m.channels[0] if m.channels else 16))
    kernel = int(params.get("kernel_size", m.kernel_sizes[0] if m.kernel_sizes else 3))
    hidden = params.get("hidden")
    model = replace(
        m,
        channels=tuple(first * 2**i for i in range(n)),
        kernel_sizes=(kernel,) * n,
        activation=params.get("activation", m.activation),
        dropout=float(params.get("dropout", m.dropout)),
        batchnorm=bool(params.get("batchnorm", m.batchnorm)),
        hidden=(int(hidden),) * len(m.hidden) if hidden is not None else m.hidden,
    )
    keys = ("batch_size", "optimizer", "lr", "weight_decay", "epochs")
    return replace(base, model=model, **{k: params[k] for k in keys if k in params})


@dataclass(frozen=True)
class SweepSpec:
    """What a sweep trains: stored in the study, so any worker rebuilds it from the name alone."""

    base: TrainConfig = field(default_factory=default_base)
    space: dict[str, tuple] = field(
        default_factory=lambda: {k: DIMENSIONS[k].seed for k in SEED_DIMENSIONS}
    )
    sampler: str = "grid"  # "grid": every combination once; "tpe": Optuna's Bayesian sampler
    n_trials: int = 20  # the TPE budget (a grid's size is its number of valid combinations)
    pruning: bool = False  # median pruning on each epoch's test accuracy (needs epochs > 1)

    def validate(self) -> None:
        """Raise SweepError (or ConfigError) naming what makes no sense."""
        if self.sampler not in ("grid", "tpe"):
            raise SweepError(f"sampler must be 'grid' or 'tpe', not {self.sampler!r}")
        if not self.space:
            raise SweepError("pick at least one setting to vary")
        for name, values in self.space.items():
            if name not in DIMENSIONS:
                raise SweepError(f"unknown setting {name!r}; choose from {', '.join(DIMENSIONS)}")
            if not values:
                raise SweepError(f"pick at least one value of {DIMENSIONS[name].label}")
            if len(set(values)) != len(values):
                raise SweepError(f"{DIMENSIONS[name].label} lists a value twice")
        if self.sampler == "tpe" and self.n_trials < 1:
            raise SweepError("a TPE sweep needs a budget of at least 1 trial")
        self.base.validate()
        if not self.grid()[0]:
            first_bad = self.grid()[1][0]
            raise SweepError(f"no combination can be trained, e.g. {first_bad[0]}: {first_bad[1]}")

    def grid(self) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], str]]]:
        """Every combination of values: (the trainable ones, [(skipped one, why)])."""
        names = list(self.space)
        ok, bad = [], []
        for combo in itertools.product(*(self.space[n] for n in names)):
            params = dict(zip(names, combo, strict=True))
            try:
                apply(self.base, params).validate()
            except ConfigError as e:
                bad.append((params, str(e)))
            else:
                ok.append(params)
        return ok, bad

    def size(self) -> int:
        """Trials the sweep runs: the grid's trainable combinations, or the TPE budget."""
        return len(self.grid()[0]) if self.sampler == "grid" else self.n_trials

    def to_dict(self) -> dict[str, Any]:
        return {
            "base": self.base.to_dict(),
            "space": {k: list(v) for k, v in self.space.items()},
            "sampler": self.sampler,
            "n_trials": self.n_trials,
            "pruning": self.pruning,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SweepSpec:
        return cls(
            base=TrainConfig.from_dict(d["base"]),
            space={k: tuple(v) for k, v in d["space"].items()},
            sampler=d["sampler"],
            n_trials=int(d["n_trials"]),
            pruning=bool(d["pruning"]),
        )


def parse_values(name: str, text: str) -> tuple:
    """``"64,256"`` → ``(64, 256)`` typed as the setting ``name`` (for the CLI)."""
    if name not in DIMENSIONS:
        raise SweepError(f"unknown setting {name!r}; choose from {', '.join(DIMENSIONS)}")
    kind = DIMENSIONS[name].kind
    out = []
    for raw in (t.strip() for t in text.split(",") if t.strip()):
        try:
            out.append(raw.lower() in ("1", "true", "yes") if kind is bool else kind(raw))
        except ValueError:
            raise SweepError(f"{name}: {raw!r} is not a valid {kind.__name__}") from None
    return tuple(out)


# --- storage ------------------------------------------------------------------------------------
_storages: dict[str, optuna.storages.BaseStorage] = {}  # one per URL and process: reuse caches


def default_storage() -> str:
    """The journal file every local sweep shares: ``runs/sweeps/sweeps.journal``."""
    return str((runs_dir() / "sweeps" / "sweeps.journal").resolve())


def _is_rdb(url: str) -> bool:
    return "://" in url and not url.startswith("file://")


def open_storage(url: str | None = None) -> optuna.storages.BaseStorage:
    """An Optuna storage from a URL: ``postgresql://…`` (or any SQLAlchemy URL) or a file path.

    ``postgresql://`` means psycopg2 here (SQLAlchemy 2 would otherwise look for psycopg 3).
    """
    url = url or default_storage()
    if url in _storages:
        return _storages[url]
    try:
        if _is_rdb(url):
            db = url
            if db.startswith(("postgresql://", "postgres://")):
                db = "postgresql+psycopg2://" + db.split("://", 1)[1]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                storage = optuna.storages.RDBStorage(
                    db,
                    engine_kwargs={"pool_pre_ping": True},
                    heartbeat_interval=HEARTBEAT_S,
                    grace_period=GRACE_S,
                    heartbeat_stale_trial_callback=_retry,
                )
        else:
            path = Path(url.removeprefix("file://").removeprefix("journal:"))
            path.parent.mkdir(parents=True, exist_ok=True)
            backend = optuna.storages.journal.JournalFileBackend(str(path))
            storage = optuna.storages.journal.JournalStorage(backend)
    except Exception as e:  # noqa: BLE001 - drivers raise many types; say which storage failed
        raise SweepError(f"cannot open the sweep storage {_safe(url)}: {_short(e)}") from None
    _storages[url] = storage
    return storage


def _safe(url: str) -> str:
    """A storage URL without its password, for messages."""
    if "://" in url and "@" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}" if ":" in creds else url
    return url


def _short(e: BaseException) -> str:
    return f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"


@contextlib.contextmanager
def _storage_errors(what: str) -> Iterator[None]:
    """Turn driver and Optuna storage errors into SweepError (the UI shows them as a message)."""
    try:
        yield
    except EngineError:
        raise
    except (optuna.exceptions.OptunaError, OSError, RuntimeError) as e:
        raise SweepError(f"{what}: {_short(e)}") from None
    except Exception as e:  # noqa: BLE001 - e.g. sqlalchemy.exc.OperationalError
        if type(e).__module__.split(".")[0] in ("sqlalchemy", "psycopg2"):
            raise SweepError(f"{what}: {_short(e)}") from None
        raise


def list_sweeps(storage: str | None = None) -> list[str]:
    """Names of the sweeps in ``storage``, newest first."""
    with _storage_errors("cannot list the sweeps"):
        studies = optuna.get_all_study_summaries(open_storage(storage), include_best_trial=False)
    return [
        s.study_name
        for s in sorted(studies, key=lambda s: s.user_attrs.get("created", 0), reverse=True)
    ]


def new_name() -> str:
    return time.strftime("sweep-%Y%m%d-%H%M%S")


def _sampler(spec: SweepSpec) -> optuna.samplers.BaseSampler:
    if spec.sampler == "grid":
        return optuna.samplers.GridSampler({k: list(v) for k, v in spec.space.items()})
    # No fixed seed: workers with one seed would propose the same first trials.
    return optuna.samplers.TPESampler(n_startup_trials=max(2, min(10, spec.n_trials // 3)))


def _pruner(spec: SweepSpec) -> optuna.pruners.BasePruner:
    if not spec.pruning:
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=1)


def create(spec: SweepSpec, name: str | None = None, storage: str | None = None) -> str:
    """Create the sweep's study and queue its grid; returns its name. Starts no worker."""
    name = name or new_name()
    if not RUN_ID.match(name) or ".." in name:
        raise SweepError(f"invalid sweep name {name!r}: use letters, digits, '-', '_' and '.'")
    spec.validate()
    with _storage_errors(f"cannot create sweep {name}"):
        try:
            study = optuna.create_study(
                storage=open_storage(storage),
                study_name=name,
                direction="maximize",
                sampler=_sampler(spec),
                pruner=_pruner(spec),
            )
        except optuna.exceptions.DuplicatedStudyError:
            raise SweepError(f"a sweep named {name!r} already exists") from None
        study.set_user_attr("spec", spec.to_dict())
        study.set_user_attr("created", time.time())
        study.set_user_attr("stopped", False)
        if spec.sampler == "grid":
            for params in spec.grid()[0]:
                study.enqueue_trial(params)
    return name


def load(name: str, storage: str | None = None) -> tuple[optuna.Study, SweepSpec]:
    """The sweep's study (with its sampler and pruner) and spec."""
    with _storage_errors(f"cannot open sweep {name}"):
        st = open_storage(storage)
        try:
            study = optuna.load_study(study_name=name, storage=st)
        except KeyError:
            raise SweepError(f"no sweep named {name!r} in {_safe(storage or '')}") from None
        try:
            spec = SweepSpec.from_dict(study.user_attrs["spec"])
        except (KeyError, TypeError, ConfigError) as e:
            raise SweepError(f"{name} is not a sweep of this dashboard ({e})") from None
        study.sampler, study.pruner = _sampler(spec), _pruner(spec)
    return study, spec


# --- workers ------------------------------------------------------------------------------------
def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _retry(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """Queue a failed trial's settings again (without its attributes: a fresh record)."""
    retries = int(trial.user_attrs.get("retries", 0)) + 1
    if retries > MAX_RETRIES:
        return
    study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number, "retries": retries})


def reap(study: optuna.Study) -> list[int]:
    """Fail and requeue the running trials whose worker process on this machine is gone."""
    host, lost = socket.gethostname(), []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = str(t.user_attrs.get("worker", ""))
        h, _, pid = worker.rpartition(":")
        if h != host or not pid.isdigit() or int(pid) == os.getpid() or _pid_alive(int(pid)):
            continue
        try:
            study._storage.set_trial_user_attr(t._trial_id, "note", f"worker {worker} died")
            if not study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another worker reaped it first
        _retry(study, t)
        lost.append(t.number)
    return lost


def _stop_requested(study: optuna.Study) -> bool:
    return bool(study.user_attrs.get("stopped"))


def _has_work(study: optuna.Study, spec: SweepSpec) -> bool:
    trials = study.get_trials(deepcopy=False)
    if any(t.state == TrialState.WAITING for t in trials):
        return True
    if spec.sampler == "grid":
        return False
    # TPE: trials of dead or stopped workers are queued again, so they do not use up the budget.
    used = [t for t in trials if t.state != TrialState.FAIL or "error" in t.user_attrs]
    return len(used) < spec.n_trials


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
    from engine.data import load as load_data

    data = load_data(spec.base.dataset)
    root = Path(root or runs_dir())
    flag = {"stop": False, "checked": 0.0}
    in_main = threading.current_thread() is threading.main_thread()
    prev = signal.signal(signal.SIGTERM, lambda *_: flag.update(stop=True)) if in_main else None

    def should_stop() -> bool:
        now = time.monotonic()
        if not flag["stop"] and now - flag["checked"] > STOP_POLL_S:
            flag["checked"] = now
            with contextlib.suppress(Exception):  # a storage hiccup must not kill the trial
                flag["stop"] = _stop_requested(study)
        return flag["stop"]

    def objective(trial: optuna.Trial) -> float:
        queued = "fixed_params" in study._storage.get_trial_system_attrs(trial._trial_id)
        if spec.sampler == "grid" and not queued:
            raise NothingLeft("another worker took the last grid point")
        trial.set_user_attr("worker", _worker_id())
        params = {k: trial.suggest_categorical(k, list(v)) for k, v in spec.space.items()}
        cfg = apply(spec.base, params)
        t0, epochs = time.perf_counter(), []
        try:
            cfg.validate()
            trial.set_user_attr("params_count", param_count(cfg.model))

            def on_epoch(r: EpochResult, state: TrainState) -> None:
                epochs.append(r)
                _record(trial, epochs, t0)
                trial.report(r.test_accuracy, r.epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"{100 * r.test_accuracy:.1f}% after epoch {r.epoch}")

            state = train(cfg, data, on_epoch=on_epoch, should_stop=should_stop)
        except TrainingCancelled:
            trial.set_user_attr("note", "stopped; queued again")
            study.enqueue_trial(params, user_attrs={"retry_of": trial.number})
            raise SweepStopped("stopped") from None
        except EngineError as e:
            trial.set_user_attr("error", str(e))
            raise
        run_id = _keep_if_best(root, name, trial.number, cfg, state)
        if run_id:
            trial.set_user_attr("run_id", run_id)
        return epochs[-1].test_accuracy

    done = 0
    echo(f"worker {_worker_id()} joined sweep {name} ({spec.sampler}, {spec.size()} trials)")
    try:
        while not flag["stop"] and (max_trials is None or done < max_trials):
            with _storage_errors(f"sweep {name}"):
                for n in reap(study):
                    echo(f"trial {n}: its worker died; queued again")
                if _stop_requested(study) or not _has_work(study, spec):
                    break
                study.optimize(objective, n_trials=1, catch=(EngineError,), gc_after_trial=False)
            t = _last_own_trial(study)
            if t is not None and not (t.state == TrialState.FAIL and not t.params):
                echo(_line(t))
                done += 1
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, prev)
    echo(f"worker {_worker_id()} done: {done} trial(s)")
    return done


def _last_own_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    me = _worker_id()
    own = [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get("worker") == me]
    return max(own, key=lambda t: t.number) if own else None


def _line(t: optuna.trial.FrozenTrial) -> str:
    settings = " ".join(f"{k}={v}" for k, v in t.params.items())
    a = t.user_attrs
    if t.state == TrialState.COMPLETE:
        return f"trial {t.number} {settings}: {100 * a['accuracy']:.1f}% in {a['seconds']:.1f} s"
    why = a.get("error") or a.get("note") or ""
    return f"trial {t.number} {settings}: {STATE_NAMES[t.state]} {why}".rstrip()


# --- the best trial as a normal run directory ---------------------------------------------------
def best_run_id(name: str) -> str:
    return f"sweep-{name}-best"


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _keep_if_best(root: Path, name: str, number: int, cfg: TrainConfig, state: TrainState) -> str:
    """Save this trial as ``runs/sweep-<name>-best`` if it beats the one there; returns its id."""
    acc = state.history[-1]["test_accuracy"]
    final = root / best_run_id(name)
    tmp_root = root / "sweeps" / name / "tmp"
    with _file_lock(root / "sweeps" / ".best.lock"):  # workers on this machine take turns
        with contextlib.suppress(OSError, ValueError, TypeError):
            old = json.loads((final / "status.json").read_text())
            if float(old.get("test_accuracy") or 0) >= acc:
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


# --- local worker processes (what the page starts and stops) ------------------------------------
_children: list[subprocess.Popen] = []  # reaped on every call so they never linger as zombies


def _workers_file(name: str, root: Path) -> Path:
    return root / "sweeps" / name / "workers.json"


def start_workers(
    name: str, n: int, storage: str | None = None, root: Path | None = None
) -> list[int]:
    """Start ``n`` detached ``python -m engine sweep work`` processes; returns their pids.

    Each runs in its own session (it survives a server restart) with one torch thread, and
    appends its output to ``runs/sweeps/<name>/worker-<pid>.log``.
    """
    from engine.jobs import worker_env

    root = Path(root or runs_dir()).resolve()
    url = storage or default_storage()
    folder = root / "sweeps" / name
    folder.mkdir(parents=True, exist_ok=True)
    env = worker_env(1, root)  # 2 cores: processes with several busy threads slow each other
    pids = []
    for _ in range(n):
        log_path = folder / f"worker-{time.time_ns()}.log"
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "engine", "sweep", "work", "--storage", url, "--name", name],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=os.getcwd(),
                start_new_session=True,
            )
        _children.append(proc)
        pids.append(proc.pid)
    with _file_lock(folder / ".workers.lock"):
        path = _workers_file(name, root)
        known = _read_workers(path)
        host = socket.gethostname()
        atomic_write_json(path, known + [{"host": host, "pid": p} for p in pids])
    return pids


def _read_workers(path: Path) -> list[dict]:
    try:
        return list(json.loads(path.read_text()))
    except (OSError, json.JSONDecodeError, TypeError):
        return []


def local_workers(name: str, root: Path | None = None) -> list[int]:
    """Pids of this machine's worker processes of the sweep that are still alive."""
    for p in list(_children):
        if p.poll() is not None:
            _children.remove(p)
    host = socket.gethostname()
    entries = _read_workers(_workers_file(name, Path(root or runs_dir())))
    return [w["pid"] for w in entries if w.get("host") == host and _pid_alive(int(w["pid"]))]


def stop(name: str, storage: str | None = None, root: Path | None = None) -> None:
    """Ask every worker to stop (they requeue their current trial); signal the local ones now."""
    study, _ = load(name, storage)
    with _storage_errors(f"cannot stop sweep {name}"):
        study.set_user_attr("stopped", True)
    for pid in local_workers(name, root):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)


def resume(name: str, n: int, storage: str | None = None, root: Path | None = None) -> list[int]:
    """Clear the stop request, requeue dead workers' trials and start ``n`` local workers."""
    study, _ = load(name, storage)
    with _storage_errors(f"cannot resume sweep {name}"):
        study.set_user_attr("stopped", False)
        reap(study)
    return start_workers(name, n, storage, root)


# --- the report: trials table, effects, Pareto front, conclusions (pure functions) --------------
@dataclass(frozen=True)
class TrialRow:
    number: int
    state: str  # "complete", "pruned", "failed", "running", "queued"
    params: dict[str, Any]
    accuracy: float | None = None  # test accuracy in [0, 1] after the last epoch trained
    test_loss: float | None = None
    seconds: float | None = None  # training + evaluation wall time
    params_count: int | None = None
    epochs: int | None = None
    run_id: str | None = None
    error: str = ""
    retry_of: int | None = None


STATE_NAMES = {
    TrialState.COMPLETE: "complete",
    TrialState.PRUNED: "pruned",
    TrialState.FAIL: "failed",
    TrialState.RUNNING: "running",
    TrialState.WAITING: "queued",
}


def row_of(t: optuna.trial.FrozenTrial) -> TrialRow:
    a = t.user_attrs
    params = t.params or (t.system_attrs.get("fixed_params") or {})
    return TrialRow(
        number=t.number,
        state=STATE_NAMES[t.state],
        params=dict(params),
        accuracy=a.get("accuracy"),
        test_loss=a.get("test_loss"),
        seconds=a.get("seconds"),
        params_count=a.get("params_count"),
        epochs=a.get("epochs_done"),
        run_id=a.get("run_id"),
        error=str(a.get("error") or a.get("note") or ""),
        retry_of=a.get("retry_of"),
    )


@dataclass(frozen=True)
class SweepReport:
    name: str
    spec: SweepSpec
    rows: list[TrialRow]
    stopped: bool

    @property
    def complete(self) -> list[TrialRow]:
        return [r for r in self.rows if r.state == "complete" and r.accuracy is not None]

    @property
    def best(self) -> TrialRow | None:
        return max(self.complete, key=lambda r: r.accuracy, default=None)

    def count(self, state: str) -> int:
        return sum(r.state == state for r in self.rows)

    @property
    def finished(self) -> bool:
        """Nothing queued or running, and the grid (or TPE budget) is done."""
        if self.count("queued") or self.count("running"):
            return False
        done = self.count("complete") + self.count("pruned")
        return done >= self.spec.size() if self.spec.sampler == "tpe" else True

    def conclusions(self) -> list[str]:
        return conclusions(self.rows, list(self.spec.space))


def report(name: str, storage: str | None = None) -> SweepReport:
    """The sweep's trials (empty stray records left out) and settings, read from the storage."""
    study, spec = load(name, storage)
    with _storage_errors(f"cannot read sweep {name}"):
        trials = study.get_trials(deepcopy=False)
        stopped = _stop_requested(study)
    rows = [row_of(t) for t in trials if t.params or t.state == TrialState.WAITING]
    return SweepReport(name, spec, rows, stopped)


@dataclass(frozen=True)
class Effect:
    value: Any
    mean: float  # mean test accuracy of the complete trials with this value
    std: float  # their standard deviation (0 for a single trial)
    n: int
    seconds: float  # their mean wall time


def effects(rows: list[TrialRow], dim: str) -> list[Effect]:
    """Mean ± std accuracy and mean time per value of ``dim`` over the complete trials."""
    groups: dict[Any, list[TrialRow]] = {}
    for r in rows:
        if r.state == "complete" and r.accuracy is not None and dim in r.params:
            groups.setdefault(r.params[dim], []).append(r)
    out = []
    for value, rs in groups.items():
        accs = [r.accuracy for r in rs]
        secs = [r.seconds or 0.0 for r in rs]
        std = statistics.stdev(accs) if len(accs) > 1 else 0.0
        out.append(Effect(value, statistics.fmean(accs), std, len(rs), statistics.fmean(secs)))
    return sorted(out, key=lambda e: _sort_key(e.value))


def _sort_key(v: Any) -> tuple:
    return (0, float(v), "") if isinstance(v, int | float) else (1, 0.0, str(v))


def pareto_front(rows: list[TrialRow]) -> list[TrialRow]:
    """Complete trials no other trial beats on both accuracy (higher) and time (lower)."""
    done = [r for r in rows if r.state == "complete" and r.accuracy is not None]
    front = []
    for r in done:
        dominated = any(
            o.accuracy >= r.accuracy
            and (o.seconds or 0) <= (r.seconds or 0)
            and (o.accuracy > r.accuracy or (o.seconds or 0) < (r.seconds or 0))
            for o in done
        )
        if not dominated:
            front.append(r)
    return sorted(front, key=lambda r: (r.seconds or 0, -r.accuracy))


def _label(dim: str) -> str:
    return DIMENSIONS[dim].label if dim in DIMENSIONS else dim.replace("_", " ")


def describe(params: dict[str, Any]) -> str:
    """``{"batch_size": 64, "activation": "relu"}`` → ``"batch size 64, activation relu"``."""
    return ", ".join(f"{_label(k)} {v:g}" if isinstance(v, float) else f"{_label(k)} {v}"
                     for k, v in params.items())  # fmt: skip


def _speed(ratio: float) -> str:
    if not math.isfinite(ratio) or ratio <= 0:
        return "time not measured"
    if ratio >= 1.15:
        return f"{ratio:.1f}× slower"
    if ratio <= 1 / 1.15:
        return f"{1 / ratio:.1f}× faster"
    return "about as fast"


def conclusions(rows: list[TrialRow], dims: list[str], noise: float = 0.003) -> list[str]:
    """Plain sentences drawn from the complete trials: the best one, then each setting's effect
    (biggest first: "batch size 64 beat 256 by 1.8 points on average, 3.0× slower"), then the
    fastest trial within a point of the best. Differences below ``noise`` (fraction) are "little".
    """
    done = [r for r in rows if r.state == "complete" and r.accuracy is not None]
    if len(done) < 2:
        return ["Not enough complete trials yet to draw conclusions (need at least 2)."]
    best = max(done, key=lambda r: r.accuracy)
    out = [
        f"Best: {100 * best.accuracy:.1f}% test accuracy with {describe(best.params)} "
        f"(trial {best.number}, {best.seconds or 0:.1f} s"
        + (f", {best.params_count:,} parameters)." if best.params_count else ").")
    ]
    findings = []
    for dim in dims:
        eff = effects(done, dim)
        if len(eff) < 2:
            continue
        hi = max(eff, key=lambda e: e.mean)
        lo = min(eff, key=lambda e: e.mean)
        gap = hi.mean - lo.mean
        label = _label(dim)
        if gap < noise:
            text = (
                f"{label.capitalize()} made little difference (all within {100 * gap:.1f} points)."
            )
        else:
            text = (
                f"{label.capitalize()} {_fmt(hi.value)} beat {_fmt(lo.value)} by "
                f"{100 * gap:.1f} points on average ({100 * hi.mean:.1f}% vs {100 * lo.mean:.1f}%, "
                f"{hi.n} vs {lo.n} trials), {_speed(hi.seconds / lo.seconds if lo.seconds else 0)}."
            )
            if len(eff) > 2:
                order = sorted(eff, key=lambda e: -e.mean)
                text += " Order: " + " > ".join(_fmt(e.value) for e in order) + "."
        findings.append((gap, text))
    out += [t for _, t in sorted(findings, key=lambda f: -f[0])]
    close = [r for r in done if r.accuracy >= best.accuracy - 0.01 and r.seconds]
    fastest = min(close, key=lambda r: r.seconds, default=None)
    if fastest is not None and best.seconds and fastest.number != best.number:
        ratio = best.seconds / fastest.seconds
        if ratio >= 1.15:
            out.append(
                f"Within 1 point of the best and {ratio:.1f}× faster: {describe(fastest.params)} "
                f"({100 * fastest.accuracy:.1f}% in {fastest.seconds:.1f} s)."
            )
    return out


def _fmt(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)
