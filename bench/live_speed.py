"""engine.nn.live per frame vs a straightforward reference, on one core, same synthetic frames.

Reference: symbols found on the full 640×480 frame and each crop sent through the shared
preprocessing at full size (what one writes first). Engine: detection on a 320 px copy and
crops shrunk to CROP_SIDE px before the same preprocessing steps.
Prints CPU ms per frame by stage, wall-clock medians, accuracies and the speed ratio. Both sides
run in turn 3 times (bench/common.py): medians of the per-run medians, and the load average
before and after, since other processes skew wall-clock figures. Last line JSON.

    python bench/live_speed.py [--run-dir runs/default-digit-cnn-v3] [--frames 100] [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import alternate, last_line  # noqa: E402
from engine.config import DEFAULT_RUN_ID  # noqa: E402
from engine.data import datasets  # noqa: E402
from engine.nn import live, live_bench  # noqa: E402
from engine.runs.store import load_model, runs_dir  # noqa: E402


def stages(rec: live.LiveRecognizer, frames) -> dict[str, float]:
    """CPU ms per frame spent finding symbols, preparing crops and classifying them."""
    t = time.thread_time
    out = {"find": 0.0, "crops": 0.0, "classify": 0.0}
    for frame, _ in frames:
        t0 = t()
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        boxes = rec._find(gray)
        t1 = t()
        crops = [live.crop_to_mnist(gray[y : y + h, x : x + w]) for x, y, w, h in boxes]
        t2 = t()
        if crops:
            rec.classifier(np.stack(crops))
        t3 = t()
        out["find"] += t1 - t0
        out["crops"] += t2 - t1
        out["classify"] += t3 - t2
    return {k: 1000 * v / len(frames) for k, v in out.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run-dir", type=Path, help="digit run (default: the default model)")
    p.add_argument("--frames", type=int, default=100, help="number of frames")
    p.add_argument("--repeats", type=int, default=3, help="rounds of reference then engine")
    p.add_argument("--quick", action="store_true", help="30 frames")
    a = p.parse_args()
    if a.quick:
        a.frames = 30
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    model, cfg = load_model(a.run_dir or runs_dir() / DEFAULT_RUN_ID)
    ds = datasets.load("mnist")
    names = [str(v) for v in ds.y_test.tolist()]
    frames = live_bench.bench_frames(ds.x_test.numpy(), names, a.frames)
    clf = live.net_classifier(model, cfg)
    default_side = live.CROP_SIDE

    def contender(side: int, width: int):
        def run() -> dict:
            live.CROP_SIDE = side  # module setting read by crop_to_mnist
            try:
                rec = live.LiveRecognizer(clf, replace(live.LiveSettings(), detect_width=width))
                if width > 320:  # the same neighbourhood in frame pixels at full resolution
                    rec.settings = replace(rec.settings, block=61)
                r = {**live_bench.bench(rec, frames), **stages(rec, frames)}
            finally:
                live.CROP_SIDE = default_side
            return {**r, "seconds": r["median_ms"] / 1000}

        return run

    cmp = alternate(
        {
            "reference": contender(10_000, 10_000),
            "engine": contender(default_side, 320),
        },
        repeats=a.repeats,
        show=lambda r: (
            f"median {r['median_ms']:6.2f} ms/frame wall, CPU ms find {r['find']:.2f} "
            f"+ crops {r['crops']:.2f} + classify {r['classify']:.2f}; "
            f"accuracy {100 * r['accuracy']:.1f}%"
        ),
    )
    results = {name: runs[-1] for name, runs in cmp.samples.items()}
    for name in results:
        results[name]["median_ms"] = 1000 * cmp.median(name)
    ratio = cmp.ratio("reference", "engine")
    print(
        f"median of {a.repeats}: reference {results['reference']['median_ms']:.2f} ms, "
        f"engine {results['engine']['median_ms']:.2f} ms per frame: {ratio:.1f}x faster"
    )
    last_line({**results, "speedup": ratio, **cmp.summary()})


if __name__ == "__main__":
    main()
