"""Engine vs textbook training loop, one epoch each, same network, data and hyperparameters.

Reference: torchvision dataset + ToTensor() + Normalize + DataLoader, as in the PyTorch tutorials.
Engine: engine.train.train (whole dataset as one normalised tensor, index batches).
Prints seconds per epoch and test accuracy of both and the speed ratio; last line is JSON.

    python bench/train_speed.py [--preset seed-fashion-mlp] [--threads 0]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torchvision import datasets, transforms

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import config, data, models, train  # noqa: E402


def reference_epoch(cfg: config.TrainConfig, root: Path) -> tuple[float, float]:
    """One epoch the textbook way; returns (seconds, test accuracy)."""
    mean, std = data.STATS[cfg.dataset]
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((mean,), (std,))])
    cls = datasets.MNIST if cfg.dataset == "mnist" else datasets.FashionMNIST
    train_set = cls(str(root), train=True, download=False, transform=tf)
    test_set = cls(str(root), train=False, download=False, transform=tf)
    # The engine shuffles epoch e with randperm(seed * 1000 + e); give the DataLoader the same
    # order so that the accuracies differ only by arithmetic, not by luck.
    g = torch.Generator().manual_seed(cfg.seed * 1000 + 1)
    train_loader = torch.utils.data.DataLoader(
        train_set, batch_size=cfg.batch_size, shuffle=True, generator=g
    )
    test_loader = torch.utils.data.DataLoader(test_set, batch_size=1000)
    torch.manual_seed(cfg.seed)
    model = models.build_model(cfg.model)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum)
    loss_fn = F.nll_loss if cfg.model.log_softmax else F.cross_entropy
    t0 = time.perf_counter()
    model.train()
    for xb, yb in train_loader:
        loss = loss_fn(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    correct = 0
    with torch.no_grad():
        for xb, yb in test_loader:
            correct += (model(xb).argmax(1) == yb).sum().item()
    seconds = time.perf_counter() - t0
    return seconds, correct / len(test_set)


def engine_epoch(cfg: config.TrainConfig, ds: data.Dataset) -> tuple[float, float]:
    t0 = time.perf_counter()
    state = train.train(cfg, ds)
    seconds = time.perf_counter() - t0
    return seconds, state.history[-1]["test_accuracy"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="seed-fashion-mlp", choices=tuple(config.PRESETS))
    p.add_argument("--dataset", choices=config.DATASETS, help="default: the preset's")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = auto)")
    a = p.parse_args()
    # Standardised inputs on both sides: the textbook pipeline is ToTensor() + Normalize.
    cfg = config.preset(a.preset, epochs=1, threads=a.threads, device="cpu", standardize=True)
    if a.dataset:
        cfg = replace(cfg, dataset=a.dataset)
    if cfg.optimizer != "sgd" or cfg.schedule != "constant" or cfg.epochs != 1:
        sys.exit("the reference loop implements one epoch of plain SGD: pick an SGD preset")
    threads = train.set_threads(a.threads)
    ds = data.load(cfg.dataset)
    print(f"{ds.info.describe()}; {threads} thread(s); preset {a.preset}; batch {cfg.batch_size}")
    ref_s, ref_acc = reference_epoch(cfg, data.data_dir())
    print(f"reference (DataLoader): {ref_s:.2f} s/epoch, test accuracy {100 * ref_acc:.1f}%")
    eng_s, eng_acc = engine_epoch(cfg, ds)
    print(f"engine:                 {eng_s:.2f} s/epoch, test accuracy {100 * eng_acc:.1f}%")
    ratio = ref_s / eng_s
    print(f"engine is {ratio:.2f}x faster per epoch")
    print(
        json.dumps(
            {
                "ratio": round(ratio, 3),
                "reference_s": round(ref_s, 3),
                "engine_s": round(eng_s, 3),
                "reference_accuracy": ref_acc,
                "engine_accuracy": eng_acc,
                "threads": threads,
                "preset": a.preset,
                "dataset": cfg.dataset,
            }
        )
    )


if __name__ == "__main__":
    main()
