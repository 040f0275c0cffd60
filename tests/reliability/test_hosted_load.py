"""Hosted mode under load, in one round: 3 browser sessions (3 visitors) each try to queue 3
trainings on a server that only serves pages, under a global cap of 2; one worker process, not
the server's, trains on the broker (Redis here when it answers, else the embedded SQLite queue).
Visitors click one after another and a training ends within seconds, so the global cap is
seldom reached here (a round on 2026-12-07 peaked at 1): test_hosting and test_queue check it.

What must hold, checked while it happens and after:
- the caps: never more than 1 queued-or-running training per visitor, never more than the
  global queue cap (2 here) in all; a refused click shows the quota's message;
- no accepted job is lost, and no run exists that nobody was told about;
- the web server started no worker of its own: it trained nothing.
How fast the pages answer (the click-to-answer p95 against 2 s) is reported by
bench/hosted_load.py over several rounds, not asserted here: on this shared 2-core machine the
browsers, the server and the worker share the cores, and a timed test would flake.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
import harness  # noqa: E402
from hosted_round import TRIES, run_round  # noqa: E402

from engine.runs.store import RunState  # noqa: E402

pytestmark = pytest.mark.e2e
VISITORS, QUEUE_CAP = 3, 2  # bench/hosted_load.py runs 10 visitors under a cap of 4


@pytest.mark.timeout(900)
def test_three_visitors_each_try_three_trainings(tmp_path):
    harness.require_browser()
    r = run_round(tmp_path, "redis", VISITORS, QUEUE_CAP)
    lat = r.latencies
    print(
        f"on {r.broker}: {len(r.accepted)} accepted, {r.refused} refused; click to answer: "
        f"median {statistics.median(lat):.2f} s, p95 {statistics.quantiles(lat, n=20)[-1]:.2f} s "
        f"over {len(lat)} clicks; worst seen: {r.worst}"
    )
    assert len(lat) == VISITORS * TRIES
    assert r.worst["per_visitor"] <= 1 and r.worst["total"] <= QUEUE_CAP, r.worst
    assert r.refused > 0  # with 9 tries against these caps some must be refused, with a message
    assert r.accepted <= set(r.states), r.accepted - set(r.states)  # no accepted job lost
    assert all(r.states[i] == RunState.COMPLETE for i in r.accepted), r.states
    assert set(r.states) == r.accepted  # and no run that nobody was told about
    assert not r.web_started_worker  # the web host only served pages
