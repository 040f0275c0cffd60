"""A sweep's Optuna study: storage URLs, creation and loading, trial states, reaping and retries.

Only Optuna's public API: trials are finished with ``study.tell(..., skip_if_finished=True)``
and retried with ``optuna.storages.RetryHeartbeatStaleTrialCallback``, the same callback RDB
storage runs for trials whose heartbeat went stale (workers on other machines).
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

from engine import EngineError
from engine.config import ConfigError
from engine.runs import hosting
from engine.runs.procs import file_lock, pid_alive
from engine.runs.store import RUN_ID, runs_dir
from engine.sweep.report import SweepReport, TrialRow
from engine.sweep.space import SweepError, SweepSpec

HEARTBEAT_S = 5  # RDB storage: a worker writes a heartbeat this often while it trains
GRACE_S = 30  # ...and a trial without one for this long is failed and queued again
MAX_RETRIES = 3  # a trial that keeps killing its worker is given up after this many retries
DIED = "its worker died"  # the note of a failed trial that recorded no error of its own


def quiet_optuna() -> None:
    """Optuna logs warnings only: workers print one line per trial of their own instead. A
    process-wide setting, so the entry point that runs trials calls it (``python -m engine``)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)


STATE_NAMES = {
    TrialState.COMPLETE: "complete",
    TrialState.PRUNED: "pruned",
    TrialState.FAIL: "failed",
    TrialState.RUNNING: "running",
    TrialState.WAITING: "queued",
}
# What a trial records once it trains; a retry starts from a copy of its failed trial's record.
RESULT_ATTRS = ("accuracy", "test_loss", "train_loss", "seconds", "wall_seconds", "epochs_done")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Optuna marks the heartbeat and retry API experimental; it is the documented way."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


with _quiet():
    RETRY = RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRIES)


def retry_of(t: FrozenTrial) -> int | None:
    """The trial this one repeats: a failed one (retry) or a stopped one (queued again)."""
    with _quiet():
        history = RetryHeartbeatStaleTrialCallback.retry_history(t)
    if history:
        return history[-1]
    value = t.user_attrs.get("retry_of")
    return int(value) if isinstance(value, int) else None


# --- storage ------------------------------------------------------------------------------------
_storages: dict[str, optuna.storages.BaseStorage] = {}  # one per URL and process: reuse caches


def default_storage() -> str:
    """The journal file every local sweep shares: ``runs/sweeps/sweeps.journal``."""
    return str((runs_dir() / "sweeps" / "sweeps.journal").resolve())


def is_rdb(url: str) -> bool:
    return "://" in url and not url.startswith("file://")


def open_storage(url: str | None = None) -> optuna.storages.BaseStorage:
    """An Optuna storage from a URL: ``postgresql://…`` (or any SQLAlchemy URL) or a file path.

    ``postgresql://`` means psycopg2 here (SQLAlchemy 2 would otherwise look for psycopg 3).
    """
    url = url or default_storage()
    if url in _storages:
        return _storages[url]
    try:
        if is_rdb(url):
            db = url
            if db.startswith(("postgresql://", "postgres://")):
                db = "postgresql+psycopg2://" + db.split("://", 1)[1]
            with _quiet():
                storage = optuna.storages.RDBStorage(
                    db,
                    engine_kwargs={"pool_pre_ping": True},
                    heartbeat_interval=HEARTBEAT_S,
                    grace_period=GRACE_S,
                    heartbeat_stale_trial_callback=RETRY,
                )
        else:
            path = Path(url.removeprefix("file://").removeprefix("journal:"))
            path.parent.mkdir(parents=True, exist_ok=True)
            backend = optuna.storages.journal.JournalFileBackend(str(path))
            storage = optuna.storages.journal.JournalStorage(backend)
    except Exception as e:  # noqa: BLE001 - drivers raise many types; say which storage failed
        raise SweepError(f"cannot open the sweep storage {safe_url(url)}: {short(e)}") from None
    _storages[url] = storage
    return storage


