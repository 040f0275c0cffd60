"""The Train page's settings widgets: four cards (data, convolutions, dense layers, training)
whose values live in session state as "tr_<name>"; ``ui.train.forms`` turns them into a TrainConfig
and a URL."""

from __future__ import annotations

import contextlib

import streamlit as st

from engine.config import ACTIVATIONS, DATASETS, OPTIMIZERS, PADDINGS, POOLS, SCHEDULES, ConfigError
from engine.presets import PRESETS
from ui.train import forms, layer_editor

CARD_PX = 220  # the width of a settings card: four fit a 1400 px window beside the sidebar


def controls() -> None:
    """The settings as four cards side by side (values live in session state as "tr_<name>")."""
    fmt_lr = lambda v: f"{v:g}"  # noqa: E731
    ss = st.session_state
    base, changed = ss["tr_preset"], forms.edited(forms.current())
    ss["tr_preset_view"] = forms.CUSTOM if changed else base
    if ss["tr_padding"] == "same" and ss["tr_kernel"] % 2 == 0:
        ss["tr_kernel"] += 1  # 'same' padding keeps the map size with odd kernels only
    # Four cards of a fixed width in a row that wraps: on a narrow window two rows of two, never
    # four squeezed columns that cut labels and values ("MNIST d", "Mo me ntu m").
    row = st.container(horizontal=True, gap="small")
    data, conv, dense, train = (row.container(border=True, width=CARD_PX) for _ in range(4))
    with data:
        st.markdown("**:material/dataset: Data**")
        st.selectbox(
            "Preset", (*PRESETS, forms.CUSTOM) if changed else tuple(PRESETS), key="tr_preset_view",
            on_change=forms.load_preset,
            help="Loads a complete setup; change any setting afterwards. "
            + " · ".join(f"{k}: {v}" for k, v in forms.PRESET_HELP.items()),
        )  # fmt: skip
        st.caption(
            f"{base}, edited: pick a preset to start again from it"
            if changed
            else forms.PRESET_HELP.get(base, "")
        )
        st.selectbox("Dataset", DATASETS, key="tr_dataset", format_func=forms.DATASET_LABELS.get)
        st.select_slider(
            "Training examples", forms.LIMITS, key="tr_limit_train",
            format_func=lambda n: "all" if n == 0 else f"{n:,}",
            help="Train on a fixed subset for quick experiments (the test set stays complete).",
        )  # fmt: skip
        st.radio(
            "Model family", ("cnn", "mlp"), key="tr_family", format_func=forms.FAMILY_LABELS.get,
        )  # fmt: skip
    with conv:
        st.markdown("**:material/filter: Convolutions**")
        if st.session_state["tr_family"] == "cnn":
            st.slider("Conv layers", 1, 3, key="tr_conv_layers")
            per_layer = bool(ss.get("tr_per_layer"))
            st.select_slider(
                "Filters", forms.FILTERS, key="tr_filters", disabled=per_layer,
                help="In conv layer 1; doubles per layer (or set each layer below).",
            )  # fmt: skip
            odd = ss["tr_padding"] == "same"
            st.slider(
                "Kernel size", 1, 9, step=2 if odd else 1, key="tr_kernel", disabled=per_layer,
                help="px, square; odd sizes only with 'same' padding (it pads k // 2 each side)",
            )  # fmt: skip
            # One above the other, each the card's width (side by side: "sa", "m").
            st.selectbox("Padding", PADDINGS, key="tr_padding")
            st.selectbox("Pooling 2×2", POOLS, key="tr_pool")
            st.checkbox("BatchNorm", key="tr_batchnorm")
            with st.expander("Advanced: each layer", expanded=per_layer):
                layer_editor.editor(ss["tr_conv_layers"], odd)
            with contextlib.suppress(ConfigError):  # the page says why these settings cannot be
                st.caption(layer_editor.describe(forms.config_of(forms.current()).model))
        else:
            st.caption("An MLP has no convolutions: it sees all 784 pixels at once.")
    with dense:
        st.markdown("**:material/hub: Dense layers**")
        st.slider("Hidden layers", 1, 3, key="tr_hidden_layers")
        st.select_slider(
            "Hidden width", forms.WIDTHS, key="tr_hidden", help="units per hidden layer"
        )
        st.selectbox("Activation", ACTIVATIONS, key="tr_activation")
        st.slider("Dropout", 0.0, 0.8, step=0.05, key="tr_dropout")
    with train:
        st.markdown("**:material/tune: Training**")
        st.selectbox("Optimizer", OPTIMIZERS, key="tr_optimizer")
        st.selectbox("Schedule", SCHEDULES, key="tr_schedule", help="onecycle: warm-up, then decay")
        st.select_slider(
            "Learning rate", sorted({*forms.LRS, ss["tr_lr"]}), key="tr_lr", format_func=fmt_lr,
            help="Log scale; the peak rate with the onecycle schedule.",
        )  # fmt: skip
        st.slider(
            "Momentum", 0.0, 0.99, step=0.01, key="tr_momentum",
            disabled=st.session_state["tr_optimizer"] != "sgd", help="SGD only",
        )  # fmt: skip
        st.select_slider("Weight decay", forms.DECAYS, key="tr_weight_decay", format_func=fmt_lr)
        st.select_slider("Batch size", forms.BATCHES, key="tr_batch_size")
        st.slider("Epochs", 1, 30, key="tr_epochs")
        st.number_input("Seed", 0, 2**31 - 1, step=1, key="tr_seed")
        st.selectbox(
            "Device", ("any", "cpu", "gpu"), key="tr_device",
            format_func={"any": "Any worker", "cpu": "CPU", "gpu": "GPU"}.get,
            help="GPU: a worker started with `python -m engine worker --queue gpu` takes it; "
            "any and CPU: the CPU workers.",
        )  # fmt: skip
