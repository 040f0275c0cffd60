"""Inspect, epoch by epoch: a slider over the run's weight snapshots and an animation of the
first-layer filters as they were after each epoch (``engine.runs.snapshots``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from engine.config import TrainConfig
from engine.nn.models import Model
from engine.runs import snapshots
from engine.runs.store import RunError, open_run
from ui.inspect.figures import DIVERGING, grid, mosaic

EPOCH = "inspect_epoch"  # widget key of the epoch slider


@st.cache_resource(max_entries=16, show_spinner=False)
def _snapshot_model(run_dir: str, epoch: int, mtime: int, cfg: TrainConfig) -> Model:
    return snapshots.epoch_model(run_dir, epoch, cfg)


@st.cache_data(max_entries=8, show_spinner=False)
def _filters(run_dir: str, mtimes: tuple[int, ...], cfg: TrainConfig):
    return snapshots.first_layer_filters(run_dir, cfg)


def _mtime(run_dir: Path, epoch: int) -> int:
    try:
        return snapshots.path(run_dir, epoch).stat().st_mtime_ns
    except OSError:
        return 0


def _accuracies(run_id: str) -> dict[int, float]:
    try:
        metrics = open_run(run_id).metrics()
    except RunError:
        return {}
    return {m["epoch"]: m["test_accuracy"] for m in metrics if m.get("kind") == "epoch"}


def epoch_label(epoch: int, acc: dict[int, float]) -> str:
    if epoch == 0:
        return "0 (initial weights)"
    return f"{epoch} ({100 * acc[epoch]:.1f}%)" if epoch in acc else str(epoch)


def pick(run_id: str, model: Model, cfg: TrainConfig) -> tuple[Model, int | None]:
    """The epoch slider, when the run kept snapshots: returns the network after the chosen
    epoch and that epoch (the final model and None when it is the last one), and shows the
    first-layer filters' animation over the epochs. Without snapshots it says why."""
    try:
        run_dir = open_run(run_id).path
    except RunError:
        return model, None
    found = snapshots.epochs(run_dir)
    st.header("Epoch by epoch")
    if len(found) < 2:
        st.caption(f"No epoch slider: {snapshots.why_none(run_dir, cfg)}.")
        return model, None
    acc = _accuracies(run_id)
    st.write(
        "The run kept its weights after every epoch. Pick one to see the filters, their "
        "responses, the activations and the prediction below as they were then."
    )
    epoch = st.select_slider(
        "Epoch (test accuracy)",
        found,
        value=found[-1],
        key=EPOCH,
        format_func=lambda e: epoch_label(e, acc),
    )
    chosen = None
    if epoch != found[-1]:
        try:
            model = _snapshot_model(str(run_dir), epoch, _mtime(run_dir, epoch), cfg)
            chosen = epoch
        except RunError as e:
            st.error(str(e))
    mtimes = tuple(_mtime(run_dir, e) for e in found)
    epochs, filters = _filters(str(run_dir), mtimes, cfg)
    if len(epochs) > 1:
        with st.expander(f"Animation: the first-layer filters over {len(epochs) - 1} epochs"):
            st.plotly_chart(filters_animation(epochs, filters, acc), width="stretch")
    return model, chosen


def filters_animation(
    epochs: list[int], filters: np.ndarray, acc: dict[int, float] | None = None, cols: int = 10
) -> go.Figure:
    """(E, C, k, k) first-layer filters as one heatmap per epoch: plotly frames, a play button
    and an epoch slider. One colour scale for every epoch, so growing weights look stronger."""
    acc = acc or {}
    cols = min(cols, filters.shape[1])
    tiles = [mosaic(grid(f, cols))[0] for f in filters]  # (H, W) each, NaN between tiles
    top = float(np.nanmax(np.abs(np.stack(tiles)))) or 1.0

    def heat(z: np.ndarray) -> go.Heatmap:
        return go.Heatmap(
            z=z,
            colorscale=DIVERGING,
            zmin=-top,
            zmax=top,
            hoverongaps=False,
            hovertemplate="y %{y}, x %{x}<br>weight %{z:.3f}<extra></extra>",
            colorbar={"thickness": 12},
        )

    names = [epoch_label(e, acc) for e in epochs]
    fig = go.Figure(
        data=[heat(tiles[-1])],
        frames=[go.Frame(data=[heat(z)], name=n) for z, n in zip(tiles, names)],
    )
    step = {"frame": {"duration": 700, "redraw": True}, "transition": {"duration": 0}}
    fig.update_layout(
        height=max(220, min(700, tiles[0].shape[0] * 18 + 200)),
        margin={"l": 10, "r": 10, "t": 30, "b": 90},  # room for the play button and slider
        updatemenus=[
            {
                "type": "buttons",
                "direction": "left",
                "x": 0,
                "y": -0.08,
                "xanchor": "left",
                "yanchor": "top",
                "buttons": [
                    {"label": "▶ Play", "method": "animate", "args": [None, step]},
                    {
                        "label": "❚❚ Pause",
                        "method": "animate",
                        "args": [[None], {**step, "mode": "immediate"}],
                    },
                ],
            }
        ],
        sliders=[
            {
                "active": len(epochs) - 1,
                "x": 0.2,
                "len": 0.8,
                "y": -0.08,
                "yanchor": "top",
                "currentvalue": {"prefix": "after epoch "},
                "steps": [
                    {
                        "label": n,
                        "method": "animate",
                        "args": [[n], {**step, "mode": "immediate"}],
                    }
                    for n in names
                ],
            }
        ],
    )
    fig.update_xaxes(visible=False, constrain="domain")
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x", constrain="domain")
    return fig
