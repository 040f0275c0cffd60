"""Background trainings as tasks of the queue (``engine.queue.taskq``): submit, cancel, resume, the
line, and what a worker does with a task.

A run's files say where it stands: ``status.json`` has ``state`` (queued, running, complete,
failed, cancelled), ``submitted`` (its place in line), ``priority``, ``queue`` (cpu or gpu) and
``attempt``. Every change of state happens under the queue's lock for that run, so the web host
and workers on other machines never race. The task carries (run id, attempt): a worker drops a
task whose attempt is not the run's, so a training requeued after its worker died is never
trained twice at once.

Pages only call ``submit``, ``cancel``, ``resume`` and the readers (``queue``, ``position``,
``running``; the whole queue with each run's place and wait: ``engine.queue.standing.board``);
nothing here runs on a page render.
What workers do with a task, and the housekeeping, is ``engine.queue.tasks``.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import socket
import time
from pathlib import Path

from engine import EngineError
from engine.config import DEFAULT_RUN_ID, TrainConfig, auto_threads
from engine.data import datasets
from engine.presets import DEFAULT_MODEL
from engine.queue import taskq
from engine.runs import hosting, procs
from engine.runs.store import (
    Run,
    RunError,
    RunState,
    create_run,
    list_runs,
    runs_dir,
)
from engine.settings import current as settings
from engine.training.estimate import examples_per_epoch

MAX_JOBS_ENV = "ENGINE_MAX_JOBS"
LOCAL_WORKER_ENV = "ENGINE_LOCAL_WORKER"  # 1: start a worker beside the app even with a broker
HEARTBEAT = "heartbeat.json"


def max_jobs() -> int:
    """The embedded worker's concurrency: $ENGINE_MAX_JOBS, default 1 (one job per 2 cores)."""
    return settings().max_jobs


def queue_of(cfg: TrainConfig) -> str:
    """The queue a training goes to: ``gpu`` when it asks for CUDA, else ``cpu``."""
    return "gpu" if cfg.device == "cuda" else "cpu"


def send_run(run: Run, attempt: int, kind: str, priority: int) -> None:
    """Send the run's task. Its status is written before: once sent, a worker may claim the run
    at once, and status.json then belongs to that worker."""
    run.set_status(RunState.QUEUED, enqueued=time.time())
    try:
        taskq.send("train", run.id, attempt, kind=kind, priority=priority)
    except taskq.QueueUnavailable:
        run.set_status(RunState.QUEUED, enqueued=0)  # not sent: ``maintain`` sends it later
        raise
    if kind == "cpu":
        ensure_local_worker(run.path.parent)  # embedded queue: someone must take the task


# --- what pages call ------------------------------------------------------------------------------
def submit(
    cfg: TrainConfig,
    root: Path | None = None,
    run_id: str | None = None,
    by: hosting.Visitor | None = None,
    priority: int = taskq.PRIORITY["training"],
    message: str = "",
) -> Run:
    """Create a run for ``cfg`` and queue it.

    ``by`` is the visitor asking (None: the operator, from the CLI or the server itself); in
    hosted mode their quotas are checked here, under the queue's lock, so parallel sessions
    cannot overshoot them. The run records its owner. Raises ``taskq.QueueUnavailable`` when
    the broker cannot be reached; then nothing is created.
    """
    root = Path(root or runs_dir())
    owner = by.id if by is not None else hosting.OPERATOR
    kind = queue_of(cfg)
    with taskq.locked("submit"):
        if hosting.bound(by):
            active, stored = _tasks_by_owner(root)
            n = examples_per_epoch(cfg, _train_size(cfg))
            hosting.check_training(by, cfg.epochs, n, active, stored)
            try:
                hosting.check_storage(root)
            except hosting.HostingError:  # full: idle visitors' files go first, then look again
                _remove_expired(root)
                hosting.check_storage(root)
        try:
            run = create_run(cfg, root, run_id)
            run.set_status(RunState.QUEUED, submitted=time.time(), owner=owner, attempt=1,
                           queue=kind, priority=priority, message=message)  # fmt: skip
        except OSError as e:
            why = f"cannot queue: {e.strerror or type(e).__name__}"  # str(e) names a server path
            raise hosting.HostingError(hosting.disk_full_message(e) or why) from e
    # Sent outside the submit lock; if the broker fails now, the run stays queued and the
    # next ``maintain`` sends it (its ``enqueued`` is 0).
    send_run(run, 1, kind, priority)
    return run


