"""The training queue under a class: simulated visitors submit within a minute to 1, 2 and 4
workers. For each, the wait from submit to start (median, p95), the time until the last one
finished, and the web process's own CPU share while the workers train.

    python bench/queue_load.py [--visitors 30] [--window 60] [--workers 1,2,4] [--quick]

The "web process" is this script: it submits as the pages do (``engine.queue.jobs.submit``) and
reads every run's status twice a second, as open pages do. Workers are real ``python -m engine
worker`` processes (one process, one torch thread each) on this machine, on Redis when one
answers at 127.0.0.1:6379 (DB 12, flushed), else on the embedded SQLite queue. Each training
is 1 epoch of 8,192 FashionMNIST examples (about 2 s on one thread): 1 worker falls behind. The
first row (1 worker) is the reference; the ratios are against it, in the same run. On a 2-core
machine, 4 workers share 2 cores: their waits show the cores, not the queue.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("ENGINE_OFFLINE", "1")

from engine.presets import preset  # noqa: E402
from engine.queue import jobs, taskq  # noqa: E402
from engine.runs import hosting  # noqa: E402

REDIS = "redis://127.0.0.1:6379/12"


def _broker(root: Path) -> str:
    os.environ[taskq.QUEUE_URL_ENV] = REDIS
    try:
        for kind in taskq.QUEUES:
            taskq.huey(kind).flush()
        return REDIS
    except Exception:  # noqa: BLE001 - no Redis here: the embedded queue
        url = f"sqlite:///{root / '.queue.sqlite3'}"
        os.environ[taskq.QUEUE_URL_ENV] = url
        return url


def one(n_workers: int, visitors: int, window: float, seed: int) -> dict:
    root = Path(tempfile.mkdtemp(prefix=f"queue-load-{n_workers}-"))
    os.environ["ENGINE_RUNS_DIR"] = str(root)
    url = _broker(root)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = []
    for i in range(n_workers):
        log = open(root / f"worker-{i}.log", "ab")
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "engine", "worker", "--concurrency", "1"], env=env, cwd=ROOT,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True))  # fmt: skip
    while len(taskq.workers(root)) < n_workers:
        time.sleep(0.1)
    time.sleep(2.0)  # the workers import torch before they take a task
    rng = random.Random(seed)
    at = sorted(rng.uniform(0, window) for _ in range(visitors))
    cfg = preset("fast", epochs=1, limit_train=8192, limit_test=500, threads=1)
    people = [hosting.Visitor(f"visitor-{i:03d}-load", is_admin=False) for i in range(visitors)]
    runs, t0, cpu0 = [], time.time(), time.process_time()
    pending = list(zip(at, people))
    while pending or not all(r.state().is_finished() for r in runs):
        now = time.time() - t0
        while pending and pending[0][0] <= now:
            _, who = pending.pop(0)
            runs.append(jobs.submit(cfg, root, by=who))
        for r in runs:  # what open pages do: read every run's status
            r.status()
        time.sleep(0.5)
        if time.time() - t0 > window + 900:
            raise SystemExit("the trainings did not finish within 15 minutes")
    wall, cpu = time.time() - t0, time.process_time() - cpu0
    for p in procs:
        os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        p.wait(timeout=30)
    waits = [r.status()["started"] - r.status()["submitted"] for r in runs]
    ok = sum(r.status()["state"] == "complete" for r in runs)
    q = statistics.quantiles(waits, n=20, method="inclusive")
    return {
        "workers": n_workers, "queue": url.split(":")[0], "trainings": len(runs), "complete": ok,
        "wait_median_s": statistics.median(waits), "wait_p95_s": q[-1],
        "last_finished_s": wall, "web_cpu_share": cpu / wall,
    }  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--visitors", type=int, default=30)
    p.add_argument("--window", type=float, default=60.0, help="seconds over which they submit")
    p.add_argument("--workers", default="1,2,4")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="15 visitors within 20 s")
    a = p.parse_args()
    if a.quick:
        a.visitors, a.window = 15, 20.0
    os.environ.pop(hosting.PUBLIC_ENV, None)  # quotas off: every visitor's training is taken
    load0 = os.getloadavg()[0]
    rows = [one(int(n), a.visitors, a.window, a.seed) for n in a.workers.split(",")]
    load1 = os.getloadavg()[0]
    ref = rows[0]
    print(f"{a.visitors} visitors submit within {a.window:.0f} s (seed {a.seed}), "
          f"{ref['queue']} queue; {os.cpu_count()} cores")  # fmt: skip
    print("| workers | complete | wait to start, median | p95 | all done after | web CPU |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        ratio = r["wait_median_s"] / max(ref["wait_median_s"], 1e-9)
        cells = [
            str(r["workers"]),
            f"{r['complete']}/{r['trainings']}",
            f"{r['wait_median_s']:.1f} s ({ratio:.2f}× of 1 worker)",
            f"{r['wait_p95_s']:.1f} s",
            f"{r['last_finished_s']:.0f} s",
            f"{100 * r['web_cpu_share']:.1f}% of a core",
        ]
        print("| " + " | ".join(cells) + " |")
    busy = "UNDER LOAD: other work was running" if load0 > 0.5 else "quiet"
    print(f"load average (1 min) {load0:.2f} before, {load1:.2f} after: {busy}")
    print(json.dumps({"rows": rows, "load_before": load0, "load_after": load1}))


if __name__ == "__main__":
    main()
