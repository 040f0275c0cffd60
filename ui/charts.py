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


def overlay(series: dict[str, list[dict]]) -> tuple[go.Figure, go.Figure]:
    """Several runs on one plot: train loss vs examples, and test accuracy per epoch."""
    loss = _fig("Train loss", "training examples seen", "loss")
    acc = _fig("Test accuracy", "epoch", "accuracy (%)")
    for name, metrics in series.items():
        prog = [m for m in metrics if m.get("kind") == "progress"]
        ep = [m for m in metrics if m.get("kind") == "epoch"]
        loss.add_scatter(x=[m["examples"] for m in prog], y=[m["loss"] for m in prog], name=name)
        acc.add_scatter(
            x=[m["epoch"] for m in ep], y=[100 * m["test_accuracy"] for m in ep], name=name,
            mode="lines+markers",
        )  # fmt: skip
    for f in (loss, acc):
        f.update_layout(showlegend=True, legend=dict(orientation="h", y=-0.3), height=400)
    acc.update_xaxes(dtick=1)
    return loss, acc
