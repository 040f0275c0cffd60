"""Engine vs textbook training loop, one epoch each, same network, data and hyperparameters.

Reference: torchvision dataset + ToTensor() + Normalize + DataLoader, as in the PyTorch tutorials.
Engine: engine.training.loop.train (whole dataset as one normalised tensor, index batches), timed
from the uint8 tensors in memory to a trained and evaluated model: its normalisation is included.
Both sides run in turn 3 times (bench/common.py); medians, their ratio, both test accuracies
and the load average before and after are printed; the last line is JSON.

    python bench/train_speed.py [--preset seed-fashion-mlp] [--threads 1] [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
from torchvision import datasets as tv_datasets
from torchvision import transforms

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import alternate, last_line  # noqa: E402
from engine import config, presets  # noqa: E402
from engine.data import datasets  # noqa: E402
from engine.nn import models  # noqa: E402
from engine.training import hardware, loop  # noqa: E402


def reference_epoch(cfg: config.TrainConfig, root: Path, workers: int = 0) -> dict:
    """One epoch the textbook way; returns seconds (loop and evaluation) and test accuracy."""
    device = hardware.resolve_device(cfg.device)
    mean, std = datasets.STATS[cfg.dataset]
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((mean,), (std,))])
    cls = tv_datasets.MNIST if cfg.dataset == "mnist" else tv_datasets.FashionMNIST
    train_set = cls(str(root), train=True, download=False, transform=tf)
    test_set = cls(str(root), train=False, download=False, transform=tf)
    subset = loop.training_subset(cfg, len(train_set))
    if subset is not None:
        train_set = torch.utils.data.Subset(train_set, subset.tolist())
    # The engine shuffles epoch e with randperm(seed * 1000 + e); give the DataLoader the same
    # order so that the accuracies differ only by arithmetic, not by luck.
    g = torch.Generator().manual_seed(cfg.seed * 1000 + 1)
    pin = device.type == "cuda"
    train_loader = torch.utils.data.DataLoader(
        train_set,
        batch_size=cfg.batch_size,
        shuffle=True,
        generator=g,
        num_workers=workers,
        pin_memory=pin,
    )
    test_loader = torch.utils.data.DataLoader(
        test_set, batch_size=1000, num_workers=workers, pin_memory=pin
    )
    torch.manual_seed(cfg.seed)
    model = models.build_model(cfg.model).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum)
    loss_fn = models.loss_function(cfg.model)
    t0, c0 = time.perf_counter(), time.process_time()
    model.train()
    for xb, yb in train_loader:
        xb, yb = xb.to(device, non_blocking=pin), yb.to(device, non_blocking=pin)
        loss = loss_fn(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    correct = 0
    with torch.no_grad():
        for xb, yb in test_loader:
            xb, yb = xb.to(device), yb.to(device)
            correct += (model(xb).argmax(1) == yb).sum().item()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"seconds": seconds, "cpu_seconds": cpu, "accuracy": correct / len(test_set)}


def engine_epoch(cfg: config.TrainConfig, ds: datasets.Dataset) -> dict:
    t0, c0 = time.perf_counter(), time.process_time()
    state = loop.train(cfg, ds)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"seconds": seconds, "cpu_seconds": cpu, "accuracy": state.history[-1]["test_accuracy"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="seed-fashion-mlp", choices=tuple(presets.PRESETS))
    p.add_argument("--dataset", choices=config.DATASETS, help="default: the preset's")
    p.add_argument("--threads", type=int, default=1, help="torch threads (0 = auto)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, auto")
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers of the reference")
    p.add_argument("--repeats", type=int, default=3, help="rounds of reference then engine")
    p.add_argument("--quick", action="store_true", help="a quarter epoch (15,000 examples)")
    a = p.parse_args()
    # Standardised inputs on both sides: the textbook pipeline is ToTensor() + Normalize.
    cfg = presets.preset(
        a.preset,
        epochs=1,
        threads=a.threads,
        device=a.device,
        standardize=True,
        schedule="constant",
    )
    if a.quick:
        cfg = replace(cfg, limit_train=15_000)
    if a.dataset:
        cfg = replace(cfg, dataset=a.dataset)
    if cfg.optimizer != "sgd" or cfg.schedule != "constant":
        sys.exit("the reference loop implements one epoch of plain SGD: pick an SGD preset")
    threads = hardware.set_threads(a.threads)
    ds = datasets.load(cfg.dataset)
    n = cfg.limit_train or ds.info.n_train
    print(
        f"{ds.info.describe()}; {n:,} examples per epoch; {threads} thread(s); "
        f"device {a.device}; preset {a.preset}; batch {cfg.batch_size}; seed {cfg.seed}; "
        f"reference DataLoader with {a.workers} worker(s)"
    )
    cmp = alternate(
        {
            "reference": lambda: reference_epoch(cfg, datasets.data_dir(), a.workers),
            "engine": lambda: engine_epoch(cfg, ds),
        },
        repeats=a.repeats,
        show=lambda r: (
            f"{r['seconds']:.2f} s/epoch ({r['cpu_seconds']:.2f} s of CPU), "
            f"test accuracy {100 * r['accuracy']:.1f}%"
        ),
    )
    ratio = cmp.ratio("reference", "engine")
    ref, eng = cmp.median("reference"), cmp.median("engine")
    acc_ref, acc_eng = cmp.median("reference", "accuracy"), cmp.median("engine", "accuracy")
    print(
        f"median of {a.repeats}: reference {ref:.2f} s, engine {eng:.2f} s per epoch: "
        f"the engine is {ratio:.2f}x faster; test accuracy {100 * acc_ref:.1f}% "
        f"vs {100 * acc_eng:.1f}%"
    )
    cpu_ratio = cmp.ratio("reference", "engine", "cpu_seconds")
    print(
        f"CPU time (less sensitive to other work; with DataLoader workers it leaves theirs out): "
        f"reference {cmp.median('reference', 'cpu_seconds'):.2f} s, "
        f"engine {cmp.median('engine', 'cpu_seconds'):.2f} s: {cpu_ratio:.2f}x"
    )
    last_line(
        {
            "ratio": round(ratio, 3),
            "reference_s": round(ref, 3),
            "engine_s": round(eng, 3),
            "cpu_ratio": round(cpu_ratio, 3),
            "reference_accuracy": acc_ref,
            "engine_accuracy": acc_eng,
            "threads": threads,
            "device": a.device,
            "preset": a.preset,
            "dataset": cfg.dataset,
            "examples": n,
            "seed": cfg.seed,
            **cmp.summary(),
        }
    )


if __name__ == "__main__":
    main()
