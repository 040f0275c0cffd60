"""Background training jobs: a queue on disk with a concurrency limit, one process per job.

There is no daemon. The queue is the set of run directories whose status is "queued" and that
were submitted here (``status.json`` has ``submitted``), oldest first. ``pump()`` starts queued
runs while fewer than ``max_jobs()`` are running; the pages call it on every refresh and each
job process calls it when it exits (``python -m engine resume`` does), so a freed slot is filled
even when no browser is open. A file lock (fcntl) makes concurrent pumps safe: a run is marked
running, with its pid, before the lock is released, so no run is ever started twice.

A job is ``python -m engine resume RUN_DIR`` in its own session (it survives a server restart),
with stdout/stderr appended to ``RUN_DIR/log.txt`` and its thread count fixed by environment.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from engine import hosting, procs
from engine.config import TrainConfig, auto_threads
from engine.runs import Run, RunError, RunState, create_run, list_runs, runs_dir

MAX_JOBS_ENV = "ENGINE_MAX_JOBS"
LOCK_NAME = ".jobs.lock"


def max_jobs() -> int:
    """How many jobs may run at once: $ENGINE_MAX_JOBS, default 1 (one torch job per 2 cores)."""
    try:
        return max(1, int(os.environ.get(MAX_JOBS_ENV, "1")))
    except ValueError:
        return 1


def _locked(root: Path) -> contextlib.AbstractContextManager[None]:
    """The queue's lock: one pump, submit, resume or cancel at a time on this runs directory."""
    return procs.file_lock(Path(root) / LOCK_NAME)


def _raw_state(run: Run) -> str | None:
    """The state written in status.json, without the dead-process check of ``Run.status``."""
    import json

    try:
        return json.loads((run.path / "status.json").read_text()).get("state")
    except (OSError, json.JSONDecodeError):
        return None


def _settle(run: Run) -> RunState:
    """Persist the end of a job whose process died without saying so: cancelled or failed."""
    st = run.status()
    state = RunState(st.get("state", "failed"))
    if state == RunState.FAILED and _raw_state(run) == RunState.RUNNING.value:
        if run.cancel_requested():  # killed by our SIGTERM before its handler was installed
            run.set_status(RunState.CANCELLED, message="cancelled", finished=time.time())
            return RunState.CANCELLED
        run.set_status(RunState.FAILED, message=st.get("message", ""), finished=time.time())
    return state


def queue(root: Path | None = None) -> list[Run]:
    """Submitted runs waiting for a slot, in the order they will start."""
    waiting = []
    for run in list_runs(root):
        st = run.status()
        if st.get("state") == RunState.QUEUED.value and "submitted" in st:
            waiting.append((st["submitted"], run.id, run))
    return [r for _, _, r in sorted(waiting, key=lambda t: t[:2])]


def position(run: Run) -> int | None:
    """1-based place of ``run`` in its queue, or None when it is not waiting."""
    for i, r in enumerate(queue(run.path.parent), start=1):
        if r.id == run.id:
            return i
    return None


def running(root: Path | None = None) -> list[Run]:
    return [r for r in list_runs(root) if r.state() == RunState.RUNNING]


def _launch(run: Run) -> subprocess.Popen:
    """``python -m engine resume RUN_DIR``, detached, niced, its output appended to log.txt."""
    env = procs.worker_env(run.config().threads or auto_threads(), run.path.parent)
    return procs.spawn(["resume", str(run.path.resolve())], env, log=run.log_path)


def pump(root: Path | None = None) -> list[Run]:
    """Start queued runs while slots are free; returns the runs started. Safe to call anytime."""
    root = Path(root or runs_dir())
    procs.reap()  # finished children must not linger as zombies
    started = []
    with _locked(root):
        active = 0
        for run in list_runs(root):
            if _settle(run) == RunState.RUNNING:
                active += 1
        for run in queue(root)[: max(0, max_jobs() - active)]:
            proc = _launch(run)
            # Marked running with the child's pid while we hold the lock: another pump sees it.
            run.set_status(
                RunState.RUNNING,
                pid=proc.pid,
                host=socket.gethostname(),
                launched=time.time(),
                message="starting",
            )
            started.append(run)
    return started


