"""Background trainings as tasks of the queue (``engine.taskq``): submit, cancel, resume, the
line, and what a worker does with a task.

A run's files say where it stands: ``status.json`` has ``state`` (queued, running, complete,
failed, cancelled), ``submitted`` (its place in line), ``priority``, ``queue`` (cpu or gpu) and
``attempt``. Every change of state happens under the queue's lock for that run, so the web host
and workers on other machines never race. The task carries (run id, attempt): a worker drops a
task whose attempt is not the run's, so a training requeued after its worker died is never
trained twice at once.

Pages only call ``submit``, ``cancel``, ``resume`` and the readers (``queue``, ``standing``,
``running``); nothing here runs on a page render. Workers call ``run_task``, ``sweep_task`` and
``maintain``.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from engine import EngineError, hosting, procs, taskq
from engine.config import TrainConfig, auto_threads
from engine.runs import (
    Run,
    RunError,
    RunState,
    create_run,
    list_runs,
    remove_stale_temp_files,
    runs_dir,
)

MAX_JOBS_ENV = "ENGINE_MAX_JOBS"
LOCAL_WORKER_ENV = "ENGINE_LOCAL_WORKER"  # 1: start a worker beside the app even with a broker
HEARTBEAT = "heartbeat.json"


def max_jobs() -> int:
    """The embedded worker's concurrency: $ENGINE_MAX_JOBS, default 1 (one job per 2 cores)."""
    try:
        return max(1, int(os.environ.get(MAX_JOBS_ENV, "1")))
    except ValueError:
        return 1


def queue_of(cfg: TrainConfig) -> str:
    """The queue a training goes to: ``gpu`` when it asks for CUDA, else ``cpu``."""
    return "gpu" if cfg.device == "cuda" else "cpu"


def _send(run: Run, attempt: int, kind: str, priority: int) -> None:
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
            n = min(cfg.limit_train or 10**9, _train_size(cfg))
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
    _send(run, 1, kind, priority)
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
        if st.get("state") == RunState.RUNNING.value or _waiting(st):
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
        if state == RunState.QUEUED:
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
    _send(run, attempt, kind, priority)
    return run


def ensure_default_model(root: Path | None = None) -> Run | None:
    """Queue the default digit model when a fresh server has none (its first start).

    Returns the run when it is queued or running; None when it is complete or failed (a failed
    one is not retried on every start: Resume it on the Runs page).
    """
    from engine.config import DEFAULT_MODEL, DEFAULT_RUN_ID

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
    return run if run.state() in (RunState.QUEUED, RunState.RUNNING) else None


# --- readers: no side effects ---------------------------------------------------------------------
def _waiting(st: dict) -> bool:
    return st.get("state") == RunState.QUEUED.value and "submitted" in st


def queue(root: Path | None = None, kind: str | None = None) -> list[Run]:
    """Queued runs in the order the queue gives them: priority first, then time of asking."""
    waiting = []
    for run in list_runs(root):
        st = run.status()
        if _waiting(st) and (kind is None or st.get("queue", "cpu") == kind):
            waiting.append((-int(st.get("priority") or 0), st["submitted"], run.id, run))
    return [t[-1] for t in sorted(waiting, key=lambda t: t[:3])]


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


@dataclass(frozen=True)
class Standing:
    """Where a queued run stands: its place in line and when it should start and finish."""

    place: int  # 1 = next to start
    waiting: int  # runs in this queue
    slots: int  # tasks the live workers of this queue run at once (0: no worker is up)
    start_s: float | None  # seconds until it starts (None: no worker, or nothing to go on)
    finish_s: float | None
    kind: str  # "cpu" or "gpu"
    hosts: tuple[str, ...]  # the workers' host names, for the admin

    def line(self) -> str:
        """The line: "3rd in line, about 40 s to start, about 55 s to finish (CPU worker)"."""
        where = f"{ordinal(self.place)} in line"
        if self.slots == 0:
            return f"{where}; no {self.kind.upper()} worker is running, so it waits for one"
        if self.start_s is None:
            return f"{where} ({self.kind.upper()} worker)"
        start = "starting now" if self.start_s < 1 else f"about {_secs(self.start_s)} to start"
        end = f", about {_secs(self.finish_s)} to finish" if self.finish_s else ""
        return f"{where}, {start}{end} ({self.kind.upper()} worker)"


