"""Process handling for background work: the queue's worker (``engine.queue.jobs``), sweep workers
(``engine.sweep``) and the sweep CLI's helper processes (``engine.sweep.cli``).

- ``file_lock``: an fcntl lock on a file, for processes on one machine that take turns.
- ``pid_alive``: whether a process of this machine still runs (a zombie counts as dead).
- ``worker_env``: the one environment of a background process: torch thread count, niceness,
  ``PYTHONPATH`` to this repository, the runs and data directories, unbuffered output.
- ``spawn`` and ``reap``: start a detached ``python -m engine ...`` child, and collect the
  exit status of finished children so that they never linger as zombies.
- ``sigterm_flag``: while inside it, SIGTERM sets a flag instead of killing the process, so a
  training loop stops at its next batch and leaves its files in order.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from engine.settings import current as settings

ROOT = Path(__file__).resolve().parents[2]  # the repository: children import `engine` from here
NICENESS = 10  # background work yields the CPU to the dashboard's server: pages stay responsive
NICE_ENV = "ENGINE_NICE"  # read by `python -m engine` at start (see apply_nice)

_children: list[subprocess.Popen] = []  # processes this process started; polled to reap them
_children_lock = threading.Lock()  # the Streamlit server starts jobs from several threads


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) for the ``with`` block."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` of this machine runs; a zombie (killed, not reaped) is dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, ValueError):
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def worker_env(threads: int, runs_root: Path, nice: bool = True) -> dict[str, str]:
    """The environment of a background ``python -m engine`` process.

    ``threads``: its torch/OpenMP/MKL thread count (one pool in every library torch may use).
    ``nice``: run at ``NICENESS`` (the queue's worker, data preparation); False inherits this
    process's priority (the CLI's helpers, which share the user's terminal).
    """
    from engine.data.datasets import data_dir

    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "ENGINE_RUNS_DIR": str(Path(runs_root).resolve()),
        "ENGINE_DATA_DIR": str(data_dir().resolve()),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "PYTHONUNBUFFERED": "1",  # logs show lines as they are printed
    }
    if nice:
        env[NICE_ENV] = str(NICENESS)
    else:
        env.pop(NICE_ENV, None)
    return env


def apply_nice() -> None:
    """Lower this process to $ENGINE_NICE (an absolute level, not 10 more each generation)."""
    if (niceness := settings().nice) is not None:
        with contextlib.suppress(OSError):
            os.nice(max(0, niceness - os.nice(0)))


def reap() -> None:
    """Collect the exit status of finished children (a dead child is a zombie until then)."""
    with _children_lock:
        _children[:] = [p for p in _children if p.poll() is None]


def spawn(
    args: list[str], env: dict[str, str], log: Path | None = None, detached: bool = True
) -> subprocess.Popen:
    """Start ``python -m engine ARGS...``; its output is appended to ``log`` (or shared).

    ``detached``: in its own session, so it survives a server restart and Ctrl-C in the
    terminal that started the server.
    """
    reap()
    cmd = [sys.executable, "-m", "engine", *args]
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(open(log, "ab")) if log is not None else None
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT if out is not None else None,
            env=env,
            cwd=os.getcwd(),
            start_new_session=detached,
        )
    with _children_lock:
        _children.append(proc)
    return proc


@contextlib.contextmanager
def sigterm_flag() -> Iterator[threading.Event]:
    """An Event that SIGTERM sets while inside the block (main thread only; elsewhere, the
    Event is never set by a signal). The previous handler is restored on the way out."""
    event = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield event
        return
    prev = signal.signal(signal.SIGTERM, lambda *_: event.set())
    try:
        yield event
    finally:
        signal.signal(signal.SIGTERM, prev)