def _tasks_by_owner(root: Path, sweep_name: str = "") -> tuple[dict[str, int], dict[str, int]]:
    """(active tasks, stored runs) per owner. Active: trainings queued or running, plus the
    parallel trials of sweeps that have work left: one queue, one set of caps."""
    from engine import sweep

    active: dict[str, int] = {}
    stored: dict[str, int] = {}
    for r in list_runs(root):
        st = r.status()
        o = hosting.owner_of(st)
        stored[o] = stored.get(o, 0) + 1
        if st.get("state") == RunState.RUNNING.value or waiting(st):
            active[o] = active.get(o, 0) + 1
    with contextlib.suppress(EngineError):  # no sweep storage yet: no trials
        for o, n in sweep.active_trials(exclude=sweep_name):
            active[o] = active.get(o, 0) + n
    return active, stored


def check_tasks(
    by: hosting.Visitor | None, n: int, root: Path | None = None, sweep_name: str = ""
) -> None:
    """Raise HostingError when ``n`` more tasks of ``by`` would break the queue's caps (per
    visitor, and in all), counting trainings and sweep trials alike; ``sweep_name``: the sweep
    being (re)started, whose own trials are the ``n``."""
    if not hosting.bound(by):
        return
    lim = hosting.Limits.from_env()
    active, _ = _tasks_by_owner(Path(root or runs_dir()), sweep_name)
    if active.get(by.id, 0) + n > lim.jobs_per_visitor:
        raise hosting.HostingError(
            f"You already have {active.get(by.id, 0)} training or sweep trial(s) queued or "
            f"running, and one visitor may have {lim.jobs_per_visitor} on this shared server: "
            "wait for them to finish or stop them."
        )
    if sum(active.values()) + n > lim.queue:
        raise hosting.HostingError(
            f"The server's queue is full ({lim.queue} tasks): please try again in a few minutes."
        )


def cancel(run: Run, by: hosting.Visitor | None = None) -> RunState:
    """Stop a run: a queued one is cancelled at once, a running one stops at its next batch,
    on whichever machine it runs (the worker polls the run's cancel file)."""
    with taskq.locked(f"run-{run.id}"):
        st = run.status()
        hosting.check_owner(st, f"run {run.id}", by)
        state = RunState(st.get("state", "failed"))
        if state in (RunState.CREATED, RunState.QUEUED):
            run.set_status(RunState.CANCELLED, message="cancelled while queued",
                           finished=time.time())  # fmt: skip
            return RunState.CANCELLED
        if state != RunState.RUNNING:
            return state
        # The worker polls this file 5 times a second, on any machine. No signal: the process
        # is a long-lived worker, and SIGTERM would stop the worker, not the training.
        run.request_cancel()
    return RunState.RUNNING


def resume(run: Run, by: hosting.Visitor | None = None) -> Run:
    """Queue a cancelled or failed run again; it continues from its last checkpoint."""
    with taskq.locked(f"run-{run.id}"):
        st = run.status()
        hosting.check_owner(st, f"run {run.id}", by)
        state = RunState(st.get("state", "failed"))
        if not state.is_finished() or state == RunState.COMPLETE:
            raise RunError(f"run {run.id} is {state.value}; only cancelled or failed runs resume")
        run.cancel_path.unlink(missing_ok=True)
        attempt = int(st.get("attempt") or 0) + 1
        kind = queue_of(run.config())
        priority = int(st.get("priority", taskq.PRIORITY["training"]))
        run.set_status(RunState.QUEUED, submitted=time.time(), message="", attempt=attempt,
                       queue=kind, priority=priority, enqueued=time.time())  # fmt: skip
    send_run(run, attempt, kind, priority)
    return run


def ensure_default_model(root: Path | None = None) -> Run | None:
    """Queue the default digit model when a fresh server has none (its first start).

    Returns the run when it is queued or running; None when it is complete or failed (a failed
    one is not retried on every start: Resume it on the Runs page).
    """
    root = Path(root or runs_dir())
    path = root / DEFAULT_RUN_ID
    if not (path / "config.json").is_file():
        with taskq.locked("default-model"):
            if not (path / "config.json").is_file():
                if path.exists():  # a half-created directory from a killed start
                    shutil.rmtree(path, ignore_errors=True)
                submit(DEFAULT_MODEL, root, DEFAULT_RUN_ID, priority=taskq.PRIORITY["default"],
                       message="first start")  # fmt: skip
    run = Run(path)
    return run if run.state().is_active() else None


# --- readers: no side effects ---------------------------------------------------------------------
def waiting(st: dict) -> bool:
    return st.get("state") == RunState.QUEUED.value and "submitted" in st


def line_key(run: Run, st: dict) -> tuple:
    """A waiting run's place in the order the queue gives: priority first, then time of asking."""
    return -int(st.get("priority") or 0), float(st["submitted"]), run.id


def queue(root: Path | None = None, kind: str | None = None) -> list[Run]:
    """Queued runs in the order the queue gives them (``line_key``)."""
    line = []
    for run in list_runs(root):
        st = run.status()
        if waiting(st) and (kind is None or st.get("queue", "cpu") == kind):
            line.append((line_key(run, st), run))
    return [run for _, run in sorted(line, key=lambda t: t[0])]


