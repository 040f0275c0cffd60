"""Training speed with a CPU hog beside it, against the quiet speed, per thread setting.

torch's OpenMP threads busy-wait: when another process takes a core, a 2-thread job on a 2-core
machine slows down several times. Settings: fixed thread counts, and 0 = the jobs' policy
(engine.training.hardware.AutoThreads: every core while no other process is busy, half of them
beside other work). Per setting, quiet and with-hog measurements alternate 3 times
(bench/common.py); the slowdown is the ratio of the medians, and the guarantee is at most 2x for
the default (0). Last line JSON.

    python bench/contention.py [--threads 0 1 2] [--seconds 4] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import alternate, last_line  # noqa: E402
from engine import presets  # noqa: E402
from engine.data import datasets  # noqa: E402
from engine.training import hardware, loop  # noqa: E402


def _hog(stop) -> None:
    """A process that keeps one core busy, like another job or a noisy neighbour."""
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x += 1


def speed(threads: int, seconds: float, ds: datasets.Dataset) -> dict:
    """Seconds per 10,000 training examples of the fast preset's CNN over about ``seconds``
    (the last three quarters: the first quarter lets the auto policy settle)."""
    cfg = presets.preset("fast", limit_train=1_000_000, threads=threads or 1, device="cpu")
    x = datasets.normalize(ds.x_train[:8192], ds.name)
    y = ds.y_train[:8192]
    state = loop.init_state(cfg, torch.device("cpu"), steps_per_epoch=64)
    model, opt = state.model, state.optimizer
    auto = hardware.AutoThreads() if threads == 0 else None
    if auto is None:
        hardware.set_threads(threads)
    done, i, used = 0, 0, set()
    t_start = time.perf_counter()
    t0 = None
    with auto or contextlib.nullcontext():
        while time.perf_counter() - t_start < seconds:
            if t0 is None and time.perf_counter() - t_start > seconds / 4:
                t0, done = time.perf_counter(), 0
            if auto is not None:
                used.add(auto.apply())
            xb, yb = x[i : i + 128], y[i : i + 128]
            loss = torch.nn.functional.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            done += len(xb)
            i = (i + 128) % 8064
    elapsed = time.perf_counter() - (t0 or t_start)
    return {
        "seconds": 10_000 * elapsed / max(1, done),
        "threads": sorted(used) if used else [torch.get_num_threads()],
    }


def with_hogs(n: int, fn):
    stop = mp.Event()
    hogs = [mp.Process(target=_hog, args=(stop,), daemon=True) for _ in range(n)]
    for h in hogs:
        h.start()
    try:
        return fn()
    finally:
        stop.set()
        for h in hogs:
            h.join()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, nargs="+", default=[0, 1, 2], help="0 = jobs' policy")
    p.add_argument("--seconds", type=float, default=4.0, help="measuring time per point")
    p.add_argument("--hogs", type=int, default=1, help="busy processes beside the job")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="2 s per point, the default setting only")
    a = p.parse_args()
    if a.quick:
        a.seconds, a.threads = 2.0, [0]
    ds = datasets.load("fashion-mnist")
    results = {}
    for t in a.threads:
        name = f"threads={t}" + (" (jobs' policy)" if t == 0 else "")
        print(name)
        cmp = alternate(
            {
                "quiet": lambda t=t: speed(t, a.seconds, ds),
                "with_hog": lambda t=t: with_hogs(a.hogs, lambda: speed(t, a.seconds, ds)),
            },
            repeats=a.repeats,
            show=lambda r: f"{10_000 / r['seconds']:,.0f} examples/s, threads used {r['threads']}",
        )
        slowdown = cmp.ratio("with_hog", "quiet")
        results[name] = {
            "quiet_examples_per_s": round(10_000 / cmp.median("quiet")),
            "with_hog_examples_per_s": round(10_000 / cmp.median("with_hog")),
            "slowdown": round(slowdown, 2),
            "threads_used": {k: v[-1]["threads"] for k, v in cmp.samples.items()},
            "load_before": round(cmp.load_before, 2),
            "load_after": round(cmp.load_after, 2),
            "loaded": cmp.loaded,
        }
        r = results[name]
        print(
            f"{name}: {r['quiet_examples_per_s']:,} examples/s quiet, "
            f"{r['with_hog_examples_per_s']:,} with {a.hogs} busy process(es) "
            f"→ {slowdown:.2f}x slower (medians of {a.repeats})"
        )
    last_line(results)


if __name__ == "__main__":
    main()