def safe_url(url: str) -> str:
    """A storage URL without its password, for messages; a journal file by its name only (a
    message that reaches a page never shows a server path)."""
    if url and not is_rdb(url):
        return f"journal file {Path(url.removeprefix('file://').removeprefix('journal:')).name}"
    if "://" in url and "@" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}" if ":" in creds else url
    return url


def short(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:  # str(e) would name the file's server path
        return f"{type(e).__name__}: {e.strerror}"
    return f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"


@contextlib.contextmanager
def storage_errors(what: str) -> Iterator[None]:
    """Turn driver and Optuna storage errors into SweepError (the UI shows them as a message)."""
    try:
        yield
    except EngineError:
        raise
    except (optuna.exceptions.OptunaError, OSError, RuntimeError) as e:
        raise SweepError(f"{what}: {short(e)}") from None
    except Exception as e:  # noqa: BLE001 - e.g. sqlalchemy.exc.OperationalError
        if type(e).__module__.split(".")[0] in ("sqlalchemy", "psycopg2"):
            raise SweepError(f"{what}: {short(e)}") from None
        raise


# --- studies ------------------------------------------------------------------------------------
def list_sweeps(storage: str | None = None) -> list[str]:
    """Names of the sweeps in ``storage``, newest first."""
    with storage_errors("cannot list the sweeps"):
        studies = optuna.get_all_study_summaries(open_storage(storage), include_best_trial=False)
    return [
        s.study_name
        for s in sorted(studies, key=lambda s: s.user_attrs.get("created", 0), reverse=True)
    ]


def new_name(taken: list[str] | tuple[str, ...] = ()) -> str:
    """``sweep-<date>-<time>``, with ``-2``, ``-3``… when that name is in ``taken``."""
    name = time.strftime("sweep-%Y%m%d-%H%M%S")
    n, out = 1, name
    while out in taken:
        n += 1
        out = f"{name}-{n}"
    return out


def _sampler(spec: SweepSpec) -> optuna.samplers.BaseSampler:
    if spec.sampler == "grid":
        return optuna.samplers.GridSampler({k: list(v) for k, v in spec.space.items()})
    # No fixed seed: workers with one seed would propose the same first trials.
    return optuna.samplers.TPESampler(n_startup_trials=max(2, min(10, spec.n_trials // 3)))


def _pruner(spec: SweepSpec) -> optuna.pruners.BasePruner:
    if not spec.pruning:
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=1)


def create(
    spec: SweepSpec,
    name: str | None = None,
    storage: str | None = None,
    by: hosting.Visitor | None = None,
) -> str:
    """Create the sweep's study and queue its grid; returns its name. Starts no worker.

    ``by``: the visitor asking (None: the operator); in hosted mode the trial cap applies and
    the sweep records its owner (only they or the admin stop or resume it)."""
    name = name or new_name()
    if not RUN_ID.match(name) or ".." in name:
        raise SweepError(f"invalid sweep name {name!r}: use letters, digits, '-', '_' and '.'")
    spec.validate()
    if hosting.bound(by):
        trials = len(spec.grid()[0]) if spec.sampler == "grid" else spec.n_trials
        hosting.check_sweep(by, trials, 1, 0)
    with storage_errors(f"cannot create sweep {name}"):
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
        study.set_user_attr("owner", by.id if by is not None else hosting.OPERATOR)
        if spec.sampler == "grid":
            for params in spec.grid()[0]:
                study.enqueue_trial(params)
    return name


def load(name: str, storage: str | None = None) -> tuple[optuna.Study, SweepSpec]:
    """The sweep's study (with its sampler and pruner) and spec."""
    with storage_errors(f"cannot open sweep {name}"):
        st = open_storage(storage)
        try:
            study = optuna.load_study(study_name=name, storage=st)
        except KeyError:
            raise SweepError(f"no sweep named {name!r} in {safe_url(storage or '')}") from None
        try:
            spec = SweepSpec.from_dict(study.user_attrs["spec"])
        except (KeyError, TypeError, ConfigError) as e:
            raise SweepError(f"{name} is not a sweep of this dashboard ({e})") from None
        study.sampler, study.pruner = _sampler(spec), _pruner(spec)
    return study, spec


def stop_requested(study: optuna.Study) -> bool:
    return bool(study.user_attrs.get("stopped"))


def is_queued(t: FrozenTrial) -> bool:
    """Whether the trial was queued (a grid point, a retry, a stopped trial), not sampled."""
    return "fixed_params" in t.system_attrs or retry_of(t) is not None


def has_work(study: optuna.Study, spec: SweepSpec) -> bool:
    trials = study.get_trials(deepcopy=False)
    if any(t.state == TrialState.WAITING for t in trials):
        return True
    if spec.sampler == "grid":
        return False
    # TPE: trials of dead or stopped workers are queued again, so they do not use up the budget.
    used = [t for t in trials if t.state != TrialState.FAIL or t.user_attrs.get("error")]
    return len(used) < spec.n_trials


def worker_id() -> str:
    """This process as a sweep worker: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _claimed_by(t: FrozenTrial) -> str:
    """The worker training ``t``; "" when none has claimed it yet (a retry carries a copy of its
    failed trial's record, whose worker is the dead one: ``worker_trial`` tells them apart)."""
    if t.user_attrs.get("worker_trial") != t.number:
        return ""
    return str(t.user_attrs.get("worker", ""))


def requeue_orphans(study: optuna.Study) -> list[int]:
    """Fail and requeue the running trials whose worker process on this machine is gone.

    Workers on other machines are covered by RDB heartbeats (``fail_stale_trials``). Reapers on
    this machine take turns (a file lock), so a dead worker's trial is retried exactly once.
    """
    host, lost = socket.gethostname(), []
    lock = runs_dir() / "sweeps" / ".reap.lock"
    with file_lock(lock):
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            h, _, pid = _claimed_by(t).rpartition(":")
            if h != host or not pid.isdigit() or int(pid) == os.getpid() or pid_alive(int(pid)):
                continue
            failed = study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
            if failed.state == TrialState.FAIL and not _retried(study, t.number):
                RETRY(study, failed)
            lost.append(t.number)
    with _quiet():
        optuna.storages.fail_stale_trials(study)  # does nothing without heartbeats (journal)
    return lost


def _retried(study: optuna.Study, number: int) -> bool:
    return any(retry_of(t) == number for t in study.get_trials(deepcopy=False))


# --- the report ---------------------------------------------------------------------------------
def row_of(t: FrozenTrial) -> TrialRow:
    a = t.user_attrs
    state = STATE_NAMES[t.state]
    params = t.params or (t.system_attrs.get("fixed_params") or {})
    result = {} if state == "queued" else {k: a.get(k) for k in RESULT_ATTRS}
    error = str(a.get("error") or a.get("note") or "")
    if state == "failed" and not error:
        error = DIED
    return TrialRow(
        number=t.number,
        state=state,
        params=dict(params),
        accuracy=result.get("accuracy"),
        test_loss=result.get("test_loss"),
        seconds=result.get("seconds"),
        params_count=a.get("params_count"),
        epochs=result.get("epochs_done"),
        run_id=a.get("run_id") if state != "queued" else None,
        error=error if state != "queued" else "",
        retry_of=retry_of(t),
    )


def read_report(name: str, storage: str | None = None) -> SweepReport:
    """The sweep's trials (empty stray records left out) and settings, read from the storage."""
    study, spec = load(name, storage)
    with storage_errors(f"cannot read sweep {name}"):
        trials = study.get_trials(deepcopy=False)
        stopped = stop_requested(study)
    rows = [row_of(t) for t in trials if t.params or t.state == TrialState.WAITING]
    return SweepReport(name, spec, rows, stopped)
