"""A sweep's results as plain data: trial rows, effects, the Pareto front and conclusions.

Pure functions over ``TrialRow`` lists; this module imports no Optuna (``study.report`` reads
the rows from the storage), so the page and the CLI format results without a database.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

from engine.sweep.space import DIMENSIONS, REPEAT, SweepSpec

NOISE = 0.003  # differences of mean accuracy below this (a fraction) are "little difference"


@dataclass(frozen=True)
class TrialRow:
    number: int
    state: str  # "complete", "pruned", "failed", "running", "queued"
    params: dict[str, Any]
    accuracy: float | None = None  # test accuracy in [0, 1] after the last epoch trained
    test_loss: float | None = None
    seconds: float | None = None  # training + evaluation wall time
    params_count: int | None = None
    epochs: int | None = None
    run_id: str | None = None
    error: str = ""
    retry_of: int | None = None


def complete(rows: list[TrialRow]) -> list[TrialRow]:
    """The complete trials that recorded an accuracy."""
    return [r for r in rows if r.state == "complete" and r.accuracy is not None]


@dataclass(frozen=True)
class SweepReport:
    name: str
    spec: SweepSpec
    rows: list[TrialRow]
    stopped: bool

    @property
    def complete(self) -> list[TrialRow]:
        return complete(self.rows)

    @property
    def best(self) -> TrialRow | None:
        return max(self.complete, key=lambda r: r.accuracy, default=None)

    def count(self, state: str) -> int:
        return sum(r.state == state for r in self.rows)

    @property
    def finished(self) -> bool:
        """Nothing queued or running, and the grid (or TPE budget) is done."""
        if self.count("queued") or self.count("running"):
            return False
        done = self.count("complete") + self.count("pruned")
        return done >= self.spec.size() if self.spec.sampler == "tpe" else True

    def conclusions(self) -> list[str]:
        return conclusions(self.rows, list(self.spec.space))


@dataclass(frozen=True)
class Effect:
    value: Any
    mean: float  # mean test accuracy of the complete trials with this value
    std: float  # their standard deviation (0 for a single trial)
    n: int
    seconds: float  # their mean wall time


def effects(rows: list[TrialRow], dim: str) -> list[Effect]:
    """Mean ± std accuracy and mean time per value of ``dim`` over the complete trials."""
    groups: dict[Any, list[TrialRow]] = {}
    for r in complete(rows):
        if dim in r.params:
            groups.setdefault(r.params[dim], []).append(r)
    out = []
    for value, rs in groups.items():
        accs = [r.accuracy for r in rs]
        secs = [r.seconds or 0.0 for r in rs]
        std = statistics.stdev(accs) if len(accs) > 1 else 0.0
        out.append(Effect(value, statistics.fmean(accs), std, len(rs), statistics.fmean(secs)))
    return sorted(out, key=lambda e: _sort_key(e.value))


def _sort_key(v: Any) -> tuple:
    return (0, float(v), "") if isinstance(v, int | float) else (1, 0.0, str(v))


def pareto_front(rows: list[TrialRow]) -> list[TrialRow]:
    """Complete trials no other trial beats on both accuracy (higher) and time (lower)."""
    done = complete(rows)
    front = []
    for r in done:
        dominated = any(
            o.accuracy >= r.accuracy
            and (o.seconds or 0) <= (r.seconds or 0)
            and (o.accuracy > r.accuracy or (o.seconds or 0) < (r.seconds or 0))
            for o in done
        )
        if not dominated:
            front.append(r)
    return sorted(front, key=lambda r: (r.seconds or 0, -r.accuracy))


def label(dim: str) -> str:
    """How the page and the conclusions name a setting: ``"batch_size"`` → ``"batch size"``."""
    return DIMENSIONS[dim].label if dim in DIMENSIONS else dim.replace("_", " ")


def fmt(v: Any) -> str:
    """A setting's value as text: floats in their shortest form (``0.001``, ``3e-05``)."""
    return f"{v:g}" if isinstance(v, float) else str(v)


def describe(params: dict[str, Any]) -> str:
    """``{"batch_size": 64, "activation": "relu"}`` → ``"batch size 64, activation relu"``."""
    return ", ".join(f"{label(k)} {fmt(v)}" for k, v in params.items())


