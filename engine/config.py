"""Configs as frozen dataclasses, their JSON round trip and validation (the named trainings are
in ``engine.presets``)."""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field, fields
from typing import Any

from engine import EngineError
from engine.glyph_sets import GLYPH_SETS

DATASETS = ("mnist", "fashion-mnist")
FAMILIES = ("cnn", "mlp")
ACTIVATIONS = ("relu", "gelu", "tanh", "sigmoid", "leaky_relu")
POOLS = ("max", "avg", "none")
PADDINGS = ("valid", "same")
OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "onecycle")
AUGMENTATIONS = ("affine", "elastic", "stroke", "photo")  # see engine.data.augment
IMAGE_SIZE = 28  # px, every dataset here is 28x28 grayscale
# The run of the digit model a fresh install trains. Earlier defaults ("default-mnist-cnn", the
# seed's network; "default-digit-cnn", without glyphs; "default-digit-cnn-v2", on the 10,000-digit
# subset) stay where they are; this one joins them.
DEFAULT_RUN_ID = "default-digit-cnn-v3"


class ConfigError(EngineError, ValueError):
    """A configuration that cannot be built or trained; the message says which field and why."""


def augmentations(spec: str) -> tuple[str, ...]:
    """``"affine+stroke"`` → ("affine", "stroke"); "" or "none" → (); ConfigError for others."""
    kinds = tuple(k for k in spec.replace(",", "+").split("+") if k and k != "none")
    bad = [k for k in kinds if k not in AUGMENTATIONS]
    if bad:
        raise ConfigError(
            f"augment: unknown augmentation {bad[0]!r}; choose from {', '.join(AUGMENTATIONS)}"
        )
    return kinds


def check_types(obj: Any) -> None:
    """Raise ConfigError when a field's value is not of its default's type (JSON, URLs and forms
    can carry anything: "5" for 5, a list of strings for the channels...)."""
    for f in fields(obj):
        value, default = getattr(obj, f.name), f.default
        if default is dataclasses.MISSING:
            continue
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        elif isinstance(default, tuple):
            ok = isinstance(value, tuple) and all(
                isinstance(v, int) and not isinstance(v, bool) for v in value
            )
        else:
            ok = isinstance(value, type(default))
        if not ok:
            raise ConfigError(f"{f.name} must be a {type(default).__name__}, not {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{f.name} must be a finite number, not {value!r}")


@dataclass(frozen=True)
class ModelConfig:
    family: str = "cnn"  # "cnn" or "mlp"
    channels: tuple[int, ...] = (10, 20)  # filters of each conv layer (cnn only)
    kernel_sizes: tuple[int, ...] = (5, 5)  # px, one per conv layer
    padding: str = "valid"  # "valid" shrinks maps by k-1; "same" keeps their size
    pool: str = "max"  # 2x2 pooling after conv layers: "max", "avg" or "none"
    pool_after: tuple[int, ...] = ()  # 1-based conv layers followed by pooling; () = every one
    activation: str = "relu"  # used after every conv and hidden layer
    batchnorm: bool = False  # BatchNorm2d after each conv (speeds up training)
    bn_after_pool: bool = True  # BatchNorm after the conv's pooling, not before (cheaper)
    dropout: float = 0.5  # probability; Dropout2d after the last conv, Dropout after hidden fc
    hidden: tuple[int, ...] = (50,)  # widths of hidden fc layers; the last one is the embedding
    num_classes: int = 10
    aux_classes: int = 0  # outputs for training-only classes (TrainConfig.glyphs); see models
    log_softmax: bool = True  # the classic network ends in log-softmax (NLL == cross-entropy)

    def feature_map_sizes(self) -> list[int]:
        """Side length (px) of the feature map after each conv block, for a 28x28 input."""
        return [b.out_side for b in conv_geometry(self)]

    def pooled(self, layer: int) -> bool:
        """Whether conv layer ``layer`` (1-based) is followed by 2x2 pooling."""
        return self.pool != "none" and (not self.pool_after or layer in self.pool_after)

    def __post_init__(self) -> None:
        self.validate()  # a ModelConfig that exists makes sense: checked once, here

    def validate(self) -> None:
        """Raise ConfigError naming the first field that makes no sense."""
        check_types(self)
        if len(self.channels) > 8 or len(self.hidden) > 8:
            raise ConfigError("at most 8 conv layers and 8 hidden layers")
        if max(self.channels + self.hidden + (self.num_classes,), default=0) > 4096:
            raise ConfigError("at most 4096 filters or units per layer")
        if self.family not in FAMILIES:
            raise ConfigError(f"family must be one of {FAMILIES}, not {self.family!r}")
        if self.activation not in ACTIVATIONS:
            raise ConfigError(f"activation must be one of {ACTIVATIONS}, not {self.activation!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), not {self.dropout}")
        if self.num_classes < 2 or self.aux_classes < 0:
            raise ConfigError("num_classes must be at least 2, aux_classes at least 0")
        if any(h < 1 for h in self.hidden):
            raise ConfigError(f"hidden widths must be positive, not {self.hidden}")
        if self.family == "cnn":
            if len(self.channels) != len(self.kernel_sizes):
                raise ConfigError(
                    f"{len(self.channels)} conv layers but {len(self.kernel_sizes)} kernel sizes"
                )
            if not self.channels:
                raise ConfigError("a CNN needs at least one conv layer")
            if any(c < 1 for c in self.channels) or any(k < 1 for k in self.kernel_sizes):
                raise ConfigError("conv filters and kernel sizes must be positive")
            if self.pool not in POOLS:
                raise ConfigError(f"pool must be one of {POOLS}, not {self.pool!r}")
            if self.padding not in PADDINGS:
                raise ConfigError(f"padding must be one of {PADDINGS}, not {self.padding!r}")
            if self.padding == "same" and any(k % 2 == 0 for k in self.kernel_sizes):
                raise ConfigError("'same' padding needs odd kernel sizes")
            bad = [i for i in self.pool_after if not 1 <= i <= len(self.channels)]
            if bad or len(set(self.pool_after)) != len(self.pool_after):
                raise ConfigError(
                    f"pool_after lists conv layers 1-{len(self.channels)}, each once; "
                    f"not {self.pool_after}"
                )
            conv_geometry(self)


