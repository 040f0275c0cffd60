"""A sweep's trials as tasks of the training queue: start and resume a sweep on the queue's
workers, under the same caps and limit as trainings.

A sweep started with ``n`` trials at once is ``n`` chains of ``sweep_trial`` tasks: each task
trains one trial (``engine.queue.tasks.sweep_task``) and, while the sweep has work left, sends the
next. Stopping is the sweep's own (``engine.sweep.stop``): the chains end at their next task.
"""

from __future__ import annotations

from pathlib import Path

from engine import sweep
from engine.queue import jobs, taskq
from engine.runs import hosting
from engine.runs.store import runs_dir


def send(name: str, storage: str, root: Path, n: int) -> None:
    """Start ``n`` chains of trial tasks for sweep ``name``: at most ``n`` of its trials run at
    once, and the queue's workers and priority cover them like trainings."""
    for _ in range(n):
        taskq.send("sweep_trial", name, storage, str(root), priority=taskq.PRIORITY["sweep"])
    jobs.ensure_local_worker(root)


def start(
    name: str,
    n: int,
    storage: str | None = None,
    root: Path | None = None,
    by: hosting.Visitor | None = None,
    *,
    resume: bool = False,
) -> None:
    """Queue the sweep's trials: ``n`` chains, so at most ``n`` of its trials train at once, on
    whichever workers take them (``python -m engine worker``). ``resume``: first clear the stop
    request and requeue the trials of dead workers.

    In hosted mode ``by`` must own the sweep, and the caps on parallel trials and running
    sweeps per visitor apply, with the queue's caps, which count trainings and trials alike.
    """
    root = Path(root or runs_dir())
    sweep.check_owner(name, by, storage)
    study, _ = sweep.load(name, storage)
    if resume:
        with sweep.storage_errors(f"cannot resume sweep {name}"):
            study.set_user_attr("stopped", False)
            sweep.requeue_orphans(study)
    if hosting.bound(by):
        mine = 1 if sweep.owner(name, storage) == by.id else 0
        hosting.check_sweep(by, 0, n, max(0, sweep.active_sweeps(by.id, storage) - mine))
        jobs.check_tasks(by, n, root, name)
    with sweep.storage_errors(f"cannot start sweep {name}"):
        study.set_user_attr("parallel", int(n))
    (root / "sweeps" / name).mkdir(parents=True, exist_ok=True)
    send(name, storage or sweep.default_storage(), root, n)