def position(run: Run) -> int | None:
    """1-based place of ``run`` in its queue, or None when it is not waiting."""
    kind = run.status().get("queue", "cpu")
    for i, r in enumerate(queue(run.path.parent, kind), start=1):
        if r.id == run.id:
            return i
    return None


def running(root: Path | None = None) -> list[Run]:
    return [r for r in list_runs(root) if r.state() == RunState.RUNNING]


def eta_seconds(status: dict) -> float | None:
    """Seconds left from a running job's progress, or None before the first report."""
    done, total, started = status.get("progress"), status.get("total"), status.get("started")
    if not done or not total or not started:
        return None
    elapsed = time.time() - started
    return max(0.0, elapsed * (total - done) / done) if math.isfinite(elapsed) else None


def dataset_sizes() -> dict:
    return datasets.status()


def _train_size(cfg: TrainConfig) -> int:
    """Training examples of the dataset as prepared here (60,000 when not prepared yet)."""
    info = dataset_sizes().get(cfg.dataset, {})
    return int(info.get("n_train") or 60_000)


def clean_expired(root: Path | None = None) -> list[str]:
    """Hosted mode: remove the files of visitors idle too long (``hosting.Limits.idle_hours``):
    their folders (sample sets included), then their finished runs. Returns the ids of the runs
    removed. Locally nothing expires: nobody's visits are recorded there."""
    if not hosting.public():
        return []
    return _remove_expired(Path(root or runs_dir()))


def _remove_expired(root: Path) -> list[str]:
    hosting.expire(root)
    base = root / hosting.VISITORS_DIR
    alive = {d.name for d in base.iterdir()} if base.is_dir() else set()
    removed = []
    for run in list_runs(root):
        st = run.status()
        owner = hosting.owner_of(st)
        finished = RunState(st.get("state", "failed")).is_finished()
        if owner != hosting.OPERATOR and owner not in alive and finished:
            shutil.rmtree(run.path, ignore_errors=True)
            removed.append(run.id)
    return removed


def adopt_legacy_visitor(token: str, root: Path | None = None) -> list[str]:
    """A visitor whose cookie predates hashed ids (``hosting.visitor_id``) is back: their folder
    and the runs they own move from the raw token to its id, so they keep their work and the
    token leaves the disk. Returns the runs changed. A running run (its worker writes its status
    without the lock) and the folder wait for their next visit; sweeps keep the token (the admin
    can still stop them, and they end by themselves)."""
    root = Path(root or runs_dir())
    old = root / hosting.VISITORS_DIR / token
    if hosting.is_visitor_id(token) or not hosting.valid_token(token) or not old.is_dir():
        return []  # an id is no token to adopt: that would hand its owner's work to the caller
    new, changed, running_left = hosting.visitor_id(token), [], False
    for run in list_runs(root):
        if run.status().get("owner") != token:
            continue
        with taskq.locked(f"run-{run.id}"):
            st = run.status()
            state = RunState(st.get("state", "failed"))
            if state == RunState.RUNNING:
                running_left = True
            elif st.get("owner") == token:
                run.set_status(state, owner=new)
                changed.append(run.id)
    if not running_left:
        home = old.with_name(new)
        home.mkdir(exist_ok=True)
        for f in old.iterdir():
            if not (home / f.name).exists():
                f.rename(home / f.name)
        shutil.rmtree(old, ignore_errors=True)
    return changed


# --- the embedded worker --------------------------------------------------------------------------
def ensure_local_worker(root: Path | None = None) -> int | None:
    """Start ``python -m engine worker`` on this machine unless one is alive for this runs
    folder; returns its pid. Only with the embedded queue (or $ENGINE_LOCAL_WORKER=1): with a
    broker, workers run elsewhere and the web host only serves pages.

    Called where work is sent (``submit``, ``resume``, a sweep's trials) and once at a server's
    start when work is waiting, never on a page render. The worker is detached, so it outlives
    a restart of the server, and the next server finds it alive here."""
    if not (taskq.embedded() or settings().local_worker):
        return None
    root = Path(root or runs_dir())
    root.mkdir(parents=True, exist_ok=True)
    with procs.file_lock(root / ".worker.lock"):  # servers of this machine take turns
        mine = [w for w in taskq.workers(root, "cpu") if w.get("host") == socket.gethostname()]
        if mine:
            return int(mine[0]["pid"])
        env = procs.worker_env(auto_threads(), root)
        args = ["worker", "--queue", "cpu", "--concurrency", str(max_jobs())]
        proc = procs.spawn(args, env, log=root / ".worker.log")
        # Its registry entry at once, so a second server does not start another meanwhile.
        taskq.register_worker(root, proc.pid, "cpu", max_jobs())
        return proc.pid
