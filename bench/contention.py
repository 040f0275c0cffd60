"""Training speed with a CPU hog beside it, against the quiet speed, per thread setting.

torch's OpenMP threads busy-wait: when another process takes a core, a 2-thread job on a 2-core
machine can slow down tens of times. The engine's default (half the cores) avoids that.
Prints examples/s quiet and under load and the slowdown for each setting; last line is JSON.

    python bench/contention.py [--threads 0 2] [--seconds 4]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import config, data, train  # noqa: E402


def _hog(stop) -> None:
    """A process that keeps one core busy, like another job or a noisy neighbour."""
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x += 1


def speed(threads: int, seconds: float, ds: data.Dataset) -> float:
    """Training examples per second of the fast preset's CNN over about ``seconds``."""
    n = train.set_threads(threads)
    cfg = config.preset("fast", limit_train=1_000_000, threads=n, device="cpu")
    x = data.normalize(ds.x_train[:8192], ds.name)
    y = ds.y_train[:8192]
    state = train.init_state(cfg, torch.device("cpu"), steps_per_epoch=64)
    model, opt = state.model, state.optimizer
    done, t0, i = 0, time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        xb, yb = x[i : i + 128], y[i : i + 128]
        loss = torch.nn.functional.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        done += len(xb)
        i = (i + 128) % 8064
    return done / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, nargs="+", default=[0, 2], help="settings (0 = auto)")
    p.add_argument("--seconds", type=float, default=4.0, help="measuring time per point")
    p.add_argument("--hogs", type=int, default=1, help="busy processes beside the job")
    a = p.parse_args()
    ds = data.load("fashion-mnist")
    results = {}
    for t in a.threads:
        quiet = speed(t, a.seconds, ds)
        stop = mp.Event()
        hogs = [mp.Process(target=_hog, args=(stop,), daemon=True) for _ in range(a.hogs)]
        for h in hogs:
            h.start()
        try:
            busy = speed(t, a.seconds, ds)
        finally:
            stop.set()
            for h in hogs:
                h.join()
        name = f"threads={t or config.auto_threads()}{' (auto)' if t == 0 else ''}"
        results[name] = {"quiet": round(quiet), "with_hog": round(busy), "slowdown": quiet / busy}
        print(
            f"{name}: {quiet:,.0f} examples/s quiet, {busy:,.0f} with {a.hogs} busy process(es) "
            f"→ {quiet / busy:.2f}x slower"
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