def _secs(s: float | None) -> str:
    s = max(0.0, s or 0.0)
    if s < 90:
        return f"{s:.0f} s"
    if s < 3600:
        return f"{s / 60:.0f} min"
    return f"{s // 3600:.0f} h {s % 3600 / 60:.0f} min"


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def standing(run: Run, expected_s=None) -> Standing | None:
    """The run's place in line, with the start and finish the workers' pace gives; None when
    it is not waiting. ``expected_s(run)``: a run's expected seconds (default: the cost model,
    calibrated on this folder's finished runs)."""
    st = run.status()
    if not _waiting(st):
        return None
    root, kind = run.path.parent, st.get("queue", "cpu")
    line = queue(root, kind)
    place = next((i for i, r in enumerate(line, start=1) if r.id == run.id), None)
    if place is None:
        return None
    live = taskq.workers(root, kind)
    n_slots = sum(int(w.get("concurrency") or 1) for w in live)
    hosts = tuple(sorted({str(w.get("host")) for w in live}))
    if n_slots == 0:
        return Standing(place, len(line), 0, None, None, kind, hosts)
    expected_s = expected_s or _expected_seconds(root)
    # Free times of the slots: now for idle ones, the running jobs' time left for busy ones.
    busy = [r for r in running(root) if r.status().get("queue", "cpu") == kind]
    free = sorted([_left(r, expected_s) for r in busy][:n_slots] + [0.0] * n_slots)[:n_slots]
    start = 0.0
    for r in line[:place]:
        free.sort()
        start = free[0]
        free[0] = start + expected_s(r)
    return Standing(place, len(line), n_slots, start, free[0], kind, hosts)


def _left(run: Run, expected_s) -> float:
    st = run.status()
    eta = eta_seconds(st)
    if eta is not None:
        return eta
    started = st.get("started") or st.get("launched") or time.time()
    return max(0.0, expected_s(run) - (time.time() - started))


def _expected_seconds(root: Path):
    """A function run → expected seconds: the cost model scaled by this folder's finished runs."""
    from engine import estimate

    runs = list_runs(root)
    sizes = {name: (int(i.get("n_train") or 60_000), int(i.get("n_test") or 10_000))
             for name, i in _sizes().items()}  # fmt: skip
    ratios = estimate.speed_ratios([r for r in runs if r.state() == RunState.COMPLETE], sizes)

    def expected(run: Run) -> float:
        try:
            cfg = run.config()
        except RunError:
            return 0.0
        lo, hi = estimate.estimate_range(cfg, *sizes.get(cfg.dataset, (60_000, 10_000)), ratios)
        return (lo + hi) / 2

    return expected


def _sizes() -> dict:
    from engine.data import status

    return status()


def _train_size(cfg: TrainConfig) -> int:
    """Training examples of the dataset as prepared here (60,000 when not prepared yet)."""
    info = _sizes().get(cfg.dataset, {})
    return int(info.get("n_train") or 60_000)


# --- what workers do ------------------------------------------------------------------------------
def _claim(run: Run, attempt: int) -> bool:
    """Mark the run running for this worker, if the task is still the run's; else False."""
    with taskq.locked(f"run-{run.id}"):
        st = run.status()
        if st.get("state") != RunState.QUEUED.value or int(st.get("attempt") or 1) != attempt:
            return False  # cancelled, or a newer attempt was sent
        run.cancel_path.unlink(missing_ok=True)  # a stale request: a queued run cancels at once
        run.set_status(RunState.RUNNING, pid=os.getpid(), host=socket.gethostname(),
                       launched=time.time(), message="starting", attempt=attempt)  # fmt: skip
        return True


def _owns(run: Run, attempt: int) -> bool:
    st = run.status()
    return st.get("state") == RunState.RUNNING.value and int(st.get("attempt") or 1) == attempt


