"""Seconds from the start of training to a target test accuracy: FashionMNIST 91%, MNIST 98%.

What a visitor waits for. "seconds" is the wall time from calling engine.training.loop.train (data
already in memory as uint8) to the end of the first epoch, evaluation included, whose test
accuracy reaches the target; "training_s" sums those epochs alone (it leaves out the one-off
setup: normalisation, the model, CUDA graph capture). Training stops there. Threads default to
0: the policy the dashboard's jobs use (engine.training.hardware.AutoThreads: 2 threads on this
2-core machine when nothing else is busy, 1 beside other work). The datasets run in turn,
``--repeats`` rounds (bench/common.py); medians, every epoch curve and the load average before
and after are printed; the last line is JSON, e.g.
{"fashion-mnist": {"seconds": 8.1, "accuracy": 0.912, "target": 0.91, "preset": "fast", ...},
 "mnist": {...}, ...}

    python bench/time_to_accuracy.py [--preset fast] [--threads 0] [--device cpu] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import alternate, last_line  # noqa: E402
from engine import config, presets  # noqa: E402
from engine.data import datasets  # noqa: E402
from engine.training import hardware, loop  # noqa: E402

TARGETS = {"fashion-mnist": 0.91, "mnist": 0.98}


def time_to(
    cfg: config.TrainConfig, ds: datasets.Dataset, target: float, echo=print, stop: bool = True
) -> dict:
    """Train ``cfg`` until its test accuracy reaches ``target`` (or its epochs run out);
    ``stop=False``: train all its epochs all the same (for the accuracy curve)."""
    curve: list[dict] = []
    reached: dict = {}
    t0 = time.perf_counter()

    def on_epoch(r: loop.EpochResult, st: loop.TrainState) -> None:
        wall = time.perf_counter() - t0
        curve.append({"epoch": r.epoch, "accuracy": r.test_accuracy, "seconds": round(wall, 3)})
        echo(
            f"    epoch {r.epoch}: test accuracy {100 * r.test_accuracy:.2f}% after "
            f"{wall:.2f} s ({r.seconds:.2f} s this epoch)"
        )
        if not reached and r.test_accuracy >= target:
            reached.update(
                seconds=wall,
                training_s=sum(h["seconds"] for h in st.history),
                accuracy=r.test_accuracy,
                epochs=r.epoch,
            )

    state = None
    try:
        state = loop.train(cfg, ds, on_epoch=on_epoch, should_stop=lambda: stop and bool(reached))
    except loop.TrainingCancelled:
        pass  # stopped at the target
    last = curve[-1] if curve else {"accuracy": 0.0, "seconds": time.perf_counter() - t0}
    out = {
        "reached": bool(reached),
        "seconds": reached.get("seconds", last["seconds"]),
        "training_s": reached.get("training_s"),
        "accuracy": reached.get("accuracy", last["accuracy"]),
        "epochs": reached.get("epochs", len(curve)),
        "target": target,
        "curve": curve,
        "threads": torch.get_num_threads(),
    }
    if state is not None:
        out["cuda_graphs"] = state.cuda_graphs
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="fast", choices=tuple(presets.PRESETS))
    p.add_argument("--mnist-preset", help="preset for MNIST (default: --preset)")
    p.add_argument(
        "--mnist-epochs",
        type=int,
        default=8,
        help="epochs at most on MNIST (default 8: the offline subset has 8,000 training digits, "
        "so 8 of its epochs are about one FashionMNIST epoch)",
    )
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = the jobs' policy)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, auto")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3, help="rounds over the datasets")
    p.add_argument("--datasets", nargs="+", choices=tuple(TARGETS), default=list(TARGETS))
    p.add_argument("--quick", action="store_true", help="FashionMNIST only, one round")
    a = p.parse_args()
    if a.quick:
        a.datasets, a.repeats = ["fashion-mnist"], 1
    chosen = {"fashion-mnist": a.preset, "mnist": a.mnist_preset or a.preset}
    cfgs = {
        name: presets.preset(
            chosen[name], dataset=name, threads=a.threads, device=a.device, seed=a.seed
        )
        for name in a.datasets
    }
    if "mnist" in cfgs and a.mnist_epochs:
        cfgs["mnist"] = replace(cfgs["mnist"], epochs=a.mnist_epochs)
    sets = {name: datasets.load(name) for name in a.datasets}
    if hardware.resolve_device(a.device).type == "cuda":
        torch.zeros(1, device="cuda")  # CUDA's start-up is not training time
    for name, cfg in cfgs.items():
        print(
            f"{sets[name].info.describe()}; preset {chosen[name]} (batch {cfg.batch_size}, "
            f"{cfg.epochs} epochs at most, seed {cfg.seed}); target {100 * TARGETS[name]:.0f}%; "
            f"threads {a.threads or 'auto (jobs policy)'}; device {a.device}"
        )

    def contender(name: str):
        return lambda: time_to(cfgs[name], sets[name], TARGETS[name])

    cmp = alternate(
        {name: contender(name) for name in a.datasets},
        repeats=a.repeats,
        show=lambda r: (
            f"{'reached' if r['reached'] else 'NOT reached'}: {100 * r['accuracy']:.2f}% "
            f"after {r['seconds']:.2f} s (epoch {r['epochs']}, {r['threads']} thread(s) at the end)"
        ),
    )
    result = {}
    for name in a.datasets:
        runs = cmp.samples[name]
        result[name] = {
            "seconds": round(cmp.median(name), 3),
            "training_s": (
                round(statistics.median(r["training_s"] for r in runs), 3)
                if all(r["reached"] for r in runs)
                else None
            ),
            "accuracy": statistics.median(r["accuracy"] for r in runs),
            "target": TARGETS[name],
            "reached": all(r["reached"] for r in runs),
            "preset": chosen[name],
            "epochs": [r["epochs"] for r in runs],
            "samples_s": [round(r["seconds"], 3) for r in runs],
            "threads": a.threads or "auto",
            "device": a.device,
            "seed": a.seed,
            "cuda_graphs": runs[-1].get("cuda_graphs"),
        }
        r = result[name]
        print(
            f"{name}: median {r['seconds']:.2f} s to {100 * r['accuracy']:.2f}% "
            f"(target {100 * r['target']:.0f}%{'' if r['reached'] else ', NOT always reached'})"
        )
    summary = cmp.summary()
    last_line(
        {
            **result,
            "load_before": summary["load_before"],
            "load_after": summary["load_after"],
            "loaded": summary["loaded"],
        }
    )


if __name__ == "__main__":
    main()
