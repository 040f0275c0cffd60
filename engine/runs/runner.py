"""Execute a run directory: the glue between the training loop and the run's files.

Used by ``python -m engine train|resume`` and therefore by every background job.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import time
from collections.abc import Callable

import torch

from engine import EngineError
from engine.config import TrainConfig
from engine.data.datasets import load
from engine.runs import snapshots
from engine.runs.procs import sigterm_flag
from engine.runs.store import (
    Run,
    RunState,
    model_from_checkpoint,
    read_checkpoint,
    remove_stale_temp_files,
)
from engine.training.estimate import examples_per_epoch
from engine.training.hardware import StopPoller, resolve_device
from engine.training.loop import (
    EpochResult,
    Progress,
    TrainingCancelled,
    TrainState,
    init_state,
    train,
)


def restore_state(
    run: Run,
    steps_per_epoch: int,
    cfg: TrainConfig | None = None,
    device: torch.device | None = None,
) -> TrainState | None:
    """The TrainState of the run's last checkpoint, or None when it has none.

    ``cfg`` and ``device``: the run's config and its resolved device (what ``execute`` has);
    without them they are read and resolved here.
    """
    if not run.has_checkpoint():
        return None
    ckpt = read_checkpoint(run.checkpoint_path)
    cfg = cfg or run.config()
    device = device or resolve_device(cfg.device)
    state = init_state(cfg, device, steps_per_epoch)
    state.model.load_state_dict(model_from_checkpoint(ckpt).state_dict())
    state.model.to(device)
    state.optimizer.load_state_dict(ckpt["optimizer"])
    if state.scheduler is not None and ckpt.get("scheduler"):
        state.scheduler.load_state_dict(ckpt["scheduler"])
    state.epoch = int(ckpt["epoch"])
    state.history = list(ckpt.get("metrics", []))
    return state


def execute(
    run: Run,
    echo: Callable[[str], None] = print,
    owned: Callable[[], bool] | None = None,
    on_interrupt: Callable[[], None] | None = None,
) -> RunState:
    """Train ``run`` to its configured epochs, from its checkpoint if it has one.

    Writes status.json (running → complete/failed/cancelled), appends metrics.jsonl, saves
    checkpoint.pt atomically after every epoch, and echoes the seed-style log lines.

    For a queue's worker (``engine.queue.tasks.run_task``): ``owned()`` turns False once the run was
    given to another attempt; the loop then stops and writes nothing more. ``on_interrupt`` is
    called, instead of marking the run cancelled, when it stops without a cancel request (the
    worker is shutting down, or lost the run); the run's state is then the caller's business.
    """
    owned = owned or (lambda: True)
    cfg = run.config()
    data = load(cfg.dataset)
    remove_stale_temp_files(run.path)  # a resume after a kill: the dead writer's half saves
    steps = -(-examples_per_epoch(cfg, len(data.x_train)) // cfg.batch_size)
    t_start = time.time()
    run.set_status(
        RunState.RUNNING, pid=os.getpid(), host=socket.gethostname(), started=t_start, message=""
    )
    # SIGTERM (Cancel button, `kill`) stops at the next batch like the cancel file does.
    sigterm = contextlib.ExitStack()
    stop = sigterm.enter_context(sigterm_flag())
    # The batch loop asks a flag; a thread looks at the signal and the cancel file 5 times a second.
    should_stop = sigterm.enter_context(
        StopPoller(lambda: stop.is_set() or run.cancel_requested() or not owned())
    )
    try:
        device = resolve_device(cfg.device)  # once per run: restore_state and train are given it
        state = restore_state(run, steps, cfg, device)
        done = state.epoch if state else 0
        run.truncate_metrics(done)
        if done:
            echo(f"Resuming from the checkpoint of epoch {done}")
        echo(f"Using {device} device")
        echo(data.info.describe())
        keep_snapshots = snapshots.start(run.path, cfg, state, steps, echo)
        current = {"epoch": 0}

        def on_progress(p: Progress) -> None:
            if not owned():
                raise TrainingCancelled("the run was given to another worker")
            if p.epoch != current["epoch"]:
                current["epoch"] = p.epoch
                echo(f"Epoch {p.epoch}\n-------------------------------")
            echo(p.line())
            run.append_metric({"kind": "progress", **p.__dict__, "t": time.time()})
            run.set_status(RunState.RUNNING, progress=p.examples, total=cfg.epochs * p.total)

        def on_epoch(r: EpochResult, st: TrainState) -> None:
            if not owned():  # another attempt has the run: its files are not ours to write
                raise TrainingCancelled("the run was given to another worker")
            echo(r.line())
            if keep_snapshots:  # before the checkpoint: a resume redoes (and rewrites) it
                snapshots.save(run.path, r.epoch, st.model)
            # The metric before the checkpoint: a process killed between the two leaves an epoch
            # listed without its checkpoint (resume drops it and trains it again), never a
            # checkpointed epoch missing from the metrics (resume could not restore its line).
            run.append_metric({"kind": "epoch", **r.__dict__, "t": time.time()})
            run.save_checkpoint(st)
            run.set_status(RunState.RUNNING, epoch=r.epoch, test_accuracy=r.test_accuracy)

        state = train(
            cfg,
            data,
            state=state,
            device=device,
            on_progress=on_progress,
            on_epoch=on_epoch,
            should_stop=should_stop,
        )
    except TrainingCancelled as e:
        if on_interrupt is not None and not run.cancel_requested():
            echo(f"Interrupted: {e}")
            on_interrupt()
            return RunState.QUEUED
        run.set_status(RunState.CANCELLED, message=str(e), finished=time.time())
        echo(f"Cancelled: {e}")
        return RunState.CANCELLED
    except EngineError as e:  # TrainingDiverged among them
        run.set_status(RunState.FAILED, message=str(e), finished=time.time())
        echo(f"Failed: {e}")
        return RunState.FAILED
    except OSError as e:  # e.g. a full disk while saving: the previous checkpoint is intact
        done = run.status().get("epoch", 0)
        msg = f"could not write the run's files ({e.strerror or e}); "
        msg += f"the checkpoint of epoch {done} is intact" if done else "no checkpoint yet"
        try:
            run.set_status(RunState.FAILED, message=msg, finished=time.time())
        except OSError:
            pass  # not even status.json fits: the dead pid reports the run as failed
        echo(f"Failed: {msg}")
        return RunState.FAILED
    except BaseException as e:
        run.set_status(RunState.FAILED, message=f"{type(e).__name__}: {e}", finished=time.time())
        raise
    finally:
        sigterm.close()
        sys.stdout.flush()
    last = state.history[-1] if state.history else {}
    run.set_status(
        RunState.COMPLETE,
        finished=time.time(),
        test_accuracy=last.get("test_accuracy"),
        seconds=sum(h["seconds"] for h in state.history),
        message="",
    )
    echo("Done!")
    return RunState.COMPLETE
