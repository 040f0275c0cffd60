"""Helpers of the queue tests (not a test module): waiting for a state, the brokers at
127.0.0.1, and real ``python -m engine worker`` processes, as another machine would run them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from engine.queue import taskq

ROOT = Path(__file__).resolve().parents[1]
BROKERS = {
    "sqlite": None,  # the embedded default: a file in the runs folder
    "redis": "redis://127.0.0.1:6379/15",
    "postgresql": "postgresql://postgres@127.0.0.1:5432/test",
}


def wait_for(cond, timeout: float, step: float = 0.05):
    """``cond()``'s first truthy value, polled every ``step`` s; fails after ``timeout`` s."""
    end = time.time() + timeout
    while time.time() < end:
        if v := cond():
            return v
        time.sleep(step)
    raise AssertionError(f"condition not met within {timeout} s")


def broker_url(name: str, runs_dir: Path, redis_db: int | None = None) -> str:
    """The URL of broker ``name``; ``redis_db``: another Redis database than the queue tests'."""
    url = BROKERS[name] or f"sqlite:///{Path(runs_dir).resolve()}/.queue.sqlite3"
    return f"{url.rsplit('/', 1)[0]}/{redis_db}" if name == "redis" and redis_db else url


def flush() -> None:
    """Empty the queues of the broker that ``$ENGINE_QUEUE_URL`` names (raises if unreachable)."""
    for kind in taskq.QUEUES:
        taskq.huey(kind).flush()


class Workers:
    """Real worker processes on this machine, each in its own process group."""

    def __init__(self, root: Path, env: dict[str, str] | None = None) -> None:
        self.root, self.procs, self.env = root, [], env or {}

    def start(self, concurrency: int = 1) -> subprocess.Popen:
        env = {**os.environ, "ENGINE_RUNS_DIR": str(self.root), "OMP_NUM_THREADS": "1",
               "PYTHONPATH": str(ROOT), **self.env}  # fmt: skip
        log = open(self.root / f"worker-{len(self.procs)}.log", "ab")
        cmd = [sys.executable, "-m", "engine", "worker", "--concurrency", str(concurrency)]
        p = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                             start_new_session=True)  # fmt: skip
        self.procs.append(p)
        wait_for(lambda: any(w["pid"] == p.pid for w in taskq.workers(self.root)), 60)
        return p

    def kill_group(self, p: subprocess.Popen) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()

    def stop(self) -> None:
        for p in self.procs:
            self.kill_group(p)
