"""Plotly figures for the pages: curves, confusion matrix, probabilities, run comparisons."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

BLUE, RED, GREEN = "#3b5bdb", "#e03131", "#2f9e44"
_LAYOUT = dict(margin=dict(l=10, r=10, t=40, b=10), height=320, hovermode="x unified")


def _fig(title: str, x: str, y: str) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, **_LAYOUT)
    fig.update_layout(legend=dict(orientation="h", yanchor="bottom", y=1.0, x=1, xanchor="right"))
    return fig


def _blank_axes(fig: go.Figure) -> None:
    """No made-up tick values on a chart that has no data yet."""
    fig.update_xaxes(showticklabels=False, showgrid=False)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False)


def loss_curve(metrics: list[dict]) -> go.Figure:
    """Train loss vs examples seen (line) and test loss after each epoch (dots), as in the seed."""
    prog = [m for m in metrics if m.get("kind") == "progress"]
    ep = [m for m in metrics if m.get("kind") == "epoch"]
    fig = _fig("Loss", "training examples seen", "negative log likelihood")
    fig.add_scatter(
        x=[m["examples"] for m in prog], y=[m["loss"] for m in prog], name="train loss",
        mode="lines", line=dict(color=BLUE),
    )  # fmt: skip
    fig.add_scatter(
        x=[m["examples"] for m in ep], y=[m["test_loss"] for m in ep], name="test loss",
        mode="markers", marker=dict(color=RED, size=9),
    )  # fmt: skip
    if not prog:
        _blank_axes(fig)
        fig.add_annotation(text="waiting for the first loss…", showarrow=False, x=0.5, y=0.5,
                           xref="paper", yref="paper")  # fmt: skip
    return fig


def accuracy_curve(metrics: list[dict], epochs: int) -> go.Figure:
    """Test accuracy (%) after each epoch."""
    ep = [m for m in metrics if m.get("kind") == "epoch"]
    fig = _fig("Test accuracy", "epoch", "accuracy (%)")
    fig.add_scatter(
        x=[m["epoch"] for m in ep], y=[100 * m["test_accuracy"] for m in ep],
        mode="lines+markers+text", text=[f"{100 * m['test_accuracy']:.1f}" for m in ep],
        textposition="top center", line=dict(color=GREEN), name="test accuracy",
    )  # fmt: skip
    fig.update_xaxes(range=[0.5, max(epochs, 1) + 0.5], dtick=1)
    if not ep:
        _blank_axes(fig)
        fig.add_annotation(text="after the first epoch…", showarrow=False, x=0.5, y=0.5,
                           xref="paper", yref="paper")  # fmt: skip
    if ep:  # room above the top point for its label
        accs = [100 * m["test_accuracy"] for m in ep]
        pad = max(1.0, 0.15 * (max(accs) - min(accs)))
        fig.update_yaxes(range=[min(accs) - pad, max(accs) + 2 * pad])
    fig.update_layout(showlegend=False)
    return fig


def confusion(
    cm: np.ndarray, classes, title: str = "Confusion matrix", height: int = 460
) -> go.Figure:
    """Counts of (actual, predicted); the diagonal is what the model got right."""
    fig = go.Figure(
        go.Heatmap(
            z=cm, x=list(classes), y=list(classes), colorscale="Blues", text=cm,
            texttemplate="%{text}",
            hovertemplate="actual %{y}, predicted %{x}: %{z}<extra></extra>",
        )
    )  # fmt: skip
    fig.update_layout(
        title=title, xaxis_title="predicted", yaxis_title="actual",
        yaxis_autorange="reversed", height=height, margin=dict(l=10, r=10, t=40, b=10),
    )  # fmt: skip
    fig.update_xaxes(type="category")
    fig.update_yaxes(type="category")
    return fig


def per_class_accuracy(cm: np.ndarray, classes: tuple[str, ...]) -> go.Figure:
    acc = 100 * cm.diagonal() / np.maximum(cm.sum(1), 1)
    fig = _fig("Accuracy per class", "", "accuracy (%)")
    fig.add_bar(
        x=list(classes), y=acc, marker_color=BLUE, text=[f"{a:.1f}" for a in acc],
        textposition="outside",
    )  # fmt: skip
    fig.update_yaxes(range=[0, 105])
    fig.update_xaxes(type="category")
    fig.update_layout(hovermode="closest")
    return fig


def probability_bars(probs: np.ndarray, classes: tuple[str, ...]) -> go.Figure:
    """Horizontal bars of class probabilities, the winner highlighted."""
    colors = [BLUE if i == int(probs.argmax()) else "#adb5bd" for i in range(len(probs))]
    fig = go.Figure(
        go.Bar(
            x=100 * probs, y=list(classes), orientation="h", marker_color=colors,
            text=[f"{100 * p:.1f}%" for p in probs], textposition="outside",
        )
    )  # fmt: skip
    fig.update_layout(
        title="Class probabilities", xaxis_title="probability (%)", height=360,
        margin=dict(l=10, r=10, t=40, b=10), yaxis_autorange="reversed",
    )  # fmt: skip
    fig.update_xaxes(range=[0, 115])
    fig.update_yaxes(type="category")
    return fig


# A qualitative palette (Okabe-Ito, readable with colour blindness): runs are categories, not a
# scale. Past its 8 colours the dash pattern changes, so no two runs look alike.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
DASHES = ("solid", "dash", "dot", "dashdot")


def run_style(i: int) -> dict:
    """The line style of the i-th run: the same in every comparison chart."""
    return dict(color=PALETTE[i % len(PALETTE)], dash=DASHES[(i // len(PALETTE)) % len(DASHES)])


def overlay(series: dict[str, list[dict]]) -> tuple[go.Figure, go.Figure]:
    """Several runs on one plot: train loss vs examples, and test accuracy per epoch. One colour
    per run in both; the legend sits below the plot area, one full run id per line."""
    loss = _fig("Train loss", "training examples seen", "loss")
    acc = _fig("Test accuracy", "epoch", "accuracy (%)")
    for i, (name, metrics) in enumerate(series.items()):
        prog = [m for m in metrics if m.get("kind") == "progress"]
        ep = [m for m in metrics if m.get("kind") == "epoch"]
        style = run_style(i)
        loss.add_scatter(
            x=[m["examples"] for m in prog], y=[m["loss"] for m in prog], name=name,
            mode="lines", line=style, legendgroup=name,
        )  # fmt: skip
        acc.add_scatter(
            x=[m["epoch"] for m in ep], y=[100 * m["test_accuracy"] for m in ep], name=name,
            mode="lines+markers", line=style, marker=dict(color=style["color"]), legendgroup=name,
        )  # fmt: skip
    for f in (loss, acc):
        f.update_layout(
            showlegend=True,
            # outside the plot area, under the x-axis title; plotly grows the bottom margin
            legend=dict(orientation="v", x=0, xanchor="left", y=-0.22, yanchor="top"),
            height=360 + 22 * len(series),
            hovermode="closest",
        )
    acc.update_xaxes(dtick=1)
    return loss, acc
