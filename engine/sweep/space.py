"""What a sweep varies: its dimensions, the base config, the grid, and validation (no Optuna)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from engine import EngineError
from engine.config import ACTIVATIONS, OPTIMIZERS, ConfigError, TrainConfig, doubling_channels
from engine.presets import PRESETS, preset

MIN_TRIALS = 2  # a sweep compares trials: one alone says nothing


class SweepError(EngineError):
    """A sweep that cannot be created, opened or run; the message says why."""


@dataclass(frozen=True)
class Dimension:
    label: str  # how the page and the conclusions name it
    kind: type  # int, float, str or bool: how CLI text is parsed
    choices: tuple  # the values the page offers
    seed: tuple  # values preselected on the page
    families: tuple[str, ...] = ("cnn", "mlp")  # the model families it applies to


CONV = ("cnn",)
DIMENSIONS: dict[str, Dimension] = {
    "batch_size": Dimension("batch size", int, (16, 32, 64, 128, 256, 512), (64, 256)),
    "conv_layers": Dimension("conv layers", int, (1, 2, 3), (1, 2), CONV),
    "kernel_size": Dimension("kernel size", int, (1, 3, 5, 7, 9), (3, 5), CONV),
    "activation": Dimension("activation", str, ACTIVATIONS, ("relu", "tanh")),
    "filters": Dimension("filters", int, (4, 8, 10, 16, 20, 32, 64), (8, 16), CONV),
    "hidden": Dimension("hidden width", int, (32, 50, 64, 128, 256, 512), (64, 128)),
    "dropout": Dimension("dropout", float, (0.0, 0.1, 0.25, 0.5), (0.0, 0.25)),
    "batchnorm": Dimension("BatchNorm", bool, (False, True), (False, True), CONV),
    "optimizer": Dimension("optimizer", str, OPTIMIZERS, ("sgd", "adamw")),
    "lr": Dimension(
        "learning rate", float, (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1), (1e-3, 1e-2)
    ),
    "weight_decay": Dimension("weight decay", float, (0.0, 1e-4, 1e-3, 1e-2), (0.0, 1e-3)),
    "epochs": Dimension("epochs", int, (1, 2, 3, 5, 10), (1, 2)),
    # Repeats: the same settings trained with other seeds. Its spread is the noise every other
    # difference is judged against; the conclusions use it that way, not as a finding.
    "seed": Dimension("seed", int, (1, 2, 3, 4, 5), (1, 2, 3)),
}
SEED_DIMENSIONS = ("batch_size", "conv_layers", "kernel_size", "activation")  # the seed's four
MLP_DIMENSIONS = ("batch_size", "hidden", "activation", "lr")  # a sensible start for an MLP
REPEAT = "seed"


def applicable(family: str) -> tuple[str, ...]:
    """The dimensions that change a model of ``family`` ("cnn" or "mlp")."""
    return tuple(k for k, d in DIMENSIONS.items() if family in d.families)


def default_dimensions(family: str) -> tuple[str, ...]:
    return SEED_DIMENSIONS if family == "cnn" else MLP_DIMENSIONS


def default_base(preset_name: str = "fast", **overrides: Any) -> TrainConfig:
    """A quick base for sweeps: a preset (default the fast BN-CNN) on FashionMNIST,
    1 epoch on 2,000 examples, one thread, no loss lines."""
    kw = dict(dataset="fashion-mnist", epochs=1, limit_train=2000, limit_test=2000, threads=1)
    return preset(preset_name, **{**kw, "log_every": 10**6, **overrides})


def apply(base: TrainConfig, params: dict[str, Any]) -> TrainConfig:
    """``base`` with a trial's settings; filters double per conv layer as on the Train page."""
    m = base.model
    n = int(params.get("conv_layers", len(m.channels) or 1))
    first = int(params.get("filters", m.channels[0] if m.channels else 16))
    kernel = int(params.get("kernel_size", m.kernel_sizes[0] if m.kernel_sizes else 3))
    hidden = params.get("hidden")
    conv = {}
    if m.family == "cnn":  # pooling stays after the layers that keep their number
        conv = dict(
            channels=doubling_channels(first, n),
            kernel_sizes=(kernel,) * n,
            pool_after=tuple(i for i in m.pool_after if i <= n),
        )
    model = replace(
        m,
        **conv,
        activation=params.get("activation", m.activation),
        dropout=float(params.get("dropout", m.dropout)),
        batchnorm=bool(params.get("batchnorm", m.batchnorm)),
        hidden=(int(hidden),) * len(m.hidden) if hidden is not None else m.hidden,
    )
    keys = ("batch_size", "optimizer", "lr", "weight_decay", "epochs", "seed")
    return replace(base, model=model, **{k: params[k] for k in keys if k in params})


