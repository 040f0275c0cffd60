"""What importing the engine costs: each entry point imported in a fresh interpreter, against
``import torch`` alone (the floor: every entry point needs it), alternating 5 times.

    python bench/import_cost.py [--repeats 5]

It prints, per module, the median seconds, the ratio to ``import torch`` and which optional heavy
packages (optuna, onnx, cv2, the queue's storages, plotly, pandas) the import pulled in. The
goal: ``import engine`` and the modules a page or the CLI needs for a prediction pull in none of
them; the worker (``engine.queue.tasks``) may, since it runs sweeps.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import alternate, last_line  # noqa: E402

HEAVY = ("optuna", "onnx", "onnxscript", "cv2", "huey", "redis", "psycopg", "sqlalchemy",
         "plotly", "pandas", "torchvision")  # fmt: skip
MODULES = (
    "torch",
    "engine",
    "engine.nn.predict",
    "engine.queue.jobs",
    "engine.training.loop",
    "engine.queue.tasks",
)
PROBE = """
import sys, time
t = time.perf_counter()
import {module}
print(time.perf_counter() - t)
print(" ".join(m for m in {heavy!r} if m in sys.modules))
"""


def timed(module: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module, heavy=HEAVY)],
        capture_output=True, text=True, check=True, cwd=ROOT,
        env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
    ).stdout.splitlines()  # fmt: skip
    return {"seconds": float(out[0]), "heavy": out[1].split() if len(out) > 1 else []}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    cmp = alternate({m: (lambda m=m: timed(m)) for m in MODULES}, a.repeats)
    rows = {}
    for m in MODULES:
        heavy = sorted({h for s in cmp.samples[m] for h in s["heavy"]})
        rows[m] = {"seconds": round(cmp.median(m), 3), "vs_torch": round(cmp.ratio(m, "torch"), 2),
                   "heavy": heavy}  # fmt: skip
        print(f"import {m:15} {rows[m]['seconds']:.3f} s = {rows[m]['vs_torch']:.2f}× torch; "
              f"optional heavy packages: {', '.join(heavy) or 'none'}")  # fmt: skip
    last_line({"bench": "import_cost", "modules": rows, **cmp.summary()})


if __name__ == "__main__":
    main()
