"""How long the Greek letters page takes to rerun when nothing changed (AppTest timing).

A rerun happens on every widget touch anywhere on the page; it should cost only the layout,
not re-embedding the samples and 300 digits or retraining the fine-tuned head. Trains the
default digit model into a temporary runs folder (or uses --runs), opens the page through the
router, then times ``--reruns`` reruns with no change. Prints the figures and the load average;
the last line is JSON.

    python bench/greek_rerun.py [--reruns 5] [--runs DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("ENGINE_OFFLINE", "1")


def _runs_with_default_model() -> Path:
    from dataclasses import replace

    from engine.config import DEFAULT_RUN_ID
    from engine.presets import DEFAULT_MODEL
    from engine.runs.runner import execute
    from engine.runs.store import RunState, create_run

    root = Path(tempfile.mkdtemp(prefix="greek-bench-"))
    run = create_run(replace(DEFAULT_MODEL, threads=1), root, DEFAULT_RUN_ID)
    assert execute(run, echo=lambda s: None) == RunState.COMPLETE
    return root


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reruns", type=int, default=5, help="no-change reruns to time")
    ap.add_argument("--runs", type=Path, default=None, help="a runs folder with a digit model")
    args = ap.parse_args()
    runs = args.runs or _runs_with_default_model()
    print(f"runs folder: {runs}")
    os.environ["ENGINE_RUNS_DIR"] = str(runs)
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    t0 = time.perf_counter()
    at.switch_page("app_pages/greek.py").run()
    first = time.perf_counter() - t0
    assert not at.exception, [e.value for e in at.exception]
    times = []
    for _ in range(args.reruns):
        t0 = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - t0)
        assert not at.exception, [e.value for e in at.exception]
    load = os.getloadavg()
    print(f"first run of the page: {first:.2f} s")
    print(f"no-change rerun: median {statistics.median(times):.2f} s, "
          f"min {min(times):.2f} s, max {max(times):.2f} s over {len(times)}")  # fmt: skip
    print(f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")
    print(json.dumps({"first_s": round(first, 3), "rerun_s": [round(t, 3) for t in times],
                      "loadavg": [round(x, 2) for x in load]}))  # fmt: skip


if __name__ == "__main__":
    main()
