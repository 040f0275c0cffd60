"""The levers tried for "FashionMNIST 91% in seconds": what each costs per epoch on this CPU.

Candidates are variants of the ``fast`` preset (architecture and width, batch size, channels-last
memory for oneDNN's convolutions); their accuracy per epoch count comes from
``bench/gpu_check.py`` (part "levers": same code and seed, on a GPU where a full sweep takes a
minute) or from ``--accuracy`` here. Cost: seconds per 60,000-example epoch of forward,
backward and optimizer step at 1 thread (``--threads``), CPU time (robust to other work on
the machine) and wall time, median of ``--repeats`` alternations. Also: the fused optimizer
update against the per-tensor one, and evaluation of the 10,000 test images in batches of 256,
1,000 and 10,000. Last line JSON.

    python bench/levers.py [--quick] [--only fast valid] [--accuracy]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import alternate, last_line  # noqa: E402
from engine import config, presets  # noqa: E402
from engine.data import datasets  # noqa: E402
from engine.training import hardware, loop  # noqa: E402

FAST = presets.PRESETS["fast"]


def variant(batch: int | None = None, lr: float | None = None, **model) -> config.TrainConfig:
    """The fast preset with some model fields and the batch size (and its learning rate)."""
    cfg = replace(FAST, model=replace(FAST.model, **model))
    if batch:
        cfg = replace(cfg, batch_size=batch, lr=lr or FAST.lr * (batch / FAST.batch_size) ** 0.5)
    return cfg


# name → config; the architecture ones keep batch 128.
CANDIDATES: dict[str, config.TrainConfig] = {
    "fast (16,32) same": variant(),
    "(16,32) same, BN before pool": variant(bn_after_pool=False),  # the preset until now
    "(16,32) valid": variant(padding="valid"),
    "(12,24) same": variant(channels=(12, 24)),
    "(8,16) same": variant(channels=(8, 16)),
    "(8,16,32) same": variant(channels=(8, 16, 32), kernel_sizes=(3, 3, 3)),
    "(16,32) same, fc 64": variant(hidden=(64,)),
    "(32,64) same": variant(channels=(32, 64)),
    "fast, batch 256": variant(batch=256),
    "fast, batch 64": variant(batch=64),
    "(8,16,32) same, batch 256": variant(batch=256, channels=(8, 16, 32), kernel_sizes=(3, 3, 3)),
}


def step_cost(
    cfg: config.TrainConfig, x, y, channels_last: bool, steps: int, fused: bool = True
) -> dict:
    """Seconds per 60,000 examples of training steps (``--threads``): wall and CPU. ``fused=False``:
    the optimizer's per-tensor ("foreach") update instead of the engine's fused one."""
    torch.manual_seed(0)
    state = loop.init_state(cfg, torch.device("cpu"), steps_per_epoch=steps)
    model, opt = state.model, state.optimizer
    if not fused:
        opt = torch.optim.AdamW(
            model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True
        )
    if not channels_last:
        model = model.to(memory_format=torch.contiguous_format)
    bs = cfg.batch_size
    perm = torch.randperm(len(x))
    t0, c0 = time.perf_counter(), time.process_time()
    for b in range(steps):
        idx = perm[(b * bs) % (len(x) - bs) :][:bs]
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    scale = 60_000 / (steps * bs)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"seconds": wall * scale, "cpu_seconds": cpu * scale}


def eval_cost(cfg: config.TrainConfig, ds: datasets.Dataset, batch: int) -> dict:
    state = loop.init_state(cfg, torch.device("cpu"), steps_per_epoch=10)
    x = datasets.normalize(ds.x_test, cfg)
    t0, c0 = time.perf_counter(), time.process_time()
    loop.evaluate(state.model, x, ds.y_test, batch_size=batch)
    return {"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="fewer steps per measurement")
    p.add_argument("--only", nargs="*", help="candidates whose name contains one of these")
    p.add_argument("--accuracy", action="store_true", help="also train each for 1-3 epochs")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    a = p.parse_args()
    hardware.set_threads(a.threads)
    ds = datasets.load("fashion-mnist")
    x = datasets.normalize(ds.x_train[:20_000], "fashion-mnist")
    y = ds.y_train[:20_000]
    names = [n for n in CANDIDATES if not a.only or any(o in n for o in a.only)]
    examples = 3_000 if a.quick else 12_000
    rows = {}
    for name in names:
        cfg = CANDIDATES[name]
        steps = max(8, examples // cfg.batch_size)
        print(f"{name}: batch {cfg.batch_size}, lr {cfg.lr:g}, {steps} steps per measurement")
        cmp = alternate(
            {
                "contiguous": lambda cfg=cfg, s=steps: step_cost(cfg, x, y, False, s),
                "channels_last": lambda cfg=cfg, s=steps: step_cost(cfg, x, y, True, s),
            },
            repeats=a.repeats,
            show=lambda r: f"{r['seconds']:.2f} s/epoch wall, {r['cpu_seconds']:.2f} s CPU",
        )
        rows[name] = {
            "cpu_s_per_epoch": {k: round(cmp.median(k, "cpu_seconds"), 2) for k in cmp.samples},
            "wall_s_per_epoch": {k: round(cmp.median(k), 2) for k in cmp.samples},
            "channels_last_speedup_cpu": round(
                cmp.ratio("contiguous", "channels_last", "cpu_seconds"), 2
            ),
            "load": [cmp.load_before, cmp.load_after],
        }
        if a.accuracy:
            rows[name]["accuracy"] = {}
            for epochs in (1, 2, 3):
                st = loop.train(replace(cfg, epochs=epochs, threads=1, device="cpu"), ds)
                rows[name]["accuracy"][epochs] = st.history[-1]["test_accuracy"]
                print(f"  {epochs} epoch(s): {100 * st.history[-1]['test_accuracy']:.2f}%")
    print(f"optimizer update, fast preset, channels-last, {a.threads} thread(s):")
    steps = max(8, examples // FAST.batch_size)
    op = alternate(
        {
            f"{k} AdamW": (lambda f=f: step_cost(FAST, x, y, True, steps, fused=f))
            for k, f in (("foreach", False), ("fused", True))
        },
        repeats=a.repeats,
        show=lambda r: f"{r['seconds']:.2f} s/epoch wall, {r['cpu_seconds']:.2f} s CPU",
    )
    print(f"evaluation of 10,000 test images, fast preset, {a.threads} thread(s):")
    ev = alternate(
        {f"batch {b}": (lambda b=b: eval_cost(FAST, ds, b)) for b in (256, 1000, 10_000)},
        repeats=a.repeats,
        show=lambda r: f"{r['seconds']:.3f} s wall, {r['cpu_seconds']:.3f} s CPU",
    )
    print(f"{'candidate':28s} {'CPU s/epoch (contig → CL)':>28s} {'CL speedup':>10s}")
    for name, r in rows.items():
        c = r["cpu_s_per_epoch"]
        print(
            f"{name:28s} {c['contiguous']:>12.2f} → {c['channels_last']:<12.2f} "
            f"{r['channels_last_speedup_cpu']:>9.2f}x"
        )
    last_line(
        {
            "candidates": rows,
            "optimizer_cpu_s": {k: round(op.median(k, "cpu_seconds"), 3) for k in op.samples},
            "optimizer_wall_s": {k: round(op.median(k), 3) for k in op.samples},
            "load_optimizer": [op.load_before, op.load_after],
            "eval_cpu_s": {k: round(ev.median(k, "cpu_seconds"), 3) for k in ev.samples},
            "eval_wall_s": {k: round(ev.median(k), 3) for k in ev.samples},
            "load_eval": [ev.load_before, ev.load_after],
            "threads": a.threads,
            "repeats": a.repeats,
        }
    )


if __name__ == "__main__":
    main()
