"""The hosted dashboard under 10 visitors: how fast a click on Start gets its answer while a
worker trains beside the web server.

    python bench/hosted_load.py [--rounds 3] [--broker redis|postgresql|sqlite] [--quick]

Each round is tests/e2e/hosted_round.py: a fresh `streamlit run app.py` in hosted mode, 10
Chromium sessions each clicking Start 3 times (1 training per visitor, 4 in the queue), and
one worker process that is not the server's (the web host trains nothing). It prints, per round
and over all, the median and p95 of the 30 click-to-answer times against the 2 s target, and
the load average before and after. On a 2-core machine the browsers, the server and the worker
share the cores; on a host the browsers run on the visitors' machines.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for p in (ROOT, ROOT / "tests", ROOT / "tests" / "e2e"):
    sys.path.insert(0, str(p))
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("ENGINE_FIRST_START", "0")  # the round is about visitors, not a first start

from hosted_round import run_round  # noqa: E402

from bench.common import load1  # noqa: E402

TARGET_S = 2.0


def p95(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=20)[-1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--broker", default="redis", choices=["redis", "postgresql", "sqlite"])
    ap.add_argument("--quick", action="store_true", help="one round")
    args = ap.parse_args()
    rounds = 1 if args.quick else args.rounds
    before, every = load1(), []
    print(f"load average before: {before:.2f}")
    for k in range(rounds):
        r = run_round(Path(tempfile.mkdtemp(prefix=f"hosted-load-{k}-")), args.broker)
        every += r.latencies
        print(
            f"round {k + 1} on {r.broker}: {len(r.accepted)} accepted, {r.refused} refused; "
            f"click to answer median {statistics.median(r.latencies):.2f} s, "
            f"p95 {p95(r.latencies):.2f} s, max {max(r.latencies):.2f} s; "
            f"web host started a worker: {r.web_started_worker}"
        )
    worst = max(p95(every[i : i + 30]) for i in range(0, len(every), 30))
    print(
        f"all {len(every)} clicks: median {statistics.median(every):.2f} s, p95 "
        f"{p95(every):.2f} s; worst round's p95 {worst:.2f} s against the {TARGET_S:.0f} s "
        f"target ({'met' if worst < TARGET_S else 'missed'}); load average after: {load1():.2f}"
    )


if __name__ == "__main__":
    main()
