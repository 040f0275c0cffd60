"""The Train page's settings: widgets ⇄ TrainConfig ⇄ URL query string (shareable setups)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import streamlit as st

from engine import EngineError
from engine.config import (
    ACTIVATIONS,
    DATASETS,
    OPTIMIZERS,
    PADDINGS,
    POOLS,
    SCHEDULES,
    ConfigError,
    TrainConfig,
    doubling_channels,
    layer_fields,
    layers_text,
)
from engine.presets import PRESETS
from engine.runs.store import open_run
from ui.train import layer_editor

DATASET_LABELS = {"mnist": "MNIST digits", "fashion-mnist": "FashionMNIST clothing"}
FAMILY_LABELS = {"cnn": "CNN (convolutional)", "mlp": "MLP (fully connected)"}
PRESET_HELP = {
    "seed-mnist-cnn": "the classic PyTorch MNIST network (seed Task 1)",
    "seed-fashion-mlp": "the PyTorch quickstart MLP on FashionMNIST (seed Task 4)",
    "seed-greek-cnn": "the seed's Keras network for Greek letters (dense-128 embedding)",
    "fast": "a small BatchNorm CNN with AdamW: high accuracy in a few epochs",
}
CUSTOM = "custom"  # what the preset box shows once a setting differs from the preset's
# The slider's stops; any other rate in (0, 10] from a link (a sweep's best trial) joins them.
LRS = (1e-4, 2e-4, 3e-4, 5e-4, 1e-3, 2e-3, 3e-3, 5e-3, 1e-2, 2e-2, 3e-2, 5e-2, 0.1, 0.2, 0.5, 1.0)
FILTERS = (4, 6, 8, 10, 12, 16, 20, 24, 32, 48, 64)
WIDTHS = (16, 32, 50, 64, 100, 128, 256, 512, 1024)
BATCHES = (16, 32, 64, 128, 256, 512)
DECAYS = (0.0, 1e-5, 1e-4, 1e-3, 1e-2)
LIMITS = (0, 1000, 2000, 5000, 10000, 20000)  # training examples; 0 = all


def _choice(options):
    def parse(text: str):
        for o in options:
            if str(o) == text:
                return o
        raise ValueError(text)

    return parse


def _int_in(lo: int, hi: int):
    def parse(text: str) -> int:
        v = int(text)
        if not lo <= v <= hi:
            raise ValueError(text)
        return v

    return parse


def _float_in(lo: float, hi: float):
    def parse(text: str) -> float:
        v = float(text)
        if not lo <= v <= hi:  # also refuses nan
            raise ValueError(text)
        return v

    return parse


def _bool(text: str) -> bool:
    if text not in ("0", "1", "true", "false"):
        raise ValueError(text)
    return text in ("1", "true")


# Every setting: its parser of URL text. Widget keys are "tr_" + name; URL keys are the names.
FIELDS = {
    "preset": _choice(tuple(PRESETS)),
    "dataset": _choice(DATASETS),
    "family": _choice(("cnn", "mlp")),
    "conv_layers": _int_in(1, 3),
    "filters": _choice(FILTERS),
    "kernel": _int_in(1, 9),
    "padding": _choice(PADDINGS),
    "pool": _choice(POOLS),
    "batchnorm": _bool,
    "activation": _choice(ACTIVATIONS),
    "dropout": _float_in(0.0, 0.8),
    "hidden_layers": _int_in(1, 3),
    "hidden": _choice(WIDTHS),
    "optimizer": _choice(OPTIMIZERS),
    "lr": _float_in(1e-6, 10.0),
    "momentum": _float_in(0.0, 0.99),
    "weight_decay": _choice(DECAYS),
    "schedule": _choice(SCHEDULES),
    "batch_size": _choice(BATCHES),
    "epochs": _int_in(1, 30),
    "seed": _int_in(0, 2**31 - 1),
    "limit_train": _choice(LIMITS),
    "device": _choice(("any", "cpu", "gpu")),
    "layers": layer_editor.parse,  # layer_editor.OFF while the per-layer editor is off
}


def values_of(cfg: TrainConfig, preset: str) -> dict[str, Any]:
    """The widget values that describe ``cfg`` (its first conv width; later layers double)."""
    m = cfg.model
    return {
        "preset": preset,
        "dataset": cfg.dataset,
        "family": m.family,
        "conv_layers": max(1, len(m.channels)),
        "filters": m.channels[0] if m.channels else 10,
        "kernel": m.kernel_sizes[0] if m.kernel_sizes else 5,
        "padding": m.padding,
        "pool": m.pool,
        "batchnorm": m.batchnorm,
        "activation": m.activation,
        "dropout": m.dropout,
        "hidden_layers": max(1, len(m.hidden)),
        "hidden": m.hidden[0] if m.hidden else 50,
        "optimizer": cfg.optimizer,
        "lr": cfg.lr,
        "momentum": cfg.momentum,
        "weight_decay": cfg.weight_decay,
        "schedule": cfg.schedule,
        "batch_size": cfg.batch_size,
        "epochs": cfg.epochs,
        "seed": cfg.seed,
        "limit_train": cfg.limit_train,
        "device": {"cuda": "gpu", "cpu": "cpu"}.get(cfg.device, "any"),
        "layers": layer_editor.OFF if layer_editor.simple(m) else layers_text(m),
    }


def config_of(v: dict[str, Any], n_train: int | None = None) -> TrainConfig:
    """The TrainConfig the widget values describe; ConfigError says why they describe none.

    Loss lines come ~20 times per epoch, so even a small run draws a curve as it learns;
    ``n_train``: the training set's size (None while it is not prepared: the full 60,000).
    """
    n_train = n_train or 60000
    base = PRESETS[v["preset"]]
    n = v["conv_layers"]
    fields = dict(
        family=v["family"],
        channels=doubling_channels(v["filters"], n),
        kernel_sizes=(v["kernel"],) * n,
        pool_after=(),
        padding=v["padding"],
        pool=v["pool"],
        batchnorm=v["batchnorm"],
        activation=v["activation"],
        dropout=float(v["dropout"]),
        hidden=(v["hidden"],) * v["hidden_layers"],
    )
    if (
        v.get("layers", layer_editor.OFF) != layer_editor.OFF and v["family"] == "cnn"
    ):  # the per-layer editor's filters, kernels, pools
        fields.update(layer_fields(v["layers"], v["pool"]))
    model = replace(base.model, **fields)
    keys = ("dataset", "optimizer", "lr", "momentum", "weight_decay", "schedule", "batch_size")
    return replace(
        base,
        model=model,
        epochs=v["epochs"],
        seed=int(v["seed"]),
        limit_train=v["limit_train"],
        log_every=max(1, min(v["limit_train"] or n_train, n_train) // v["batch_size"] // 20),
        device={"gpu": "cuda", "cpu": "cpu"}.get(v.get("device", "any"), "auto"),
        **{k: v[k] for k in keys},
    )


def _load(values: dict[str, Any]) -> None:
    for k, val in values.items():
        if k != "layers":
            st.session_state[f"tr_{k}"] = val
    layers = values.get("layers", layer_editor.OFF)
    layer_editor.load(layers, values)
    if layers != layer_editor.OFF:
        st.session_state["tr_conv_layers"] = len(layers.split(","))


def load_preset() -> None:
    """on_change of the preset box: every widget takes the preset's value ("custom" keeps them)."""
    name = st.session_state["tr_preset_view"]
    if name in PRESETS:
        _load(values_of(PRESETS[name], name))


