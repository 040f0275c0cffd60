"""The task queue: trainings and sweep trials are tasks of Huey, on one of three storages.

``ENGINE_QUEUE_URL`` picks the storage, read once per process (``queue_url``):

- ``sqlite:///PATH`` (the default: ``<runs>/.queue.sqlite3``): embedded, no server; the app
  keeps one worker alive on its own machine (``ensure_local_worker``).
- ``redis://HOST:PORT/DB``: workers on any machine that sees the runs folder.
- ``postgresql://...``: the same, on PostgreSQL.

There are two queues, ``cpu`` and ``gpu``. A training that asks for a CUDA device goes to
``gpu``; everything else goes to ``cpu``. A worker (``python -m engine worker --queue cpu``)
takes the tasks of one queue. Its ``--concurrency`` processes are the limit on how much runs at
once, for trainings and sweep trials alike. Priority orders the line: the server's default
model first, then visitors' trainings, then sweep trials.

Huey does not redeliver the task of a worker that died. So every training has a heartbeat file
that its worker rewrites every ``HEARTBEAT_S``, and the task ``maintain`` requeues the trainings
whose heartbeat stopped. It runs every minute, on the queue's scheduler, and whenever a worker
process starts (Huey restarts a killed one). The heartbeat counts as stopped when its process is
gone from this machine, or when it is older than ``DEAD_AFTER_S`` for a worker elsewhere. A
requeue raises the run's ``attempt``: a task of an older attempt is dropped when it is dequeued,
and a worker that finds its attempt superseded stops, so one run never trains twice at once.
``maintain`` also cleans expired visitors' files, reaps dead sweep trials, and enqueues again
the queued runs whose task the broker lost (a Redis restart, say).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlparse

from engine import EngineError
from engine.runs.procs import pid_alive
from engine.runs.store import atomic_write_json, runs_dir
from engine.settings import current as settings

QUEUE_URL_ENV = "ENGINE_QUEUE_URL"
QUEUES = ("cpu", "gpu")
HEARTBEAT_S = 2.0  # how often a worker rewrites the heartbeat of the training it runs
DEAD_AFTER_S = 30.0  # a heartbeat this old (from another machine) means its worker is gone
LOST_AFTER_S = 60.0  # a queued run whose task the broker has not held for this long is re-sent
WORKERS_DIR = ".workers"  # <runs>/.workers/<host>-<pid>.json: each worker's own heartbeat
PRIORITY = {"default": 20, "training": 10, "sweep": 0}


class QueueUnavailable(EngineError):
    """The broker cannot be reached; the message is what the page shows."""


def queue_url() -> str:
    """$ENGINE_QUEUE_URL, or the embedded SQLite file in the runs folder."""
    url = settings().queue_url
    return url or f"sqlite:///{(runs_dir() / '.queue.sqlite3').resolve()}"


def embedded(url: str | None = None) -> bool:
    """Whether the queue lives in a file on this machine (no broker to run)."""
    return (url or queue_url()).startswith("sqlite:")


def describe(url: str | None = None) -> str:
    """The queue's URL without a password, for logs and the admin."""
    p = urlparse(url or queue_url())
    if p.password:
        return (url or queue_url()).replace(f":{p.password}@", ":***@")
    return url or queue_url()


def huey(kind: str = "cpu", url: str | None = None):
    """The Huey instance of queue ``kind`` on the configured storage, with its tasks."""
    if kind not in QUEUES:
        raise EngineError(f"unknown queue {kind!r}: use one of {', '.join(QUEUES)}")
    with reachable():  # PostgreSQL connects at once
        return _huey(kind, url or queue_url())


@functools.cache
def _huey(kind: str, url: str):
    name = f"engine-{kind}"
    scheme = urlparse(url).scheme
    if scheme == "sqlite":
        from huey import SqliteHuey

        path = Path(url[len("sqlite:///") :] if url.startswith("sqlite:///") else "queue.sqlite3")
        path.parent.mkdir(parents=True, exist_ok=True)
        h = SqliteHuey(name, filename=str(path), results=False, timeout=30)
    elif scheme in ("redis", "rediss"):
        import redis
        from huey import PriorityRedisHuey

        pool = redis.ConnectionPool.from_url(url, socket_timeout=10, socket_connect_timeout=5)
        h = PriorityRedisHuey(name, connection_pool=pool, results=False)
    elif scheme in ("postgresql", "postgres"):
        from huey import PostgresHuey

        h = PostgresHuey(name, dsn=url, results=False, connect_timeout=5)
    else:
        raise EngineError(f"{QUEUE_URL_ENV}: use sqlite:///FILE, redis://HOST or postgresql://…")
    _register(h)
    return h


# Huey names a task "<its function's module>.<name>", and a broker keeps the names of the tasks it
# holds: they must not change when this module moves (it was engine/taskq.py), or a worker of
# the new version would not know the tasks queued by the old one.
TASK_PREFIX = "engine.taskq"


def _register(h) -> None:
    from huey import crontab

    for f in (_train_task, _sweep_task, _maintain, _maintain_quietly):
        f.__module__ = TASK_PREFIX
    h.engine_tasks = {
        "train": h.task(name="train")(_train_task),
        "sweep_trial": h.task(name="sweep_trial")(_sweep_task),
    }
    h.periodic_task(crontab(minute="*"), name="maintain")(_maintain)
    h.on_startup(name="maintain_at_start")(_maintain_quietly)


