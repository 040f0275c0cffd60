"""Models built from a ModelConfig as named ``nn.Sequential`` stacks, and their truncation.

Every layer has a name (conv1, pool1, act1, ..., fc1, fc1_act, out), so a "sub-model" that
stops at any layer is a prefix of the stack: ``truncate(model, "fc1")`` yields embeddings.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from engine.config import IMAGE_SIZE, ModelConfig

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
        """The default layer to cut at for embeddings: the last hidden fc layer, before its
        activation. Measured on real Greek letters, the pre-ReLU vector is the more robust
        choice: with 50 units, ReLU zeroes many dimensions and nearest neighbours get noisy.
        Without hidden layers it is the flattened feature map."""
        hidden = [n for n in self.layer_names if n.startswith("fc") and n[2:].isdigit()]
        return hidden[-1] if hidden else "flatten"


def build_model(cfg: ModelConfig) -> Model:
    """Build the network a config describes (the default is the classic PyTorch MNIST net)."""
    cfg.validate()
    act = ACTIVATION_LAYERS[cfg.activation]
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    in_ch, side = 1, IMAGE_SIZE
    if cfg.family == "cnn":
        sides = cfg.feature_map_sizes()
        n = len(cfg.channels)
        for i, (ch, k) in enumerate(zip(cfg.channels, cfg.kernel_sizes, strict=False), start=1):
            pad = k // 2 if cfg.padding == "same" else 0
            layers[f"conv{i}"] = nn.Conv2d(in_ch, ch, k, padding=pad, bias=not cfg.batchnorm)
            if cfg.batchnorm:
                layers[f"bn{i}"] = nn.BatchNorm2d(ch)
            if i == n and cfg.dropout > 0:
                layers[f"conv{i}_drop"] = nn.Dropout2d(cfg.dropout)  # as in the classic net
            if cfg.pool != "none":
                layers[f"pool{i}"] = nn.MaxPool2d(2) if cfg.pool == "max" else nn.AvgPool2d(2)
            layers[f"act{i}"] = act()
            in_ch = ch
        side = sides[-1]
    layers["flatten"] = nn.Flatten()
    width = in_ch * side * side
    for j, h in enumerate(cfg.hidden, start=1):
        layers[f"fc{j}"] = nn.Linear(width, h)
        layers[f"fc{j}_act"] = act()
        if cfg.dropout > 0:
            layers[f"fc{j}_drop"] = nn.Dropout(cfg.dropout)
        width = h
    layers["out"] = nn.Linear(width, cfg.num_classes)
    if cfg.log_softmax:
        layers["log_softmax"] = nn.LogSoftmax(dim=1)
    return Model(layers, cfg)


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