def edited(values: dict[str, Any]) -> bool:
    """Whether any setting differs from its preset's (the preset box then says "custom")."""
    return values != values_of(PRESETS[values["preset"]], values["preset"])


def _fewer_layers(values: dict[str, Any], i: int) -> dict[str, Any]:
    layers = values.get("layers", layer_editor.OFF)
    if layers == layer_editor.OFF:
        return {"conv_layers": i}
    return {"conv_layers": i, "layers": ",".join(layers.split(",")[:i])}


def suggest_fix(values: dict[str, Any], n_train: int | None = None) -> tuple[str, dict] | None:
    """The smallest change that makes untrainable settings trainable: (what it does, the new
    values), or None. Tried in order: 'same' padding, fewer conv layers, smaller kernels, no
    pooling."""
    k, n = values["kernel"], values["conv_layers"]
    same = values["padding"] == "same"
    tries = [] if same else [("use 'same' padding", {"padding": "same", "kernel": k | 1})]
    tries += [
        (f"use {i} conv layer{'s' * (i > 1)}", _fewer_layers(values, i))
        for i in range(n - 1, 0, -1)
    ]
    tries += [
        (f"use {j}×{j} kernels", {"kernel": j})
        for j in range(k - 1, 0, -1)
        if (not same or j % 2) and values.get("layers", layer_editor.OFF) == layer_editor.OFF
    ]
    tries.append(("turn pooling off", {"pool": "none"}))
    for what, change in tries:
        new = {**values, **change}
        try:
            config_of(new, n_train)
        except ConfigError:
            continue
        return what, new
    return None