@dataclass(frozen=True)
class SweepSpec:
    """What a sweep trains: stored in the study, so any worker rebuilds it from the name alone."""

    base: TrainConfig = field(default_factory=default_base)
    space: dict[str, tuple] = field(
        default_factory=lambda: {k: DIMENSIONS[k].seed for k in SEED_DIMENSIONS}
    )
    sampler: str = "grid"  # "grid": every combination once; "tpe": Optuna's Bayesian sampler
    n_trials: int = 20  # the TPE budget (a grid's size is its number of valid combinations)
    pruning: bool = False  # median pruning on each epoch's test accuracy (needs epochs > 1)
    preset: str = "fast"  # the preset ``base`` was made from (links to the Train page use it)

    def validate(self) -> None:
        """Raise SweepError (or ConfigError) naming what makes no sense."""
        if self.sampler not in ("grid", "tpe"):
            raise SweepError(f"sampler must be 'grid' or 'tpe', not {self.sampler!r}")
        if self.preset not in PRESETS:
            raise SweepError(f"unknown preset {self.preset!r}; choose from {', '.join(PRESETS)}")
        if not self.space:
            raise SweepError("pick at least one setting to vary")
        family = self.base.model.family
        for name, values in self.space.items():
            if name not in DIMENSIONS:
                raise SweepError(f"unknown setting {name!r}; choose from {', '.join(DIMENSIONS)}")
            dim = DIMENSIONS[name]
            if family not in dim.families:
                raise SweepError(
                    f"{dim.label} does not apply to an {family.upper()}; vary one of "
                    + ", ".join(DIMENSIONS[k].label for k in applicable(family) if k != REPEAT)
                )
            if not values:
                raise SweepError(f"pick at least one value of {dim.label}")
            if len(set(values)) != len(values):
                raise SweepError(f"{dim.label} lists a value twice")
        if self.sampler == "tpe" and self.n_trials < MIN_TRIALS:
            raise SweepError(f"a TPE sweep needs a budget of at least {MIN_TRIALS} trials")
        ok, bad = self.grid()  # built once per spec (cached)
        if not ok:
            raise SweepError(f"no combination can be trained, e.g. {bad[0][0]}: {bad[0][1]}")
        if self.sampler == "grid" and len(ok) < MIN_TRIALS:
            raise SweepError(
                f"this grid has {len(ok)} trainable combination: a sweep compares at least "
                f"{MIN_TRIALS}; add a value to one of the settings"
            )

    @cached_property
    def _grid(self) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], str]]]:
        names = list(self.space)
        ok, bad = [], []
        for combo in itertools.product(*(self.space[n] for n in names)):
            params = dict(zip(names, combo, strict=True))
            try:
                apply(self.base, params)
            except ConfigError as e:
                bad.append((params, str(e)))
            else:
                ok.append(params)
        return ok, bad

    def grid(self) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], str]]]:
        """Every combination of values: (the trainable ones, [(skipped one, why)]).

        Computed once per spec (a spec is frozen); callers must not change the lists."""
        return self._grid

    def size(self) -> int:
        """Trials the sweep runs: the grid's trainable combinations, or the TPE budget."""
        return len(self.grid()[0]) if self.sampler == "grid" else self.n_trials

    def to_dict(self) -> dict[str, Any]:
        return {
            "base": self.base.to_dict(),
            "space": {k: list(v) for k, v in self.space.items()},
            "sampler": self.sampler,
            "n_trials": self.n_trials,
            "pruning": self.pruning,
            "preset": self.preset,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SweepSpec:
        return cls(
            base=TrainConfig.from_dict(d["base"]),
            space={k: tuple(v) for k, v in d["space"].items()},
            sampler=d["sampler"],
            n_trials=int(d["n_trials"]),
            pruning=bool(d["pruning"]),
            preset=str(d.get("preset", "fast")),  # sweeps made before presets were offered
        )


def parse_values(name: str, text: str) -> tuple:
    """``"64,256"`` → ``(64, 256)`` typed as the setting ``name`` (for the CLI)."""
    if name not in DIMENSIONS:
        raise SweepError(f"unknown setting {name!r}; choose from {', '.join(DIMENSIONS)}")
    kind = DIMENSIONS[name].kind
    out = []
    for raw in (t.strip() for t in text.split(",") if t.strip()):
        try:
            out.append(raw.lower() in ("1", "true", "yes") if kind is bool else kind(raw))
        except ValueError:
            raise SweepError(f"{name}: {raw!r} is not a valid {kind.__name__}") from None
    return tuple(out)
