"""The Train page's advanced per-layer editor: each conv layer's filters, kernel and pooling.

Off, the simple sliders describe the network (filters double per layer, one kernel size,
pooling after each layer). On, one row per conv layer; the "Conv layers" slider still sets how
many. Its value for the form and the URL is ``engine.config.layers_text`` ("32x3,32x3p"), or
OFF (a word, not "": a link drops empty values). Widget keys: "tr_per_layer" and
"tr_l<i>_filters|kernel|pool".
"""

from __future__ import annotations

import streamlit as st

from engine.config import ModelConfig, doubling_channels, parse_layers

MAX_LAYERS = 3  # as many as the "Conv layers" slider offers
MAX_KERNEL = 9  # px, as the simple slider
OFF = "off"  # the editor's value while the simple sliders describe the conv layers


def _key(i: int, what: str) -> str:
    return f"tr_l{i}_{what}"


def load(text: str, values: dict) -> None:
    """Set the editor's widgets from a per-layer text (OFF: rows follow the sliders)."""
    ss = st.session_state
    ss["tr_per_layer"] = text != OFF
    if text != OFF:
        channels, kernels, pools = parse_layers(text)
    else:
        n = values["conv_layers"]
        channels, kernels = doubling_channels(values["filters"], n), (values["kernel"],) * n
        pools = tuple(range(1, n + 1))
    for i in range(MAX_LAYERS):
        j = min(i, len(channels) - 1)  # rows past the last layer repeat it, doubled
        ss[_key(i, "filters")] = channels[j] * (2 ** (i - j))
        ss[_key(i, "kernel")] = kernels[j]
        ss[_key(i, "pool")] = (j + 1) in pools


def text(n: int) -> str:
    """The per-layer text of the first ``n`` rows, or OFF while the editor is off."""
    ss = st.session_state
    if not ss.get("tr_per_layer"):
        return OFF
    return ",".join(
        f"{ss[_key(i, 'filters')]}x{ss[_key(i, 'kernel')]}{'p' if ss[_key(i, 'pool')] else ''}"
        for i in range(n)
    )


def _switched() -> None:
    """on_change of the toggle: the rows start from what the simple sliders describe."""
    ss = st.session_state
    if ss["tr_per_layer"]:
        load(OFF, {k: ss[f"tr_{k}"] for k in ("conv_layers", "filters", "kernel")})
        ss["tr_per_layer"] = True


def editor(n: int, odd_only: bool) -> None:
    """The toggle and, when on, one row per conv layer (filters, kernel, pool after it)."""
    ss = st.session_state
    st.toggle(
        "Set each layer", key="tr_per_layer", on_change=_switched,
        help="Filters, kernel size and 2×2 pooling for each conv layer (the seed's Keras network "
        "is 32 → 32 filters of 3×3, pooling after the second only).",
    )  # fmt: skip
    if not ss["tr_per_layer"]:
        return
    kernels = tuple(range(1, MAX_KERNEL + 1, 2 if odd_only else 1))
    for i in range(n):
        if ss[_key(i, "kernel")] not in kernels:  # 'same' padding: odd kernels only
            ss[_key(i, "kernel")] = min(ss[_key(i, "kernel")] | 1, MAX_KERNEL)
        c1, c2, c3 = st.columns([3, 2, 2], vertical_alignment="bottom")
        c1.number_input(f"Conv {i + 1} filters", 1, 4096, step=1, key=_key(i, "filters"))
        c2.selectbox("kernel", kernels, key=_key(i, "kernel"))
        c3.checkbox("pool", key=_key(i, "pool"))


def parse(text: str) -> str:
    """A link's per-layer text, checked against what the editor offers (ValueError if not)."""
    if text == OFF:
        return OFF
    try:
        channels, kernels, pools = parse_layers(text)
    except ValueError as e:
        raise ValueError(text) from e
    if len(channels) > MAX_LAYERS or max(kernels) > MAX_KERNEL:
        raise ValueError(text)
    return ",".join(
        f"{c}x{k}{'p' if i in pools else ''}"
        for i, (c, k) in enumerate(zip(channels, kernels), start=1)
    )


def simple(m: ModelConfig) -> bool:
    """Whether the simple sliders describe these conv layers (no per-layer text needed)."""
    if m.family != "cnn" or not m.channels:
        return True
    doubling = m.channels == doubling_channels(m.channels[0], len(m.channels))
    return doubling and len(set(m.kernel_sizes)) == 1 and (not m.pool_after or m.pool == "none")


def describe(m: ModelConfig) -> str:
    """The conv layers as built: "32 → 32 filters · 3×3 · pooling after conv 2"."""
    kernels = sorted(set(m.kernel_sizes))
    pools = "no pooling" if m.pool == "none" else (
        f"pooling after conv {', '.join(map(str, m.pool_after))}" if m.pool_after
        else "pooling after each"
    )  # fmt: skip
    sizes = " · ".join(f"{k}×{k}" for k in kernels)
    return f"{' → '.join(map(str, m.channels))} filters · {sizes} · {pools}"
