"""Where queued runs stand: the whole queue read in one pass (``board``), each waiting run with
its place in line and when it should start and finish, from the cost model (calibrated on the
folder's finished runs) and the live workers' slots. The run header, the sidebar and the progress
line all render from one board, so they cannot disagree."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from engine.queue import jobs, taskq
from engine.runs.store import Run, RunError, RunState, list_runs, runs_dir
from engine.training import estimate


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


@dataclass(frozen=True)
class Board:
    """The queue as read in one pass over the runs folder: every run's state, the standing of
    each waiting run, and the counts the sidebar shows."""

    at: float  # when it was read (time.time())
    states: dict[str, str]  # run id → state, for every run
    standings: dict[str, Standing]  # run id → standing, for the runs waiting in a line
    running: int  # runs being trained
    slots: int  # tasks the live workers of all queues run at once

    @property
    def queued(self) -> int:
        return len(self.standings)

    def label(self, run_id: str, default: str = "") -> str:
        """A run's state in words, with its place while it waits: "queued (2nd in line)". A
        run that was created and not sent yet (or a terminal run's) is "starting"."""
        if s := self.standings.get(run_id):
            return f"queued ({ordinal(s.place)} in line)"
        state = self.states.get(run_id, default)
        return "starting" if state in (RunState.CREATED, RunState.QUEUED) else state

    def caption(self) -> str:
        """ "Jobs: 1 running, 2 queued · 1 worker slot", or "" when nothing runs or waits."""
        if not (self.running or self.queued):
            return ""
        n = self.slots
        who = f"{n} worker slot{'s' if n != 1 else ''}" if n else "no worker up"
        return f"Jobs: {self.running} running, {self.queued} queued · {who}"


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


def board(root: Path | None = None, expected_s=None) -> Board:
    """The whole queue, each run's status read once. ``expected_s(run)``: a run's expected
    seconds (default: the cost model, calibrated on this folder's finished runs)."""
    root = Path(root or runs_dir())
    now = time.time()
    seen = [(r, r.status()) for r in list_runs(root)]
    busy = [(r, st) for r, st in seen if st.get("state") == RunState.RUNNING.value]
    waiting = sorted(((r, st) for r, st in seen if jobs.waiting(st)),
                     key=lambda t: jobs.line_key(*t))  # fmt: skip
    live = taskq.workers(root)
    standings: dict[str, Standing] = {}
    for kind in sorted({st.get("queue", "cpu") for _, st in waiting}):
        line = [r for r, st in waiting if st.get("queue", "cpu") == kind]
        ahead = [(r, st) for r, st in busy if st.get("queue", "cpu") == kind]
        workers = [w for w in live if w.get("queue") == kind]
        if expected_s is None and workers:
            done = [r for r, st in seen if st.get("state") == RunState.COMPLETE.value]
            expected_s = _expected_seconds(done)
        standings.update(_schedule(kind, line, ahead, workers, expected_s))
    slots = sum(int(w.get("concurrency") or 1) for w in live)
    states = {r.id: str(st.get("state", RunState.FAILED.value)) for r, st in seen}
    return Board(now, states, standings, len(busy), slots)


def standing(run: Run, expected_s=None) -> Standing | None:
    """The run's place in line, with the start and finish the workers' pace gives; None when
    it is not waiting."""
    return board(run.path.parent, expected_s).standings.get(run.id)


def _schedule(kind: str, line: list[Run], busy, workers: list[dict], expected_s) -> dict:
    """The standing of each run of one queue's line: a greedy schedule on the workers' slots."""
    n_slots = sum(int(w.get("concurrency") or 1) for w in workers)
    hosts = tuple(sorted({str(w.get("host")) for w in workers}))
    if n_slots == 0:
        return {r.id: Standing(i, len(line), 0, None, None, kind, hosts)
                for i, r in enumerate(line, start=1)}  # fmt: skip
    # Free times of the slots: now for idle ones, the running jobs' time left for busy ones.
    free = sorted([_left(r, st, expected_s) for r, st in busy][:n_slots] + [0.0] * n_slots)
    free = free[:n_slots]
    out = {}
    for i, r in enumerate(line, start=1):
        free.sort()
        start = free[0]
        free[0] = start + expected_s(r)
        out[r.id] = Standing(i, len(line), n_slots, start, free[0], kind, hosts)
    return out


def _left(run: Run, st: dict, expected_s) -> float:
    eta = jobs.eta_seconds(st)
    if eta is not None:
        return eta
    started = st.get("started") or st.get("launched") or time.time()
    return max(0.0, expected_s(run) - (time.time() - started))


def _expected_seconds(finished: list[Run]):
    """A function run → expected seconds: the cost model scaled by the finished runs' pace."""
    sizes = {name: (int(i.get("n_train") or 60_000), int(i.get("n_test") or 10_000))
             for name, i in jobs.dataset_sizes().items()}  # fmt: skip
    ratios = estimate.speed_ratios(finished, sizes)

    def expected(run: Run) -> float:
        try:
            cfg = run.config()
        except RunError:
            return 0.0
        lo, hi = estimate.estimate_range(cfg, *sizes.get(cfg.dataset, (60_000, 10_000)), ratios)
        return (lo + hi) / 2

    return expected
