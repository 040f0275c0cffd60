"""The GPU check: one short script for a machine with a GPU, its own torch and torchvision, and
the data folder carried along (run from the repository root; needs nothing else).

1. The engine's CLI trains the seed CNN on the GPU, then a process that sees no GPU loads the
   checkpoint and evaluates it on the CPU.
2. Per epoch on the same card, for the seed CNN (and the seed MLP): the textbook DataLoader loop
   (4 workers), the engine with CUDA graphs, and the engine without them (ENGINE_CUDA_GRAPHS=0),
   in turn, 3 rounds (bench/common.py); medians and ratios.
3. Seconds to 91% on FashionMNIST for a few presets and batch sizes.

Prints as it goes; writes everything to OUT/gpu_check.json and prints it as the last line.
``--quick`` (any device, e.g. the CPU here): a 4,000-example epoch, one round, to test the script.

    python bench/gpu_check.py [--out DIR] [--quick] [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import alternate, load1  # noqa: E402
from bench.time_to_accuracy import time_to  # noqa: E402
from bench.train_speed import engine_epoch, reference_epoch  # noqa: E402
from engine import presets  # noqa: E402
from engine.data import datasets  # noqa: E402


def cli_round_trip(device: str, quick: bool) -> dict:
    """Train with the CLI on ``device``, then evaluate the checkpoint in a process without GPU."""
    runs = Path(tempfile.mkdtemp(prefix="gpu-check-runs-"))
    cmd = [sys.executable, "-m", "engine", "train", "--preset", "seed-mnist-cnn", "--epochs", "1"]
    cmd += ["--device", device, "--runs-dir", str(runs), "--run-id", "gpu-check"]
    if quick:
        cmd += ["--limit-train", "2000"]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    out = {"train_rc": p.returncode, "train_s": round(time.perf_counter() - t0, 2)}
    print(p.stdout[-1500:], p.stderr[-1500:], sep="\n")
    cpu_env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    q = subprocess.run(
        [sys.executable, "-m", "engine", "eval", str(runs / "gpu-check")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=cpu_env,
        timeout=300,
    )
    print(q.stdout[-800:], q.stderr[-800:], sep="\n")
    out["cpu_eval_rc"] = q.returncode
    try:
        trained = json.loads(p.stdout.strip().splitlines()[-1])
        evaluated = json.loads(q.stdout.strip().splitlines()[-1])
        out["gpu_test_accuracy"] = trained.get("test_accuracy")
        out["cpu_test_accuracy"] = evaluated.get("test_accuracy")
        out["trained_on"] = device
    except (ValueError, IndexError) as e:
        out["error"] = f"unreadable CLI output: {e}"
    return out


def per_epoch(preset: str, device: str, quick: bool, repeats: int) -> dict:
    """Textbook loop (4 workers) vs the engine with and without CUDA graphs, one epoch each."""
    # FashionMNIST for both networks: 60,000 examples per epoch (the MNIST here is a subset).
    cfg = presets.preset(
        preset, dataset="fashion-mnist", epochs=1, device=device, standardize=True, threads=0
    )
    if quick:
        cfg = replace(cfg, limit_train=4000)
    ds = datasets.load(cfg.dataset)

    def engine(graphs: bool):
        def run() -> dict:
            os.environ["ENGINE_CUDA_GRAPHS"] = "1" if graphs else "0"
            try:
                return engine_epoch(cfg, ds)
            finally:
                os.environ.pop("ENGINE_CUDA_GRAPHS", None)

        return run

    print(f"{preset} on {cfg.dataset}, batch {cfg.batch_size}, one epoch, {device}:")
    cmp = alternate(
        {
            "dataloader_4_workers": lambda: reference_epoch(cfg, datasets.data_dir(), workers=4),
            "engine": engine(True),
            "engine_no_graphs": engine(False),
        },
        repeats=repeats,
        show=lambda r: f"{r['seconds']:.3f} s/epoch, test accuracy {100 * r['accuracy']:.1f}%",
    )
    return {
        **cmp.summary(),
        "accuracy": {k: cmp.median(k, "accuracy") for k in cmp.samples},
        "engine_vs_dataloader": round(cmp.ratio("dataloader_4_workers", "engine"), 2),
        "graphs_vs_eager": round(cmp.ratio("engine_no_graphs", "engine"), 2),
    }


def to_91(device: str, quick: bool) -> dict:
    """Seconds to 91% on FashionMNIST for the fast preset and a few batch sizes."""
    ds = datasets.load("fashion-mnist")

    def fast(**kw):
        return presets.preset("fast", device=device, **kw)

    wide = replace(presets.FAST_CNN, channels=(32, 64))
    trials = {
        "fast": fast(),
        "fast-b256-e3": fast(batch_size=256, epochs=3, lr=5e-3),
        "fast-b512-e4": fast(batch_size=512, epochs=4, lr=8e-3),
        "fast-b512-e6": fast(batch_size=512, epochs=6, lr=8e-3),
        "fast-b1024-e6": fast(batch_size=1024, epochs=6, lr=1.2e-2),
        "wide-b512-e4": fast(batch_size=512, epochs=4, lr=8e-3, model=wide),
    }
    if quick:
        trials = {"fast": replace(trials["fast"], limit_train=4000, epochs=1)}
    out = {}
    for name, cfg in trials.items():
        print(f"  {name}: batch {cfg.batch_size}, {cfg.epochs} epochs at most, lr {cfg.lr:g}")
        try:
            out[name] = time_to(cfg, ds, 0.91, echo=print)
        except Exception as e:  # noqa: BLE001 - one failed trial must not lose the others
            out[name] = {"error": f"{type(e).__name__}: {e}"}
        r = out[name]
        if "error" not in r:
            print(
                f"  {name}: {'reached' if r['reached'] else 'NOT reached'} "
                f"{100 * r['accuracy']:.2f}% in {r['seconds']:.2f} s "
                f"(training {r['training_s']} s, CUDA graphs {r.get('cuda_graphs')})"
            )
    return out


def lever_sweep(device: str, quick: bool, budget_s: float = 150.0) -> dict:
    """Test accuracy after 1, 2 and 3 epochs (one-cycle over that many) of every candidate in
    bench/levers.py, and of label smoothing 0.1 and a constant rate on a few: the accuracy
    side of the levers table (the CPU cost side is measured by bench/levers.py)."""
    import torch.nn.functional as F

    from bench.levers import CANDIDATES
    from engine.training import loop as train_mod

    ds = datasets.load("fashion-mnist")
    plain_loss = train_mod._loss

    def smoothed(cfg, out, y, **kw):
        return F.cross_entropy(out, y, label_smoothing=0.1, **kw)

    trials = []
    for name, cfg in CANDIDATES.items():
        trials += [(name, replace(cfg, epochs=e, device=device), False) for e in (1, 2, 3)]
    for name in ("fast (16,32) same", "(16,32) valid", "(8,16,32) same", "fast, batch 256"):
        cfg = CANDIDATES[name]
        trials += [(name + ", label smoothing 0.1", replace(cfg, epochs=e, device=device), True)
                   for e in (2, 3)]  # fmt: skip
    trials += [
        ("fast, constant rate", replace(CANDIDATES["fast (16,32) same"], epochs=e,
         schedule="constant", device=device), False)
        for e in (2, 3)
    ]  # fmt: skip
    if quick:
        trials = [(n, replace(c, limit_train=2000), s) for n, c, s in trials[:2]]
    out: dict = {}
    t_start = time.perf_counter()
    for name, cfg, smooth in trials:
        if time.perf_counter() - t_start > budget_s:
            out["stopped"] = f"time budget of {budget_s:.0f} s spent"
            break
        train_mod._loss = smoothed if smooth else plain_loss
        try:
            r = time_to(cfg, ds, 0.91, echo=lambda s: None, stop=False)
        finally:
            train_mod._loss = plain_loss
        key = f"{name} | {cfg.epochs} epochs"
        out[key] = {
            "accuracy": [round(c["accuracy"], 4) for c in r["curve"]],
            "seconds": [c["seconds"] for c in r["curve"]],
            "seconds_to_91": r["seconds"] if r["reached"] else None,
            "batch": cfg.batch_size,
            "lr": cfg.lr,
        }
        print(
            f"  {key}: {' '.join(f'{100 * a:.2f}' for a in out[key]['accuracy'])} % "
            f"({out[key]['seconds'][-1]:.2f} s)",
            flush=True,
        )
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", ".")))
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--quick", action="store_true", help="tiny epochs, one round (script test)")
    p.add_argument(
        "--skip", nargs="*", default=[], help="parts to skip: cli, cnn, mlp, to91, levers"
    )
    p.add_argument("--levers-budget", type=float, default=150.0, help="seconds for the sweep")
    a = p.parse_args()
    report: dict = {
        "torch": torch.__version__,
        "device": a.device,
        "card": torch.cuda.get_device_name() if a.device == "cuda" else "cpu",
        "cpu_count": os.cpu_count(),
        "load_before": load1(),
        "quick": a.quick,
    }
    print(json.dumps(report))
    if a.device == "cuda":
        torch.zeros(1, device="cuda")  # CUDA's start-up, outside every timing
    repeats = 1 if a.quick else 3
    parts = {  # most wanted first: a run cut short keeps what it finished (OUT/gpu_check.json)
        "cnn": lambda: per_epoch("seed-mnist-cnn", a.device, a.quick, repeats),
        "to91": lambda: to_91(a.device, a.quick),
        "cli": lambda: cli_round_trip(a.device, a.quick),
        "levers": lambda: lever_sweep(a.device, a.quick, a.levers_budget),
        "mlp": lambda: per_epoch("seed-fashion-mlp", a.device, a.quick, repeats),
    }
    for name, part in parts.items():
        if name in a.skip:
            continue
        t0 = time.perf_counter()
        print(f"=== {name}", flush=True)
        try:
            report[name] = part()
        except Exception as e:  # noqa: BLE001 - report what broke, keep the other parts
            report[name] = {"error": f"{type(e).__name__}: {e}"}
            print(f"{name} failed: {type(e).__name__}: {e}")
        print(f"=== {name} took {time.perf_counter() - t0:.1f} s", flush=True)
        a.out.mkdir(parents=True, exist_ok=True)
        (a.out / "gpu_check.json").write_text(json.dumps(report, indent=1))
    report["load_after"] = load1()
    (a.out / "gpu_check.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