def apply_values(values: dict[str, Any]) -> None:
    """on_click of a fix button: the widgets take these values."""
    _load(values)


def run_differences(run_id: str, values: dict[str, Any]) -> list[str]:
    """The settings in which a run differs from the form's values, as "lr 0.01" (none for a run
    that cannot be read: the result view says why)."""
    try:
        was = values_of(open_run(run_id).config(), values["preset"])
    except EngineError:
        return []
    return [
        f"{k.replace('_', ' ')} {was[k]}" for k in FIELDS if k != "preset" and was[k] != values[k]
    ]


def init_from_url(default_preset: str = "fast") -> list[str]:
    """Fill the widgets once per session: the preset named in the URL, then each URL field.

    Returns the URL settings that were ignored because they were not valid.
    """
    if st.session_state.get("train_init"):
        # Streamlit forgets the state of widgets that were not drawn in a run (the CNN sliders
        # while "MLP" is chosen); re-assigning it makes it plain session state that persists.
        for k in [k for k in st.session_state if str(k).startswith("tr_")]:
            if k != "tr_preset_view":  # drawn on every run; it is set before it is drawn
                st.session_state[k] = st.session_state[k]
        return []
    values, bad = values_from_query(st.query_params.to_dict(), default_preset)
    _load(values)
    st.session_state["train_init"] = True
    return bad


def values_from_query(
    query: dict[str, str], default_preset: str = "fast"
) -> tuple[dict[str, Any], list[str]]:
    """Widget values from a URL query (``query_of`` backwards): the preset named there, then
    each field. Returns (values, the "key=value" settings ignored because they are invalid)."""
    bad: list[str] = []
    name = query.get("preset", default_preset)
    if name not in PRESETS:
        bad.append(f"preset={name}")
        name = default_preset
    values = values_of(PRESETS[name], name)
    for k, parse in FIELDS.items():
        if k in query and k != "preset":
            try:
                values[k] = parse(query[k])
            except ValueError:
                bad.append(f"{k}={query[k]}")
    return values, bad


def current() -> dict[str, Any]:
    """The form's values: the widgets', and the per-layer editor's text (OFF when it is off)."""
    ss = st.session_state
    values = {k: ss[f"tr_{k}"] for k in FIELDS if k != "layers"}
    return {**values, "layers": layer_editor.text(values["conv_layers"])}


def query_of(values: dict[str, Any]) -> dict[str, str]:
    """The URL query of widget values: the preset, then only what differs from it (short links).
    Shared by the Train page's own URL and the links other pages build (a sweep's best trial);
    ``init_from_url`` reads it back."""
    base = values_of(PRESETS[values["preset"]], values["preset"])
    enc = {k: ("1" if v is True else "0" if v is False else str(v)) for k, v in values.items()}
    return {k: enc[k] for k in FIELDS if k == "preset" or values[k] != base[k]}


def to_url(values: dict[str, Any]) -> None:
    """Mirror the settings in the URL (only what differs from the preset keeps links short)."""
    keep = {k: st.query_params[k] for k in ("run",) if k in st.query_params}
    diff = query_of(values)
    if dict(st.query_params) != {**diff, **keep}:
        st.query_params.from_dict({**diff, **keep})
