"""Task-queue candidates: embedded store? redelivery after a SIGKILLed worker?

Question
--------
For three Python task-queue libraries (Huey, Celery, Dramatiq) this script
answers two things:

1. Is there a real embedded store (no server process) for a single-machine
   install?  (Static answer, checked against the installed package.)
2. When the worker process group is killed with SIGKILL in the middle of a
   task, does the task come back by itself (redelivery), after how long, and
   is it then run again to completion?

Method: each configuration writes a tiny task module under /tmp/qexp_tasks/
(the task appends "start <id> <ts>" to a log file, sleeps 4 s, appends
"done <id> <ts>"), starts a worker as a subprocess in its own process group,
enqueues one task, waits for "start", SIGKILLs the whole worker process group
(os.killpg), starts a fresh worker and waits (default 90 s) for the task to be
re-run.  One table row is printed per library/configuration.

How to run (NOT part of `make test`; needs Redis on 127.0.0.1:6379, uses and
flushes DB 13 only):

    python3 -m venv /tmp/qexp
    /tmp/qexp/bin/pip install -q huey==3.5.4 redis celery dramatiq packaging
    # (packaging: kombu 5.7.0's redis transport imports it but does not declare it)
    /tmp/qexp/bin/python bench/queue_candidates.py            # all configs
    /tmp/qexp/bin/python bench/queue_candidates.py --only celery-tuned --wait 60

The workers are idle / sleeping almost all the time, so CPU use is light.
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from importlib import metadata
from pathlib import Path

TASKDIR = Path("/tmp/qexp_tasks")
BIN = Path(sys.executable).parent
REDIS_DB = 13
TASK_SECONDS = 4

_TASK_BODY = textwrap.dedent(
    """
    import os, time

    def _log(line):
        with open(os.environ["QEXP_LOG"], "a") as f:
            f.write(f"{line} {time.time():.3f}\\n")
            f.flush()

    def _work(tid):
        _log(f"start {tid}")
        time.sleep(TASK_SECONDS)
        _log(f"done {tid}")
    """
).replace("TASK_SECONDS", str(TASK_SECONDS))

MODULES = {
    "huey-redis": (
        "from huey import PriorityRedisHuey\n"
        f"huey = PriorityRedisHuey('qexp', host='127.0.0.1', port=6379, db={REDIS_DB})\n"
        "@huey.task()\n"
        "def job(tid):\n    _work(tid)\n"
    ),
    "huey-sqlite": (
        "from huey import SqliteHuey\n"
        f"huey = SqliteHuey('qexp', filename='{TASKDIR}/huey.db')\n"
        "@huey.task()\n"
        "def job(tid):\n    _work(tid)\n"
    ),
    "celery-default": (
        "from celery import Celery\n"
        f"app = Celery('qexp', broker='redis://127.0.0.1:6379/{REDIS_DB}')\n"
        "app.conf.update(broker_connection_retry_on_startup=True)\n"
        "@app.task(name='job')\n"
        "def job(tid):\n    _work(tid)\n"
    ),
    "celery-late-vt10": (
        "from celery import Celery\n"
        f"app = Celery('qexp', broker='redis://127.0.0.1:6379/{REDIS_DB}')\n"
        "app.conf.update(broker_connection_retry_on_startup=True,\n"
        "    task_acks_late=True, task_reject_on_worker_lost=True,\n"
        "    worker_prefetch_multiplier=1,\n"
        "    broker_transport_options={'visibility_timeout': 10})\n"
        "@app.task(name='job')\n"
        "def job(tid):\n    _work(tid)\n"
    ),
    "celery-tuned": (
        "from celery import Celery\n"
        f"app = Celery('qexp', broker='redis://127.0.0.1:6379/{REDIS_DB}')\n"
        "app.conf.update(broker_connection_retry_on_startup=True,\n"
        "    task_acks_late=True, task_reject_on_worker_lost=True,\n"
        "    worker_prefetch_multiplier=1,\n"
        "    broker_transport_options={'visibility_timeout': 10,\n"
        "        'unacked_restore_interval': 2, 'unacked_restore_throttle': 1})\n"
        "@app.task(name='job')\n"
        "def job(tid):\n    _work(tid)\n"
    ),
    "dramatiq-default": (
        "import dramatiq\n"
        "from dramatiq.brokers.redis import RedisBroker\n"
        f"broker = RedisBroker(host='127.0.0.1', port=6379, db={REDIS_DB}, namespace='qexp')\n"
        "dramatiq.set_broker(broker)\n"
        "@dramatiq.actor(max_retries=0)\n"
        "def job(tid):\n    _work(tid)\n"
    ),
    "dramatiq-tuned": (
        "import dramatiq\n"
        "from dramatiq.brokers.redis import RedisBroker\n"
        f"broker = RedisBroker(host='127.0.0.1', port=6379, db={REDIS_DB}, namespace='qexp',\n"
        "    heartbeat_timeout=10000, maintenance_chance=1000000)\n"
        "dramatiq.set_broker(broker)\n"
        "@dramatiq.actor(max_retries=0)\n"
        "def job(tid):\n    _work(tid)\n"
    ),
}

SETTINGS = {
    "huey-redis": "PriorityRedisHuey, consumer -w 1 -k process",
    "huey-sqlite": "SqliteHuey, consumer -w 1 -k process",
    "celery-default": "redis broker, all defaults (acks early, vt 3600 s)",
    "celery-late-vt10": "acks_late+reject_on_worker_lost, vt=10 s, default restore sweep",
    "celery-tuned": "acks_late+reject_on_worker_lost, vt=10 s, restore interval 2 s/throttle 1",
    "dramatiq-default": "RedisBroker defaults (heartbeat_timeout 60 s, maintenance 1000/1e6)",
    "dramatiq-tuned": "RedisBroker heartbeat_timeout=10 s, maintenance_chance=1e6/1e6",
}

LIBRARY = {k: k.split("-")[0] for k in MODULES}

# Per-configuration redelivery wait overrides (s): the default kombu restore
# sweep is ~unacked_restore_interval * unacked_restore_throttle = 100 s.
WAIT_OVERRIDE = {"celery-late-vt10": 130}


def embedded_store(lib: str) -> str:
    """Answer question 1 from the installed package, not from memory."""
    if lib == "huey":
        import huey

        names = [n for n in ("SqliteHuey", "FileHuey", "MemoryHuey") if hasattr(huey, n)]
        return "yes: " + "/".join(names) if "SqliteHuey" in names else "no"
    if lib == "celery":
        import kombu.transport as kt

        have = [n for n in ("sqlalchemy", "filesystem") if n in kt.TRANSPORT_ALIASES]
        return f"no (kombu {'/'.join(have)}: experimental)"
    if lib == "dramatiq":
        import dramatiq.brokers as db

        brokers = sorted(
            p.stem for p in Path(db.__file__).parent.glob("*.py") if p.stem != "__init__"
        )
        return f"no ({'/'.join(brokers)}; stub=tests)"
    return "?"


def version(lib: str) -> str:
    return metadata.version(lib)


# ---------------------------------------------------------------- processes
_PROCS: list[subprocess.Popen] = []


def _kill_group(p: subprocess.Popen, sig=signal.SIGKILL) -> None:
    try:
        os.killpg(p.pid, sig)
    except ProcessLookupError:
        pass
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def kill_all() -> None:
    while _PROCS:
        _kill_group(_PROCS.pop())


atexit.register(kill_all)
for _s in (signal.SIGINT, signal.SIGTERM):
    signal.signal(_s, lambda *_: (kill_all(), sys.exit(130)))


def env_for(log: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(TASKDIR)
    env["QEXP_LOG"] = str(log)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def worker_cmd(cfg: str, mod: str) -> list[str]:
    lib = LIBRARY[cfg]
    if lib == "huey":
        return [str(BIN / "huey_consumer"), f"{mod}.huey", "-w", "1", "-k", "process"]
    if lib == "celery":
        return [
            str(BIN / "celery"),
            "-A",
            mod,
            "worker",
            "--concurrency",
            "1",
            "--pool",
            "prefork",
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
    return [
        str(BIN / "dramatiq"),
        mod,
        "--processes",
        "1",
        "--threads",
        "1",
        "--path",
        str(TASKDIR),
    ]


def start_worker(cfg: str, mod: str, log: Path, n: int) -> subprocess.Popen:
    out = open(TASKDIR / f"{cfg}.worker{n}.out", "w")
    p = subprocess.Popen(
        worker_cmd(cfg, mod),
        cwd=TASKDIR,
        env=env_for(log),
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    _PROCS.append(p)
    return p


def enqueue(cfg: str, mod: str, log: Path, tid: str) -> None:
    call = (
        "job.send"
        if LIBRARY[cfg] == "dramatiq"
        else ("job.delay" if LIBRARY[cfg] == "celery" else "job")
    )
    subprocess.run(
        [sys.executable, "-c", f"import {mod}; {mod}.{call}({tid!r})"],
        cwd=TASKDIR,
        env=env_for(log),
        check=True,
        timeout=30,
    )


def read_log(log: Path) -> list[tuple[str, float]]:
    if not log.exists():
        return []
    rows = []
    for line in log.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3:
            rows.append((parts[0], float(parts[2])))
    return rows


def flush_stores() -> None:
    import redis

    redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB).flushdb()
    (TASKDIR / "huey.db").unlink(missing_ok=True)


# ------------------------------------------------------------------ one run
def run_config(cfg: str, wait_s: float) -> dict:
    lib = LIBRARY[cfg]
    mod = "qc_" + cfg.replace("-", "_")
    (TASKDIR / f"{mod}.py").write_text(_TASK_BODY + "\n" + MODULES[cfg])
    log = TASKDIR / f"{cfg}.log"
    log.unlink(missing_ok=True)
    flush_stores()
    row = {
        "cfg": cfg,
        "lib": lib,
        "version": version(lib),
        "embedded": embedded_store(lib),
        "redelivered": "?",
        "delay": "-",
        "starts": 0,
        "dones": 0,
        "note": "",
    }
    try:
        w1 = start_worker(cfg, mod, log, 1)
        time.sleep(1.0)
        enqueue(cfg, mod, log, "t1")
        deadline = time.time() + 40
        while not any(k == "start" for k, _ in read_log(log)):
            if time.time() > deadline:
                row["note"] = "task never started on first worker"
                return row
            time.sleep(0.2)
        _kill_group(w1)
        t_kill = time.time()
        _PROCS.remove(w1)
        start_worker(cfg, mod, log, 2)
        deadline = t_kill + wait_s
        done_at = None
        while time.time() < deadline:
            entries = read_log(log)
            if any(k == "done" for k, _ in entries) and done_at is None:
                done_at = time.time()
                deadline = min(deadline, done_at + 3)  # catch duplicates
            time.sleep(0.5)
        entries = read_log(log)
        starts = [ts for k, ts in entries if k == "start"]
        row["starts"] = len(starts)
        row["dones"] = sum(1 for k, _ in entries if k == "done")
        restarts = [ts for ts in starts if ts > t_kill]
        if restarts:
            row["redelivered"] = "yes"
            row["delay"] = f"{restarts[0] - t_kill:.1f}"
        else:
            row["redelivered"] = f"no (in {wait_s:.0f}s)"
        return row
    except Exception as e:  # keep going with the next library
        row["note"] = f"error: {e!r}"[:60]
        return row
    finally:
        kill_all()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", choices=list(MODULES), help="subset of configs")
    ap.add_argument(
        "--wait",
        type=float,
        default=None,
        help="seconds to wait for redelivery (default 90; 130 for celery-late-vt10)",
    )
    args = ap.parse_args()

    shutil.rmtree(TASKDIR, ignore_errors=True)
    TASKDIR.mkdir(parents=True)
    print(f"loadavg at start: {os.getloadavg()}")
    print(
        f"task: start, sleep {TASK_SECONDS} s, done; SIGKILL worker group after 'start'; "
        f"fresh worker; wait {args.wait or 90:.0f} s "
        f"(celery-late-vt10: {args.wait or WAIT_OVERRIDE['celery-late-vt10']:.0f} s)"
    )
    hdr = (
        f"{'config':17} {'library':9} {'version':8} {'embedded store':52} "
        f"{'redelivered':13} {'kill->rerun s':13} {'runs(start/done)':16}"
    )
    rows = []
    for cfg in args.only or list(MODULES):
        wait_s = args.wait if args.wait is not None else WAIT_OVERRIDE.get(cfg, 90.0)
        t0 = time.time()
        r = run_config(cfg, wait_s)
        r["elapsed"] = time.time() - t0
        rows.append(r)
        print(f"  .. {cfg} finished in {r['elapsed']:.0f} s {r['note']}", flush=True)
    print()
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print(
            f"{r['cfg']:17} {r['lib']:9} {r['version']:8} {r['embedded'][:52]:52} "
            f"{r['redelivered']:13} {r['delay']:13} {r['starts']}/{r['dones']}"
            + (f"  {r['note']}" if r["note"] else "")
        )
    print()
    for r in rows:
        print(f"  {r['cfg']:17} settings: {SETTINGS[r['cfg']]}")
    print(f"loadavg at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
