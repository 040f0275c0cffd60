"""Where a queued run stands: its place in line and when it should start and finish, from the
cost model (calibrated on the folder's finished runs) and the live workers' slots."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from engine import jobs, taskq
from engine.runs import Run, RunError, RunState, list_runs


@dataclass(frozen=True)
class Standing:
    """Where a queued run stands: its place in line and when it should start and finish."""

    place: int  # 1 = next to start
    waiting: int  # runs in this queue
    slots: int  # tasks the live workers of this queue run at once (0: no worker is up)
    start_s: float | None  # seconds until it starts (None: no worker, or nothing to go on)
    finish_s: float | None
    kind: str  # "cpu" or "gpu"
    hosts: tuple[str, ...]  # the workers' host names, for the admin

    def line(self) -> str:
        """The line: "3rd in line, about 40 s to start, about 55 s to finish (CPU worker)"."""
        where = f"{ordinal(self.place)} in line"
        if self.slots == 0:
            return f"{where}; no {self.kind.upper()} worker is running, so it waits for one"
        if self.start_s is None:
            return f"{where} ({self.kind.upper()} worker)"
        start = "starting now" if self.start_s < 1 else f"about {_secs(self.start_s)} to start"
        end = f", about {_secs(self.finish_s)} to finish" if self.finish_s else ""
        return f"{where}, {start}{end} ({self.kind.upper()} worker)"


def _secs(s: float | None) -> str:
    s = max(0.0, s or 0.0)
    if s < 90:
        return f"{s:.0f} s"
    if s < 3600:
        return f"{s / 60:.0f} min"
    return f"{s // 3600:.0f} h {s % 3600 / 60:.0f} min"


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def standing(run: Run, expected_s=None) -> Standing | None:
    """The run's place in line, with the start and finish the workers' pace gives; None when
    it is not waiting. ``expected_s(run)``: a run's expected seconds (default: the cost model,
    calibrated on this folder's finished runs)."""
    st = run.status()
    if not jobs.waiting(st):
        return None
    root, kind = run.path.parent, st.get("queue", "cpu")
    line = jobs.queue(root, kind)
    place = next((i for i, r in enumerate(line, start=1) if r.id == run.id), None)
    if place is None:
        return None
    live = taskq.workers(root, kind)
    n_slots = sum(int(w.get("concurrency") or 1) for w in live)
    hosts = tuple(sorted({str(w.get("host")) for w in live}))
    if n_slots == 0:
        return Standing(place, len(line), 0, None, None, kind, hosts)
    expected_s = expected_s or _expected_seconds(root)
    # Free times of the slots: now for idle ones, the running jobs' time left for busy ones.
    busy = [r for r in jobs.running(root) if r.status().get("queue", "cpu") == kind]
    free = sorted([_left(r, expected_s) for r in busy][:n_slots] + [0.0] * n_slots)[:n_slots]
    start = 0.0
    for r in line[:place]:
        free.sort()
        start = free[0]
        free[0] = start + expected_s(r)
    return Standing(place, len(line), n_slots, start, free[0], kind, hosts)


def _left(run: Run, expected_s) -> float:
    st = run.status()
    eta = jobs.eta_seconds(st)
    if eta is not None:
        return eta
    started = st.get("started") or st.get("launched") or time.time()
    return max(0.0, expected_s(run) - (time.time() - started))


def _expected_seconds(root: Path):
    """A function run → expected seconds: the cost model scaled by this folder's finished runs."""
    from engine import estimate

    runs = list_runs(root)
    sizes = {name: (int(i.get("n_train") or 60_000), int(i.get("n_test") or 10_000))
             for name, i in jobs.dataset_sizes().items()}  # fmt: skip
    ratios = estimate.speed_ratios([r for r in runs if r.state() == RunState.COMPLETE], sizes)

    def expected(run: Run) -> float:
        try:
            cfg = run.config()
        except RunError:
            return 0.0
        lo, hi = estimate.estimate_range(cfg, *sizes.get(cfg.dataset, (60_000, 10_000)), ratios)
        return (lo + hi) / 2

    return expected
