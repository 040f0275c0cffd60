"""What every benchmark here shares: contenders run alternately, medians, and the machine's load.

On a shared 2-core machine one run of each side says little: another process can take a core
for a few seconds and land on either side. So each benchmark runs its contenders in turn
(A, B, A, B, A, B), reports the median of each and the ratio of the medians, and prints the
1-minute load average before and after: a figure taken with the load above about 1 was taken
beside other work, and says so.
"""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

QUIET_LOAD = 1.0  # 1-minute load average under which this 2-core machine counts as quiet


def load1() -> float:
    """The 1-minute load average (processes running or waiting for a core)."""
    return os.getloadavg()[0]


@dataclass
class Comparison:
    """Every run of every contender, in the order they ran, and the load around them."""

    samples: dict[str, list[dict]] = field(default_factory=dict)
    load_before: float = 0.0
    load_after: float = 0.0

    def median(self, name: str, key: str = "seconds") -> float:
        return statistics.median(s[key] for s in self.samples[name])

    def ratio(self, slow: str, fast: str, key: str = "seconds") -> float:
        """median(slow) / median(fast): how many times faster ``fast`` is."""
        return self.median(slow, key) / self.median(fast, key)

    @property
    def loaded(self) -> bool:
        return max(self.load_before, self.load_after) > QUIET_LOAD

    def conditions(self) -> str:
        """One line: load before/after and whether that counts as quiet."""
        verdict = "UNDER LOAD: other work was running" if self.loaded else "quiet"
        return (
            f"load average (1 min) {self.load_before:.2f} before, {self.load_after:.2f} after, "
            f"on {os.cpu_count()} cores: {verdict}"
        )

    def summary(self, key: str = "seconds") -> dict:
        """Medians, every sample and the load, for the JSON last line."""
        return {
            "median": {name: round(self.median(name, key), 4) for name in self.samples},
            "runs": len(next(iter(self.samples.values()), [])),
            "samples": {n: [round(s[key], 4) for s in v] for n, v in self.samples.items()},
            "load_before": round(self.load_before, 2),
            "load_after": round(self.load_after, 2),
            "loaded": self.loaded,
        }


def alternate(
    contenders: dict[str, Callable[[], dict]],
    repeats: int = 3,
    echo: Callable[[str], None] = print,
    show: Callable[[dict], str] | None = None,
) -> Comparison:
    """Run each contender once per round, in turn, for ``repeats`` rounds.

    A contender returns a dict of its measurements (by convention "seconds", and whatever else
    it measured, e.g. "accuracy"). ``show`` formats one result for the progress line.
    """
    out = Comparison({name: [] for name in contenders}, load_before=load1())
    echo(f"load average (1 min) before: {out.load_before:.2f} on {os.cpu_count()} cores")
    for r in range(1, repeats + 1):
        for name, run in contenders.items():
            result = run()
            out.samples[name].append(result)
            text = show(result) if show else f"{result.get('seconds', float('nan')):.3f} s"
            echo(f"  round {r}/{repeats} {name}: {text}")
    out.load_after = load1()
    echo(out.conditions())
    return out


def last_line(payload: dict) -> None:
    """The benchmark's JSON last line (what scripts and the tables of docs/benchmarks.md read)."""
    print(json.dumps(payload))
