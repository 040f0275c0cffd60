"""The Greek letters page's pictures: thumbnails, the SSD heatmap, the head's loss curve and the
map of the embedding space."""

from __future__ import annotations

import base64
import io

import numpy as np
import plotly.graph_objects as go
from PIL import Image

PALETTE = ["#3b5bdb", "#e8590c", "#2b8a3e", "#c2255c", "#5f3dc4", "#0b7285", "#a61e4d", "#5c940d"]


def data_url(img: np.ndarray, size: int = 56) -> str:
    """A grayscale image as a PNG data URL, for dataframe image columns and plot thumbnails."""
    im = Image.fromarray(img).resize((size, round(size * img.shape[0] / img.shape[1])))
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def colour(classes: list[str], c: str) -> str:
    return PALETTE[classes.index(c) % len(PALETTE)] if c in classes else "#adb5bd"


def heatmap(d: np.ndarray, names: list[str], title: str) -> go.Figure:
    fig = go.Figure(
        go.Heatmap(
            z=d,
            x=names,
            y=names,
            colorscale="Viridis_r",
            hovertemplate="%{y} ↔ %{x}<br>SSD %{z:.1f}<extra></extra>",
        )
    )
    fig.update_layout(title=title, height=520, margin=dict(l=10, r=10, t=40, b=10))
    fig.update_yaxes(autorange="reversed")
    return fig


def loss_curve(losses: list[float], first_perfect: int | None) -> go.Figure:
    fig = go.Figure(go.Scatter(y=losses, x=list(range(1, len(losses) + 1)), mode="lines"))
    if first_perfect:
        fig.add_vline(x=first_perfect, line_dash="dot", annotation_text="100% on the samples")
    fig.update_layout(
        title="Fine-tuned head: training loss", height=300, margin=dict(l=10, r=10, t=40, b=10)
    )
    fig.update_xaxes(title="epoch (full batch)")
    fig.update_yaxes(title="cross-entropy", type="log")
    return fig


def embedding_map(
    xy: np.ndarray,
    labels: list[str],
    names: list[str],
    thumbs: dict[int, str],
    n_letters: int,
) -> go.Figure:
    """Digits as small grey labels, letters as coloured markers (hover: class and sample name).

    Only the letters in ``thumbs`` (one typical sample per class) get their picture beside
    them: a picture per letter piles up into an unreadable heap."""
    fig = go.Figure()
    digits = np.arange(n_letters, len(labels))
    for d in sorted({labels[i] for i in digits}):
        idx = [i for i in digits if labels[i] == d]
        fig.add_trace(
            go.Scatter(
                x=xy[idx, 0], y=xy[idx, 1], mode="text", text=[d] * len(idx), name=f"digit {d}",
                textfont=dict(color="#868e96", size=11), hovertemplate=f"digit {d}<extra></extra>",
            )
        )  # fmt: skip
    classes = sorted({labels[i] for i in range(n_letters)})
    span = float(max(np.ptp(xy[:, 0]), np.ptp(xy[:, 1])) or 1.0) if len(xy) else 1.0
    for c in classes:
        idx = [i for i in range(n_letters) if labels[i] == c]
        fig.add_trace(
            go.Scatter(
                x=xy[idx, 0], y=xy[idx, 1], mode="markers", name=c,
                marker=dict(size=12, color=colour(classes, c), line=dict(width=1, color="white")),
                text=[names[i] for i in idx], hovertemplate=f"{c}: %{{text}}<extra></extra>",
            )
        )  # fmt: skip
    for i, url in thumbs.items():
        fig.add_layout_image(
            source=url, x=xy[i, 0], y=xy[i, 1], xref="x", yref="y", sizex=span * 0.07,
            sizey=span * 0.07, xanchor="left", yanchor="bottom", layer="above",
        )  # fmt: skip
    fig.update_layout(
        title="Embedding space (PCA): the letters among the digits",
        height=560,
        margin=dict(l=10, r=10, t=40, b=10),
        legend=dict(orientation="h"),
    )
    return fig