def _speed(ratio: float) -> str:
    if not math.isfinite(ratio) or ratio <= 0:
        return "time not measured"
    if ratio >= 1.15:
        return f"{ratio:.1f}× slower"
    if ratio <= 1 / 1.15:
        return f"{1 / ratio:.1f}× faster"
    return "about as fast"


def _pct(e: Effect) -> str:
    """ "87.5%", or "87.5% ± 0.7" when repeats give a spread (sample std, in points)."""
    return f"{100 * e.mean:.1f}%" + (f" ± {100 * e.std:.1f}" if e.n > 1 else "")


def _trials(hi: Effect, lo: Effect) -> str:
    """How many trials stand behind a comparison, and a caveat when it is one each."""
    if hi.n == lo.n == 1:
        return "1 trial each: a single run per value, so chance alone can explain it"
    return f"{hi.n} vs {lo.n} trials"


def _seed_spread(done: list[TrialRow], dims: list[str]) -> float | None:
    """The mean spread (std) of accuracy between repeats of the same settings, if any."""
    if REPEAT not in dims:
        return None
    groups: dict[tuple, list[float]] = {}
    for r in done:
        key = tuple(sorted((k, v) for k, v in r.params.items() if k != REPEAT))
        groups.setdefault(key, []).append(r.accuracy)
    stds = [statistics.stdev(a) for a in groups.values() if len(a) > 1]
    return statistics.fmean(stds) if stds else None


def conclusions(rows: list[TrialRow], dims: list[str], noise: float = NOISE) -> list[str]:
    """Plain sentences drawn from the complete trials: the best one, then each setting's effect
    (biggest first: "batch size 64 beat 256 by 1.8 points on average (… 2 vs 2 trials), 3.0×
    slower"), then the fastest trial within a point of the best. Each claim says how many
    trials stand behind it; with repeats (several seeds) it shows the spread, and a difference
    smaller than the seed-to-seed spread is called so. Differences below ``noise`` (fraction)
    are "little difference".
    """
    done = complete(rows)
    if len(done) < 2:
        return ["Not enough complete trials yet to draw conclusions (need at least 2)."]
    best = max(done, key=lambda r: r.accuracy)
    out = [
        f"Best: {100 * best.accuracy:.1f}% test accuracy with {describe(best.params)} "
        f"(trial {best.number}, {best.seconds or 0:.1f} s"
        + (f", {best.params_count:,} parameters)." if best.params_count else ").")
    ]
    spread = _seed_spread(done, dims)
    if spread is not None:
        n = len({r.params[REPEAT] for r in done if REPEAT in r.params})
        out.append(
            f"Repeats: the same settings trained with {n} seeds differ by "
            f"{100 * spread:.1f} points (mean std); smaller differences below are not clear."
        )
    findings = []
    for dim in dims:
        if dim == REPEAT:
            continue
        eff = effects(done, dim)
        if len(eff) < 2:
            continue
        hi = max(eff, key=lambda e: e.mean)
        lo = min(eff, key=lambda e: e.mean)
        gap = hi.mean - lo.mean
        name = label(dim).capitalize()
        if gap < noise:
            text = (
                f"{name} made little difference (all within {100 * gap:.1f} points; "
                f"{min(e.n for e in eff)}+ trials per value)."
            )
        else:
            text = (
                f"{name} {fmt(hi.value)} beat {fmt(lo.value)} by {100 * gap:.1f} points on "
                f"average ({_pct(hi)} vs {_pct(lo)}, {_trials(hi, lo)}), "
                f"{_speed(hi.seconds / lo.seconds if lo.seconds else 0)}."
            )
            if spread is not None and gap < spread:
                text += " That is within the spread between seeds: not a clear effect."
            if len(eff) > 2:
                order = sorted(eff, key=lambda e: -e.mean)
                text += " Order: " + " > ".join(fmt(e.value) for e in order) + "."
        findings.append((gap, text))
    out += [t for _, t in sorted(findings, key=lambda f: -f[0])]
    close = [r for r in done if r.accuracy >= best.accuracy - 0.01 and r.seconds]
    fastest = min(close, key=lambda r: r.seconds, default=None)
    if fastest is not None and best.seconds and fastest.number != best.number:
        ratio = best.seconds / fastest.seconds
        if ratio >= 1.15:
            out.append(
                f"Within 1 point of the best and {ratio:.1f}× faster: {describe(fastest.params)} "
                f"({100 * fastest.accuracy:.1f}% in {fastest.seconds:.1f} s)."
            )
    return out