def run_task(run_id: str, attempt: int, root: Path | None = None) -> RunState | None:
    """A worker's training task: claim the run, train it from its checkpoint, with a heartbeat.

    Returns the state it ended in, or None when the task was stale (the run was cancelled or
    requeued). A worker asked to stop (SIGTERM to the worker, not the Cancel button) puts the
    run back in line, first, to resume from its last checkpoint.
    """
    import torch

    from engine import runner

    run = Run(Path(root or runs_dir()) / run_id)
    if not (run.path / "config.json").is_file() or not _claim(run, attempt):
        return None
    threads = run.config().threads or auto_threads()
    torch.set_num_threads(threads)
    beat = taskq.Heartbeat(run.path / HEARTBEAT, {"attempt": attempt},
                           check=lambda: _owns(run, attempt))  # fmt: skip
    with beat, open(run.log_path, "a") as log:

        def echo(text: str) -> None:
            log.write(text + "\n")
            log.flush()

        def interrupted() -> None:
            if _owns(run, attempt):  # the worker stops: back in line, at the front
                requeue(run, "its worker stopped; resuming from the last checkpoint")

        try:
            return runner.execute(run, echo=echo, owned=lambda: not beat.stopped.is_set(),
                                  on_interrupt=interrupted)  # fmt: skip
        except BaseException:  # the worker was stopped before the loop began (loading data)
            if run.cancel_requested():
                with contextlib.suppress(OSError):
                    run.set_status(RunState.CANCELLED, message="cancelled", finished=time.time())
            else:
                interrupted()
            raise


def requeue(run: Run, why: str) -> bool:
    """Put a running run back in line, at the front, as a new attempt; False if it is not
    running any more."""
    with taskq.locked(f"run-{run.id}"):
        st = run.status()
        if st.get("state") != RunState.RUNNING.value:
            return False
        attempt = int(st.get("attempt") or 1) + 1
        kind = st.get("queue", "cpu")
        priority = int(st.get("priority") or 0) + 5
        run.set_status(RunState.QUEUED, attempt=attempt, message=why, priority=priority,
                       requeues=int(st.get("requeues") or 0) + 1,
                       enqueued=time.time())  # fmt: skip
    with contextlib.suppress(taskq.QueueUnavailable):  # maintain sends it once the broker is back
        _send(run, attempt, kind, priority)
    return True


def maintain(root: Path | None = None) -> dict[str, list[str]]:
    """The queue's housekeeping (a periodic task, and at every worker's start). Returns what
    it did: runs requeued, runs re-sent, runs failed, runs and visitors expired."""
    root = Path(root or runs_dir())
    done: dict[str, list[str]] = {"requeued": [], "resent": [], "failed": [], "expired": []}
    try:
        with taskq.locked("maintain", wait_s=0, ttl_s=300):
            _maintain(root, done)
    except taskq.QueueBusy:
        pass  # another worker is at it
    return done


def _maintain(root: Path, done: dict[str, list[str]]) -> None:
    now = time.time()
    lost: list[Run] = []
    for run in list_runs(root):
        st = run.status()
        state = st.get("state")
        if state == RunState.RUNNING.value:
            beat = taskq.read_beat(run.path / HEARTBEAT)
            if "attempt" not in st:  # `python -m engine train` in a terminal, not a task
                here = st.get("host") == socket.gethostname()
                if here and not procs.pid_alive(st.get("pid", -1)):
                    remove_stale_temp_files(run.path)
                    run.set_status(RunState.FAILED, finished=now, message=(
                        f"the training process (pid {st.get('pid')}) died; "
                        f"the checkpoint of epoch {st.get('epoch', 0)} is intact"))  # fmt: skip
                    done["failed"].append(run.id)
                continue
            if beat is None or int(beat.get("attempt") or 0) != int(st["attempt"]):
                beat = {"host": st.get("host"), "pid": st.get("pid"), "t": st.get("updated")}
            if not taskq.beat_alive(beat, now):
                remove_stale_temp_files(run.path)  # a save it was in the middle of
                why = f"its worker died; resuming from the checkpoint of epoch {st.get('epoch', 0)}"
                if requeue(run, why):
                    done["requeued"].append(run.id)
        elif _waiting(st) and now - float(st.get("enqueued", st["submitted"])) > taskq.LOST_AFTER_S:
            lost.append(run)
    if lost:
        held = {(args[0], int(args[1])) for kind in taskq.QUEUES
                for name, args in _pending(kind) if name == "train"}  # fmt: skip
        for run in lost:
            st = run.status()
            if (run.id, int(st.get("attempt") or 1)) in held or not _waiting(st):
                continue
            with taskq.locked(f"run-{run.id}"):
                st = run.status()
                if not _waiting(st):
                    continue
                attempt = int(st.get("attempt") or 1) + 1
                run.set_status(RunState.QUEUED, attempt=attempt)
            _send(run, attempt, st.get("queue", "cpu"), int(st.get("priority") or 0))
            done["resent"].append(run.id)
    done["expired"] = clean_expired(root)
    _maintain_sweeps(root)


