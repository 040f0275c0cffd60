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

from engine import procs
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


def submit(cfg: TrainConfig, root: Path | None = None, run_id: str | None = None) -> Run:
    """Create a run for ``cfg``, queue it and start it if a slot is free."""
    run = create_run(cfg, root, run_id)
    run.set_status(RunState.QUEUED, submitted=time.time())
    pump(run.path.parent)
    return run


def resume(run: Run) -> Run:
    """Queue a cancelled or failed run again; it continues from its last checkpoint."""
    with _locked(run.path.parent):
        state = _settle(run)
        if not state.is_finished() or state == RunState.COMPLETE:
            raise RunError(f"run {run.id} is {state.value}; only cancelled or failed runs resume")
        run.cancel_path.unlink(missing_ok=True)
        run.set_status(RunState.QUEUED, submitted=time.time(), message="")
    pump(run.path.parent)
    return run


def cancel(run: Run) -> RunState:
    """Stop a run: a queued one is cancelled at once, a running one stops at its next batch."""
    with _locked(run.path.parent):
        st = run.status()
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
