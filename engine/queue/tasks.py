"""What the queue's workers do with a task (``engine.queue.taskq`` calls these): train a run with a
heartbeat (``run_task``), one trial of a sweep (``sweep_task``), and the housekeeping that runs
every minute and at every worker's start (``maintain``): requeue the trainings of dead workers
and the sweep trials of dead ones, send again the tasks a broker lost, fail dead terminal runs,
expire visitors' files.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from pathlib import Path

from engine import sweep
from engine.config import auto_threads
from engine.queue import jobs, taskq, trials
from engine.runs import procs
from engine.runs.store import Run, RunState, list_runs, remove_stale_temp_files, runs_dir

HEARTBEAT = jobs.HEARTBEAT


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

    from engine.runs import runner

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
        jobs.send_run(run, attempt, kind, priority)
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
        elif jobs.waiting(st):
            if now - float(st.get("enqueued", st["submitted"])) > taskq.LOST_AFTER_S:
                lost.append(run)
    if lost:
        held = {(args[0], int(args[1])) for kind in taskq.QUEUES
                for name, args in _pending(kind) if name == "train"}  # fmt: skip
        for run in lost:
            st = run.status()
            if (run.id, int(st.get("attempt") or 1)) in held or not jobs.waiting(st):
                continue
            with taskq.locked(f"run-{run.id}"):
                st = run.status()
                if not jobs.waiting(st):
                    continue
                attempt = int(st.get("attempt") or 1) + 1
                run.set_status(RunState.QUEUED, attempt=attempt)
            jobs.send_run(run, attempt, st.get("queue", "cpu"), int(st.get("priority") or 0))
            done["resent"].append(run.id)
    done["expired"] = jobs.clean_expired(root)
    _maintain_sweeps(root)


def _pending(kind: str) -> list[tuple[str, tuple]]:
    try:
        return taskq.pending(kind)
    except taskq.QueueUnavailable:
        return []


def sweep_task(name: str, storage: str, root: Path) -> None:
    """One trial of sweep ``name`` in this worker, then the next task of its chain."""
    import torch

    torch.set_num_threads(1)  # trials of a sweep run side by side
    log = Path(root) / "sweeps" / name / f"worker-{socket.gethostname()}-{os.getpid()}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as f:
        sweep.work(name, storage, root=root, echo=lambda s: print(s, file=f, flush=True),
                   max_trials=1)  # fmt: skip
    study, spec = sweep.load(name, storage)
    if not sweep.stop_requested(study) and sweep.has_work(study, spec):
        trials.send(name, storage, root, 1)


def _maintain_sweeps(root: Path) -> None:
    """Requeue dead workers' trials; restart a chain for a sweep started on the queue that has
    work left and lost every chain (its worker died)."""
    with contextlib.suppress(Exception):  # a sweep storage hiccup must not stop the rest
        held = {args[0] for name, args in _pending("cpu") if name == "sweep_trial"}
        for name in sweep.list_sweeps():
            study, spec = sweep.load(name)
            sweep.requeue_orphans(study)
            started = study.user_attrs.get("parallel")  # by start_workers (not the CLI's)
            idle = not sweep.read_report(name).count("running") and name not in held
            if started and idle and not sweep.stop_requested(study) and sweep.has_work(study, spec):
                trials.send(name, sweep.default_storage(), root, 1)


taskq.BODIES.update(train=run_task, sweep_trial=sweep_task, maintain=maintain)


# --- the worker ---------------------------------------------------------------------------------
def run_worker(kind: str = "cpu", concurrency: int = 1, root: Path | None = None) -> None:
    """``python -m engine worker``: take tasks of queue ``kind`` with ``concurrency`` processes
    until SIGINT or SIGTERM (a training in progress goes back in line, first)."""
    root = Path(root or runs_dir())
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    h = taskq.huey(kind)
    with taskq.reachable(f"the {kind} queue ({taskq.describe()})"):
        h.storage.queue_size()  # fail now, with a clear message, when the broker is down
    consumer = h.create_consumer(
        workers=max(1, concurrency),
        worker_type="process",  # one training per process: a kill takes one, torch threads apart
        periodic=True,
        health_check_interval=1.0,  # a killed process is replaced within a second
        max_delay=1.0,  # an idle worker looks at the queue at least every second
    )
    taskq.register_worker(root, os.getpid(), kind, concurrency)
    print(f"worker {taskq.host()}:{os.getpid()} takes the {kind} queue at {taskq.describe()} "
          f"with {concurrency} process(es); runs in {root.resolve()}", flush=True)  # fmt: skip
    extra = {"queue": kind, "concurrency": concurrency}
    try:
        with taskq.Heartbeat(taskq.worker_file(root, os.getpid()), extra):
            consumer.run()
    finally:
        taskq.worker_file(root, os.getpid()).unlink(missing_ok=True)