def _pending(kind: str) -> list[tuple[str, tuple]]:
    try:
        return taskq.pending(kind)
    except taskq.QueueUnavailable:
        return []


def clean_expired(root: Path | None = None) -> list[str]:
    """Hosted mode: remove the files of visitors idle too long (``hosting.Limits.idle_hours``):
    their sample folders, then their finished runs. Returns the ids of the runs removed."""
    from engine import sample_store

    root = Path(root or runs_dir())
    with contextlib.suppress(OSError):
        sample_store.expire(root)
    if not hosting.public():
        return []  # locally nobody's visits are recorded: nothing is ever "idle"
    return _remove_expired(root)


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


# --- sweeps: each trial is a task of the same queue -----------------------------------------------
def send_trials(name: str, storage: str, root: Path, n: int) -> None:
    """Start ``n`` chains of trial tasks for sweep ``name``: each task trains one trial and,
    while the sweep has work left, sends the next. So at most ``n`` of its trials run at once,
    and the queue's workers and priority cover them like trainings."""
    for _ in range(n):
        taskq.send("sweep_trial", name, storage, str(root), priority=taskq.PRIORITY["sweep"])
    ensure_local_worker(root)


def sweep_task(name: str, storage: str, root: Path) -> None:
    """One trial of sweep ``name`` in this worker, then the next task of its chain."""
    import torch

    from engine import sweep

    torch.set_num_threads(1)  # trials of a sweep run side by side
    log = Path(root) / "sweeps" / name / f"worker-{socket.gethostname()}-{os.getpid()}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as f:
        sweep.work(name, storage, root=root, echo=lambda s: print(s, file=f, flush=True),
                   max_trials=1)  # fmt: skip
    study, spec = sweep.load(name, storage)
    if not sweep.stop_requested(study) and sweep.has_work(study, spec):
        send_trials(name, storage, root, 1)


def _maintain_sweeps(root: Path) -> None:
    """Requeue dead workers' trials; restart a chain for a sweep started on the queue that has
    work left and lost every chain (its worker died)."""
    from engine import sweep

    with contextlib.suppress(Exception):  # a sweep storage hiccup must not stop the rest
        held = {args[0] for name, args in _pending("cpu") if name == "sweep_trial"}
        for name in sweep.list_sweeps():
            study, spec = sweep.load(name)
            sweep.reap(study)
            started = study.user_attrs.get("parallel")  # by start_workers (not the CLI's)
            idle = not sweep.report(name).count("running") and name not in held
            if started and idle and not sweep.stop_requested(study) and sweep.has_work(study, spec):
                send_trials(name, sweep.default_storage(), root, 1)


# --- the embedded worker --------------------------------------------------------------------------
def ensure_local_worker(root: Path | None = None) -> int | None:
    """Start ``python -m engine worker`` on this machine unless one is alive for this runs
    folder; returns its pid. Only with the embedded queue (or $ENGINE_LOCAL_WORKER=1): with a
    broker, workers run elsewhere and the web host only serves pages.

    Called where work is sent (``submit``, ``resume``, a sweep's trials) and once at a server's
    start when work is waiting, never on a page render. The worker is detached, so it outlives
    a restart of the server, and the next server finds it alive here."""
    if not (taskq.embedded() or os.environ.get(LOCAL_WORKER_ENV, "").strip() == "1"):
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