def doubling_channels(first: int, layers: int) -> tuple[int, ...]:
    """The filters of ``layers`` conv layers when each has twice the previous one's (the Train
    page's and the sweeps' rule): ``doubling_channels(16, 3) == (16, 32, 64)``."""
    return tuple(first * 2**i for i in range(layers))


def layers_text(m: ModelConfig) -> str:
    """Each conv layer as "FILTERSxKERNEL", with "p" when 2x2 pooling follows it: the seed's
    Keras network is "32x3,32x3p". The per-layer form of the CLI's --layers and of links."""
    return ",".join(
        f"{c}x{k}{'p' if m.pooled(i) else ''}"
        for i, (c, k) in enumerate(zip(m.channels, m.kernel_sizes, strict=False), start=1)
    )


def parse_layers(text: str) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """ "32x3,32x3p" → (channels, kernel sizes, pool_after) = ((32, 32), (3, 3), (2,)).
    ConfigError names the part that is not "FILTERSxKERNEL" with an optional "p"."""
    channels, kernels, pools = [], [], []
    for i, part in enumerate(text.replace(" ", "").split(","), start=1):
        body = part.removesuffix("p")
        f, _, k = body.partition("x")
        if not (f.isdigit() and k.isdigit()) or not 1 <= int(f) <= 4096 or not 1 <= int(k) <= 28:
            raise ConfigError(
                f"layer {i}: {part!r} is not FILTERSxKERNEL with an optional p for pooling "
                "(e.g. 32x3p; 1-4096 filters, kernels 1-28)"
            )
        channels.append(int(f))
        kernels.append(int(k))
        if part.endswith("p"):
            pools.append(i)
    if len(channels) > 8:
        raise ConfigError("at most 8 conv layers")
    return tuple(channels), tuple(kernels), tuple(pools)


def layer_fields(text: str, pool: str) -> dict[str, Any]:
    """The ModelConfig fields of a per-layer text; no "p" anywhere means no pooling."""
    channels, kernels, pools = parse_layers(text)
    return dict(channels=channels, kernel_sizes=kernels, pool_after=pools,
                pool=pool if pools else "none")  # fmt: skip


@dataclass(frozen=True)
class ConvBlock:
    """The geometry of one conv block (conv, then 2x2 pooling when it has it) on a 28x28 input."""

    layer: int  # 1-based
    in_channels: int
    out_channels: int
    kernel: int  # px, square
    in_side: int  # px, the block's input feature map
    conv_side: int  # px, after the convolution
    out_side: int  # px, after the pooling (= conv_side without it)

    @property
    def macs(self) -> int:
        """Multiply-accumulates of the convolution for one example."""
        return self.conv_side**2 * self.out_channels * self.in_channels * self.kernel**2


def conv_geometry(m: ModelConfig) -> list[ConvBlock]:
    """Every conv block's sizes (empty for an MLP); ConfigError when a kernel or a pooling does
    not fit. The one place that knows how padding and pooling shrink the maps: the model
    builder, the validation and the time estimate all ask it."""
    if m.family != "cnn":
        return []
    blocks, side, ch = [], IMAGE_SIZE, 1
    for i, (c, k) in enumerate(zip(m.channels, m.kernel_sizes, strict=False), start=1):
        conv = side if m.padding == "same" else side - k + 1
        if conv < 1:
            raise ConfigError(
                f"conv{i}: a {k}x{k} kernel does not fit the {side}x{side} feature "
                "map; use smaller kernels, 'same' padding or fewer conv layers"
            )
        out = conv
        if m.pooled(i):
            if conv < 2:
                raise ConfigError(
                    f"conv{i}: a {conv}x{conv} feature map is too small to pool 2x2; "
                    "use fewer conv layers or pooling 'none'"
                )
            out = conv // 2
        blocks.append(ConvBlock(i, ch, c, k, side, conv, out))
        side, ch = out, c
    return blocks


