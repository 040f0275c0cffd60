"""Models built from a ModelConfig as named ``nn.Sequential`` stacks, and their truncation.

Every layer has a name (conv1, pool1, act1, ..., fc1, fc1_act, out), so a "sub-model" that
stops at any layer is a prefix of the stack: ``truncate(model, "fc1")`` yields embeddings.
What the outputs mean (log-probabilities or logits), their loss and their probabilities are
decided here once: ``output_kind``, ``loss_function``, ``probabilities``, ``score_model``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from engine.config import ModelConfig, conv_geometry, flat_features

ACTIVATION_LAYERS = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "leaky_relu": nn.LeakyReLU,
}


class Model(nn.Sequential):
    """A classifier: (B, 1, 28, 28) normalised images → (B, num_classes) logits or log-probs."""

    def __init__(self, layers: OrderedDict[str, nn.Module], config: ModelConfig):
        super().__init__(layers)
        self.config = config

    @property
    def layer_names(self) -> list[str]:
        return [name for name, _ in self.named_children()]

    def embedding_layer(self) -> str:
        """The default layer to cut at for embeddings. A CNN: "flatten", its conv features (the
        flattened last feature maps), which recognised held-out digit and letter classes 8-12
        points better than the dense layer after them (bench/fewshot_transfer.py, docs/fewshot.md
        "Few-shot transfer"): the dense layer is trained to separate the ten digits only. An MLP,
        whose "flatten" is the raw pixels: its last hidden layer, before the activation."""
        if self.config.family == "cnn":
            return "flatten"
        hidden = [n for n in self.layer_names if n.startswith("fc") and n[2:].isdigit()]
        return hidden[-1] if hidden else "flatten"


class ClassScores(nn.Linear):
    """The class-score layer of a model with training-only classes (``ModelConfig.aux_classes``,
    the glyphs of ``engine.data.glyphs``): it learns ``known + aux`` scores, and outside training
    answers with the first ``known`` only. A digit model that also learned letters still reads
    every image as a digit, as if the letter outputs were not there."""

    def __init__(self, width: int, known: int, aux: int):
        super().__init__(width, known + aux)
        self.known = known

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = super().forward(x)
        return out if self.training else out[:, : self.known]


def build_model(cfg: ModelConfig) -> Model:
    """Build the network a config describes (the default is the classic PyTorch MNIST net)."""
    act = ACTIVATION_LAYERS[cfg.activation]
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    blocks = conv_geometry(cfg)
    for b in blocks:
        i, k = b.layer, b.kernel
        pad = k // 2 if cfg.padding == "same" else 0
        layers[f"conv{i}"] = nn.Conv2d(
            b.in_channels, b.out_channels, k, padding=pad, bias=not cfg.batchnorm
        )
        # BatchNorm after the pooling normalises a quarter of the values: 1.4-1.7x faster steps
        # for the `fast` net on CPU, and as accurate (docs/benchmarks.md, "levers").
        late = cfg.batchnorm and cfg.bn_after_pool and cfg.pooled(i)
        drop = i == len(blocks) and cfg.dropout > 0
        if cfg.batchnorm and not late:
            layers[f"bn{i}"] = nn.BatchNorm2d(b.out_channels)
        if drop and not late:
            layers[f"conv{i}_drop"] = nn.Dropout2d(cfg.dropout)  # as in the classic net
        if cfg.pooled(i):
            layers[f"pool{i}"] = nn.MaxPool2d(2) if cfg.pool == "max" else nn.AvgPool2d(2)
        if late:
            layers[f"bn{i}"] = nn.BatchNorm2d(b.out_channels)
            if drop:
                layers[f"conv{i}_drop"] = nn.Dropout2d(cfg.dropout)
        layers[f"act{i}"] = act()
    layers["flatten"] = nn.Flatten()
    width = flat_features(cfg)
    for j, h in enumerate(cfg.hidden, start=1):
        layers[f"fc{j}"] = nn.Linear(width, h)
        layers[f"fc{j}_act"] = act()
        if cfg.dropout > 0:
            layers[f"fc{j}_drop"] = nn.Dropout(cfg.dropout)
        width = h
    layers[SCORES] = (
        ClassScores(width, cfg.num_classes, cfg.aux_classes)
        if cfg.aux_classes
        else nn.Linear(width, cfg.num_classes)
    )
    if cfg.log_softmax:
        layers["log_softmax"] = nn.LogSoftmax(dim=1)
    return Model(layers, cfg)


# --- what the outputs mean: the one place that decides ---------------------------------------
SCORES = "out"  # the layer whose output is the class scores (logits), before any log-softmax


def output_kind(cfg: ModelConfig) -> str:
    """ "log_probabilities" (the classic net ends in log-softmax) or "logits" (the others)."""
    return "log_probabilities" if cfg.log_softmax else "logits"


def loss_function(cfg: ModelConfig) -> Callable[..., torch.Tensor]:
    """The training loss for the model's outputs, called as ``loss(out, y, **kw)``: NLL on
    log-probabilities, cross-entropy on logits (the same cross-entropy either way)."""
    return F.nll_loss if cfg.log_softmax else F.cross_entropy


# A top probability under this is answered "not sure" ("try it", webcam boxes).
# Chosen on bench/real_inputs.py's digit proxies: below it, answers were right about half the
# time (docs/real_inputs.md).
NOT_SURE_BELOW = 0.6


def probabilities(cfg: ModelConfig, out: torch.Tensor) -> torch.Tensor:
    """Class probabilities (…, K) from the model's outputs: exp of log-probabilities, softmax
    of logits."""
    return out.exp() if cfg.log_softmax else out.softmax(dim=-1)


def score_model(model: nn.Sequential) -> nn.Sequential:
    """The stack up to the class scores (logits): gradients of a score do not saturate the way
    those of a probability (or log-softmax, which mixes every class) do. Shares the weights."""
    names = [name for name, _ in model.named_children()]
    return truncate(model, SCORES) if SCORES in names else model


def truncate(model: nn.Sequential, layer: str) -> nn.Sequential:
    """The sub-model from the input up to and including ``layer`` (shares the weights)."""
    names = [name for name, _ in model.named_children()]
    if layer not in names:
        raise ValueError(f"no layer named {layer!r}; layers are: {', '.join(names)}")
    keep = names[: names.index(layer) + 1]
    return nn.Sequential(OrderedDict((n, getattr(model, n)) for n in keep))


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def param_count(cfg: ModelConfig) -> int:
    """Parameters of the network a config describes, without allocating it on a device."""
    with torch.device("meta"):
        return count_params(build_model(cfg))
