"""Single-image prediction latency of the default digit model, on one thread.

What the "try it" panel and the webcam wait for per image. Three paths, each timed per call
(median of ``--calls`` calls), in turn, 3 rounds (bench/common.py):

- reference: the textbook way: PIL opens the file, torchvision's Grayscale + Resize(28) +
  ToTensor + Normalize, the model, softmax (it does not find the ink or centre it);
- engine: what ``python -m engine predict`` and the Train page's panel do per image:
  engine.data.preprocess (ink found, cropped, centred like MNIST), normalise, the model,
  probabilities;
- engine, 28x28 ready: normalise + model + probabilities on an already prepared 28x28 image
  (the webcam's classify step per crop).

The image is an MNIST test digit drawn as dark ink on light paper at 280x280 px (a PNG file).
Trains the default model first if it is missing (``python -m engine default-model``).
Last line JSON.

    python bench/predict_latency.py [--calls 200] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import alternate, last_line  # noqa: E402
from engine.config import DEFAULT_RUN_ID  # noqa: E402
from engine.data import datasets  # noqa: E402
from engine.data.preprocess import preprocess  # noqa: E402
from engine.nn.models import probabilities  # noqa: E402
from engine.runs.store import load_model, runs_dir  # noqa: E402


def timed(fn, calls: int) -> dict:
    """Median and p90 of ``calls`` calls of ``fn``, after 5 warm-up calls."""
    for _ in range(5):
        fn()
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return {"seconds": statistics.median(times), "p90": times[int(0.9 * (len(times) - 1))]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run-dir", type=Path, help="default: the default model")
    p.add_argument("--calls", type=int, default=200, help="timed calls per measurement")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="50 calls")
    a = p.parse_args()
    if a.quick:
        a.calls = 50
    torch.set_num_threads(1)
    run_dir = a.run_dir or runs_dir() / DEFAULT_RUN_ID
    if not (run_dir / "checkpoint.pt").is_file():
        print(f"no model at {run_dir}: training the default model first")
        subprocess.run([sys.executable, "-m", "engine", "default-model"], cwd=ROOT, check=True)
    model, cfg = load_model(run_dir)
    ds = datasets.load(cfg.dataset)
    digit = ds.x_test[0].numpy()  # (28, 28) uint8, white ink on black
    paper = Image.fromarray(255 - digit).resize((280, 280), Image.BILINEAR)  # dark ink, light
    path = Path(tempfile.mkdtemp()) / "digit.png"
    paper.save(path)
    mean, std = datasets.STATS[cfg.dataset]

    from torchvision import transforms

    tf = transforms.Compose(
        [
            transforms.Grayscale(),
            transforms.Resize((28, 28)),
            transforms.ToTensor(),
            transforms.Normalize((mean,), (std,)),
        ]
    )

    def reference():
        with torch.inference_mode():
            x = tf(Image.open(path)).unsqueeze(0)
            return model(x).softmax(1)

    def engine_file():
        img = preprocess(path, name=str(path)).image
        with torch.inference_mode():
            return probabilities(cfg.model, model(datasets.normalize(img, cfg)).float())

    def engine_ready():
        with torch.inference_mode():
            return probabilities(cfg.model, model(datasets.normalize(digit, cfg)).float())

    label = int(ds.y_test[0])
    got = int(engine_file().argmax())
    print(
        f"default model {run_dir.name} ({cfg.model.family}, {cfg.dataset}); 1 thread; "
        f"{a.calls} calls per measurement; test digit {label}, engine reads {got}"
    )
    cmp = alternate(
        {
            "reference": lambda: timed(reference, a.calls),
            "engine": lambda: timed(engine_file, a.calls),
            "engine_28x28": lambda: timed(engine_ready, a.calls),
        },
        repeats=a.repeats,
        show=lambda r: f"median {1000 * r['seconds']:.3f} ms, p90 {1000 * r['p90']:.3f} ms",
    )
    ms = {k: round(1000 * cmp.median(k), 3) for k in cmp.samples}
    print(
        f"median of {a.repeats}: reference {ms['reference']} ms, engine {ms['engine']} ms "
        f"(file → probabilities), engine on a ready 28x28 image {ms['engine_28x28']} ms"
    )
    last_line({"median_ms": ms, "threads": 1, "digit": label, "read_as": got, **cmp.summary()})


if __name__ == "__main__":
    main()