def flat_features(m: ModelConfig) -> int:
    """Width of the flattened input to the first dense layer (784 for an MLP)."""
    blocks = conv_geometry(m)
    return blocks[-1].out_channels * blocks[-1].out_side ** 2 if blocks else IMAGE_SIZE**2


@dataclass(frozen=True)
class TrainConfig:
    dataset: str = "mnist"  # "mnist" or "fashion-mnist"
    model: ModelConfig = field(default_factory=ModelConfig)
    epochs: int = 5
    batch_size: int = 64  # examples per SGD step
    lr: float = 0.01  # peak learning rate with the one-cycle schedule
    optimizer: str = "sgd"  # "sgd", "adam" or "adamw"
    momentum: float = 0.5  # sgd only
    weight_decay: float = 0.0
    schedule: str = "constant"  # "constant" or "onecycle" (warm-up then cosine decay, per batch)
    seed: int = 1  # model init, shuffling and dropout all derive from it
    standardize: bool = True  # inputs (x - mean) / std; False: pixels in [0, 1] like ToTensor()
    limit_train: int = 0  # train on the first N examples of a fixed shuffle (0 = all)
    augment: str = ""  # random distortions of each batch: "+"-joined affine, elastic, stroke, photo
    limit_test: int = 0  # evaluate on the first N test examples (0 = all)
    log_every: int = 100  # batches between "loss: ..." lines
    threads: int = 0  # torch intra-op threads on CPU (0 = auto: half the cores, at least 1)
    device: str = "auto"  # "auto", "cpu", "cuda", "mps"
    snapshots: bool = (
        True  # keep the weights after each epoch (engine.runs.snapshots; not for big nets)
    )
    glyphs: str = ""  # extra training classes beside the dataset's (engine.data.glyphs), or ""

    def __post_init__(self) -> None:
        self.validate()  # a TrainConfig that exists can be trained: checked once, here

    def validate(self) -> None:
        """Raise ConfigError naming the first field that makes no sense."""
        check_types(self)
        if not isinstance(self.model, ModelConfig):
            raise ConfigError("model must be a ModelConfig")
        if self.epochs > 1000 or self.batch_size > 65536:
            raise ConfigError("at most 1000 epochs and batches of 65,536")
        if self.dataset not in DATASETS:
            raise ConfigError(f"dataset must be one of {DATASETS}, not {self.dataset!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer must be one of {OPTIMIZERS}, not {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"schedule must be one of {SCHEDULES}, not {self.schedule!r}")
        for name in ("epochs", "batch_size", "log_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1")
        if not 0.0 < self.lr <= 10.0:
            raise ConfigError(f"lr must be in (0, 10], not {self.lr}")
        if not 0.0 <= self.momentum < 1.0:
            raise ConfigError(f"momentum must be in [0, 1), not {self.momentum}")
        if self.limit_train < 0 or self.limit_test < 0 or self.threads < 0:
            raise ConfigError("limits and threads cannot be negative")
        augmentations(self.augment)
        if (name := self.glyphs) and name not in GLYPH_SETS:
            raise ConfigError(f"glyphs must be one of {list(GLYPH_SETS)} or empty, not {name!r}")
        if (aux := self.model.aux_classes) != (extra := len(GLYPH_SETS[name]) if name else 0):
            raise ConfigError(f"glyphs {name!r} needs model.aux_classes={extra}, not {aux}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Rebuild from ``to_dict`` output (JSON lists become tuples; unknown keys are errors)."""
        if not isinstance(d, dict):
            raise ConfigError("a config must be a JSON object")
        d = dict(d)
        model = d.pop("model", {})
        if not isinstance(model, dict):
            raise ConfigError("config 'model' must be a JSON object")
        # Configs saved before bn_after_pool existed normalised before pooling.
        model = {"bn_after_pool": False, **model}
        try:
            mc = ModelConfig(
                **{k: tuple(v) if isinstance(v, list) else v for k, v in model.items()}
            )
            cfg = cls(model=mc, **d)
        except TypeError as e:
            raise ConfigError(f"unknown or missing config field: {e}") from None
        check_types(cfg.model)
        check_types(cfg)
        return cfg


def auto_threads() -> int:
    """Half the cores, at least one: torch's threads busy-wait, so leave a core for the rest."""
    return max(1, (os.cpu_count() or 2) // 2)