def submit(
    cfg: TrainConfig,
    root: Path | None = None,
    run_id: str | None = None,
    by: hosting.Visitor | None = None,
) -> Run:
    """Create a run for ``cfg``, queue it and start it if a slot is free.

    ``by`` is the visitor asking (None: the operator, from the CLI or the server itself); in
    hosted mode their quotas are checked here, under the queue's lock, so parallel sessions
    cannot overshoot them. The run records its owner.
    """
    root = Path(root or runs_dir())
    owner = by.id if by is not None else hosting.OPERATOR
    with _locked(root):
        if hosting.bound(by):
            active: dict[str, int] = {}
            stored: dict[str, int] = {}
            for r in list_runs(root):
                st = r.status()
                o = hosting.owner_of(st)
                stored[o] = stored.get(o, 0) + 1
                if st.get("state") == RunState.RUNNING.value or (
                    st.get("state") == RunState.QUEUED.value and "submitted" in st
                ):
                    active[o] = active.get(o, 0) + 1
            n = min(cfg.limit_train or 10**9, _train_size(cfg))
            hosting.check_training(by, cfg.epochs, n, active, stored)
            try:
                hosting.check_storage(root)
            except hosting.HostingError:  # full: idle visitors' files go first, then look again
                _remove_expired(root)
                hosting.check_storage(root)
        try:
            run = create_run(cfg, root, run_id)
            run.set_status(RunState.QUEUED, submitted=time.time(), owner=owner)
        except OSError as e:
            why = f"cannot queue: {e.strerror or type(e).__name__}"  # str(e) names a server path
            raise hosting.HostingError(hosting.disk_full_message(e) or why) from e
    pump(root)
    return run


def clean_expired(root: Path | None = None) -> list[str]:
    """Hosted mode: remove the files of visitors idle too long (``hosting.Limits.idle_hours``):
    their sample folders, then their finished runs. Returns the ids of the runs removed."""
    if not hosting.public():
        return []  # locally nobody's visits are recorded: nothing is ever "idle"
    root = Path(root or runs_dir())
    with _locked(root):
        return _remove_expired(root)


def _remove_expired(root: Path) -> list[str]:
    import shutil

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


def _train_size(cfg: TrainConfig) -> int:
    """Training examples of the dataset as prepared here (60,000 when not prepared yet)."""
    from engine.data import status

    info = status().get(cfg.dataset, {})
    return int(info.get("n_train") or 60_000)


def ensure_default_model(root: Path | None = None) -> Run | None:
    """Queue the default digit model when a fresh server has none (its first start).

    Returns the run when it is queued, running or was just queued; None when it is complete
    or failed (a failed one is not retried on every page view: Resume it on the Runs page).
    """
    from engine.config import DEFAULT_MODEL, DEFAULT_RUN_ID

    root = Path(root or runs_dir())
    with _locked(root):
        path = root / DEFAULT_RUN_ID
        if not (path / "config.json").is_file():
            if path.exists():  # a half-created directory from a killed start
                import shutil

                shutil.rmtree(path, ignore_errors=True)
            run = create_run(DEFAULT_MODEL, root, DEFAULT_RUN_ID)
            run.set_status(
                RunState.QUEUED,
                submitted=time.time(),
                owner=hosting.OPERATOR,
                message="first start",
            )
        run = Run(path)
    pump(root)
    return run if run.state() in (RunState.QUEUED, RunState.RUNNING) else None


def resume(run: Run, by: hosting.Visitor | None = None) -> Run:
    """Queue a cancelled or failed run again; it continues from its last checkpoint."""
    with _locked(run.path.parent):
        hosting.check_owner(run.status(), f"run {run.id}", by)
        state = _settle(run)
        if not state.is_finished() or state == RunState.COMPLETE:
            raise RunError(f"run {run.id} is {state.value}; only cancelled or failed runs resume")
        run.cancel_path.unlink(missing_ok=True)
        run.set_status(RunState.QUEUED, submitted=time.time(), message="")
    pump(run.path.parent)
    return run


def cancel(run: Run, by: hosting.Visitor | None = None) -> RunState:
    """Stop a run: a queued one is cancelled at once, a running one stops at its next batch."""
    with _locked(run.path.parent):
        st = run.status()
        hosting.check_owner(st, f"run {run.id}", by)
        state = RunState(st.get("state", "failed"))
        if state == RunState.QUEUED:
            run.set_status(RunState.CANCELLED, message="cancelled while queued")
            return RunState.CANCELLED
        if state != RunState.RUNNING:
            return state
        run.request_cancel()  # the loop checks this file between batches
        pid = st.get("pid")
        if isinstance(pid, int) and st.get("host") == socket.gethostname():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)  # also stops a job busy loading data
    return RunState.RUNNING


def eta_seconds(status: dict) -> float | None:
    """Seconds left from a running job's progress, or None before the first report."""
    done, total, started = status.get("progress"), status.get("total"), status.get("started")
    if not done or not total or not started:
        return None
    elapsed = time.time() - started
    return max(0.0, elapsed * (total - done) / done) if math.isfinite(elapsed) else None