@contextlib.contextmanager
def reachable(what: str = "the training queue") -> Iterator[None]:
    """Turn a broker's connection errors into QueueUnavailable with a message for the page."""
    try:
        yield
    except QueueUnavailable:
        raise
    except EngineError:
        raise
    except Exception as e:  # noqa: BLE001 - redis, psycopg and sqlite3 raise their own types
        raise QueueUnavailable(
            f"{what} is unreachable ({type(e).__name__}); your work is kept, try again soon"
        ) from None


def send(name: str, *args, kind: str = "cpu", priority: int = 0) -> None:
    """Enqueue task ``name`` with ``args`` on queue ``kind``."""
    h = huey(kind)
    with reachable():
        h.enqueue(h.engine_tasks[name].s(*args, priority=priority))


def pending(kind: str = "cpu") -> list[tuple[str, tuple]]:
    """(task name, args) of the tasks waiting in queue ``kind``."""
    h = huey(kind)
    with reachable():
        return [(type(t).__name__, tuple(t.args)) for t in h.pending()]


class QueueBusy(QueueUnavailable):
    """A lock of the queue stayed taken for longer than the caller would wait."""


@contextlib.contextmanager
def locked(name: str, wait_s: float = 20.0, ttl_s: float = 60.0) -> Iterator[None]:
    """A lock in the queue's storage, for every machine that shares it.

    Its value is the time it expires, so the lock of a holder that died is taken over after
    ``ttl_s`` (the storages' own key expiry needs Redis 7.4, and SQLite has none). Raises
    QueueBusy after ``wait_s`` (0: one try).
    """
    import secrets

    h = huey("cpu")
    key = f"engine.lock.{name}"
    mine = f"{time.time() + ttl_s}:{secrets.token_hex(4)}"
    deadline = time.monotonic() + wait_s
    with reachable():
        while not h.put_if_empty(key, mine):
            held = h.get(key, peek=True)
            if held is not None and float(str(held).split(":")[0]) < time.time():
                h.delete(key)  # its holder died holding it
                continue
            if time.monotonic() >= deadline:
                raise QueueBusy(f"the queue is busy ({name}); try again in a moment")
            time.sleep(0.02)
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            if h.get(key, peek=True) == mine:
                h.delete(key)


# --- tasks ----------------------------------------------------------------------------------------
# What a worker does with each task is registered by ``engine.queue.tasks`` (imported by every
# worker): the queue knows the tasks' names and arguments, not what they do.
BODIES: dict[str, Callable[..., None]] = {}


def _train_task(run_id: str, attempt: int) -> None:
    BODIES["train"](run_id, int(attempt))


def _sweep_task(name: str, storage: str, root: str) -> None:
    BODIES["sweep_trial"](name, storage, Path(root))


def _maintain() -> None:
    BODIES["maintain"]()


def _maintain_quietly() -> None:
    with contextlib.suppress(Exception):  # a worker must start even when this fails once
        _maintain()


# --- heartbeats ---------------------------------------------------------------------------------
def host() -> str:
    return socket.gethostname()


class Heartbeat:
    """A thread that rewrites ``path`` with ``{host, pid, t, **extra}`` every ``every`` seconds,
    and calls ``check()`` each time; ``stopped`` is set once ``check`` returns False."""

    def __init__(self, path: Path, extra: dict, every: float = HEARTBEAT_S,
                 check: Callable[[], bool] | None = None) -> None:  # fmt: skip
        self.path, self.extra, self.every, self.check = Path(path), extra, every, check
        self.stopped = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="heartbeat")

    def beat(self) -> None:
        data = {"host": host(), "pid": os.getpid(), "t": time.time(), **self.extra}
        with contextlib.suppress(OSError):
            atomic_write_json(self.path, data)

    def _loop(self) -> None:
        while not self._done.wait(self.every):
            self.beat()
            if self.check is not None and not self.check():
                self.stopped.set()

    def __enter__(self) -> Heartbeat:
        self.beat()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join(timeout=5)


def read_beat(path: Path) -> dict | None:
    try:
        beat = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return beat if isinstance(beat, dict) else None


def beat_alive(beat: dict | None, now: float | None = None) -> bool:
    """Whether the process behind a heartbeat still beats: younger than ``DEAD_AFTER_S``, and
    on this machine its pid alive too (a SIGKILL is seen at once)."""
    if not beat:
        return False
    if beat.get("host") == host() and isinstance(beat.get("pid"), int):
        if not pid_alive(beat["pid"]):
            return False
    return (now or time.time()) - float(beat.get("t") or 0) < DEAD_AFTER_S


def workers(root: Path | None = None, kind: str | None = None) -> list[dict]:
    """The live workers that share this runs folder: host, pid, queue, concurrency."""
    folder = Path(root or runs_dir()) / WORKERS_DIR
    out = []
    for p in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        beat = read_beat(p)
        if beat_alive(beat) and (kind is None or beat.get("queue") == kind):
            out.append(beat)
    return out


def worker_file(root: Path, pid: int) -> Path:
    return Path(root) / WORKERS_DIR / f"{host()}-{pid}.json"


def register_worker(root: Path, pid: int, kind: str, concurrency: int) -> None:
    """A worker's entry in the registry (its own heartbeat rewrites it while it lives)."""
    path = worker_file(root, pid)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, {"host": host(), "pid": pid, "t": time.time(), "queue": kind,
                             "concurrency": concurrency})  # fmt: skip


def slots(root: Path | None = None, kind: str = "cpu") -> int:
    """How many tasks of queue ``kind`` the live workers run at once."""
    return sum(int(w.get("concurrency") or 1) for w in workers(root, kind))
