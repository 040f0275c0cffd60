"""The Sweeps page's charts: effect of each setting, accuracy vs time with the Pareto front,
and Optuna's parallel coordinates and parameter importances."""

from __future__ import annotations

import optuna
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from engine import sweep
from ui.run.figures import BLUE, GREEN, RED

_LAYOUT = dict(margin=dict(l=10, r=10, t=40, b=10), height=340)


def show(rep: sweep.SweepReport, study: optuna.Study) -> None:
    """The four charts of a sweep with at least 2 complete trials, two per row."""
    dims = list(rep.spec.space)
    a, b = st.columns(2)
    a.plotly_chart(effect_plot(rep), width="stretch", key="sw_effects")
    b.plotly_chart(pareto_plot(rep), width="stretch", key="sw_pareto")
    a, b = st.columns(2)
    try:
        fig = optuna.visualization.plot_parallel_coordinate(
            study, params=dims, target_name="accuracy"
        )
        fig.update_layout(title="Parallel coordinates (colour: test accuracy)", **_LAYOUT)
        a.plotly_chart(fig, width="stretch", key="sw_parallel")
    except Exception as e:  # noqa: BLE001 - optuna raises several types on thin data
        a.caption(f"Parallel coordinates need more trials ({type(e).__name__}).")
    try:
        fig = optuna.visualization.plot_param_importances(
            study, params=dims, target_name="accuracy"
        )
        fig.update_layout(title="Which setting mattered most (importance)", **_LAYOUT)
        b.plotly_chart(fig, width="stretch", key="sw_importance")
    except Exception as e:  # noqa: BLE001
        b.caption(f"Importances need more varied trials ({type(e).__name__}).")


def effect_plot(rep: sweep.SweepReport) -> go.Figure:
    """Mean ± std test accuracy per value, one panel per setting."""
    dims = [d for d in rep.spec.space if len(sweep.effects(rep.rows, d)) > 0]
    fig = make_subplots(rows=1, cols=max(1, len(dims)), shared_yaxes=True,
                        subplot_titles=[sweep.label(d) for d in dims])  # fmt: skip
    for i, d in enumerate(dims, start=1):
        eff = sweep.effects(rep.rows, d)
        fig.add_scatter(
            x=[sweep.fmt(e.value) for e in eff], y=[100 * e.mean for e in eff],
            error_y=dict(type="data", array=[100 * e.std for e in eff], visible=True),
            mode="markers+lines", marker=dict(size=10, color=BLUE), line=dict(color=BLUE),
            hovertemplate="%{x}: %{y:.1f}% ± %{error_y.array:.1f}<extra></extra>",
            showlegend=False, row=1, col=i,
        )  # fmt: skip
        fig.update_xaxes(type="category", row=1, col=i)
    fig.update_yaxes(title_text="test accuracy % (mean ± std)", row=1, col=1)
    fig.update_layout(
        title="Effect of each setting", **{**_LAYOUT, "margin": dict(l=10, r=10, t=80, b=10)}
    )
    return fig


def pareto_plot(rep: sweep.SweepReport) -> go.Figure:
    """Accuracy vs training time of every complete trial; the Pareto front as a line."""
    done, front = rep.complete, sweep.pareto_front(rep.rows)
    fig = go.Figure()
    fig.add_scatter(
        x=[r.seconds for r in done], y=[100 * r.accuracy for r in done], mode="markers",
        name="trial", marker=dict(size=9, color=BLUE, opacity=0.6),
        text=[f"trial {r.number}: {sweep.describe(r.params)}" for r in done],
        hovertemplate="%{text}<br>%{y:.1f}% in %{x:.2f} s<extra></extra>",
    )  # fmt: skip
    fig.add_scatter(
        x=[r.seconds for r in front], y=[100 * r.accuracy for r in front], name="Pareto front",
        mode="lines+markers", line=dict(color=RED, shape="hv"), marker=dict(size=11, color=RED),
    )  # fmt: skip
    if rep.best is not None:
        fig.add_scatter(
            x=[rep.best.seconds], y=[100 * rep.best.accuracy], name="best", mode="markers",
            marker=dict(size=18, color=GREEN, symbol="star"),
        )  # fmt: skip
    fig.update_layout(
        title="Accuracy vs training time", xaxis_title="seconds per trial (train + test)",
        yaxis_title="test accuracy %", **_LAYOUT,
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=1, xanchor="right"),
    )  # fmt: skip
    return fig
