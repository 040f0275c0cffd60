"""The Inspect page's plotly figures: filters, feature maps, vectors, probabilities, saliency
(``ui.inspect.sections`` draws the page's sections with them)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from engine.nn.saliency import Saliency

DIVERGING = "RdBu_r"  # blue < 0 < red, white at 0: the sign of a weight or response is visible
IMAGE_TYPES = ["png", "jpg", "jpeg", "bmp", "webp", "tif", "tiff", "gif"]
MAX_MAPS = 64  # feature maps drawn per layer; wider layers show their first 64


# --- tiles: many small images as one heatmap (one trace is fast, hover still says which) --------


def mosaic(tiles: np.ndarray, gap: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(R, C, h, w) tiles → one (R·(h+gap)−gap, C·(w+gap)−gap) image with NaN gaps, and hover
    data per cell: [0] tile number (from 1, row by row), [1] tile row, [2] tile column (from 1),
    [3] y, [4] x inside the tile."""
    r, c, h, w = tiles.shape
    z = np.full((r * (h + gap) - gap, c * (w + gap) - gap), np.nan)
    data = np.zeros((*z.shape, 5), dtype=int)
    ys, xs = np.mgrid[0:h, 0:w]
    for i in range(r):
        for j in range(c):
            y0, x0 = i * (h + gap), j * (w + gap)
            z[y0 : y0 + h, x0 : x0 + w] = tiles[i, j]
            ids = [np.full_like(ys, v) for v in (i * c + j + 1, i + 1, j + 1)]
            data[y0 : y0 + h, x0 : x0 + w] = np.stack([*ids, ys, xs], -1)
    return z, data


def tiles_figure(
    tiles: np.ndarray,
    hover: str,
    centred: bool = True,
    colorscale: str = DIVERGING,
    row_labels: list[str] | None = None,
    col_labels: list[str] | None = None,
    px: int = 8,
) -> go.Figure:
    """A grid of (R, C, h, w) tiles on one shared colour scale (centred on 0 when ``centred``).

    ``hover`` is a plotly template over the customdata of ``mosaic``.
    """
    r, c, h, w = tiles.shape
    z, data = mosaic(tiles)
    top = float(np.nanmax(np.abs(z))) or 1.0
    zmin, zmax = (-top, top) if centred else (float(np.nanmin(z)), float(np.nanmax(z)))
    fig = go.Figure(
        go.Heatmap(
            z=z,
            customdata=data,
            colorscale=colorscale,
            zmin=zmin,
            zmax=zmax,
            hoverongaps=False,
            hovertemplate=hover + "<br>value %{z:.3f}<extra></extra>",
            colorbar={"thickness": 12},
        )
    )
    xt = [j * (w + 1) + (w - 1) / 2 for j in range(c)]
    yt = [i * (h + 1) + (h - 1) / 2 for i in range(r)]
    fig.update_xaxes(
        tickvals=xt if col_labels else [],
        ticktext=col_labels,
        showgrid=False,
        zeroline=False,
        side="top",
        constrain="domain",
    )
    fig.update_yaxes(
        tickvals=yt if row_labels else [],
        ticktext=row_labels,
        showgrid=False,
        zeroline=False,
        autorange="reversed",  # row 0 at the top, like an image
        scaleanchor="x",  # square pixels
        constrain="domain",
    )
    height = max(140, min(900, z.shape[0] * px + 60))
    fig.update_layout(height=height, margin={"l": 10, "r": 10, "t": 30, "b": 10})
    return fig


def grid(maps: np.ndarray, cols: int) -> np.ndarray:
    """(N, h, w) → (rows, cols, h, w), padding the last row with NaN."""
    n, h, w = maps.shape
    rows = -(-n // cols)
    out = np.full((rows * cols, h, w), np.nan)
    out[:n] = maps
    return out.reshape(rows, cols, h, w)


def row_labels(n: int, cols: int) -> list[str] | None:
    """ "1–5", "6–10", ...: which tiles a row holds (None for a single row: columns say it)."""
    if n <= cols:
        return None
    return [f"{i + 1}–{min(i + cols, n)}" for i in range(0, n, cols)]


def first_filters_figure(filters: np.ndarray, cols: int = 10) -> go.Figure:
    """Every first-layer filter (C, k, k), numbered from 1, on one scale centred on 0."""
    cols = min(cols, len(filters))
    return tiles_figure(
        grid(filters, cols),
        hover="filter %{customdata[0]}<br>row %{customdata[3]}, col %{customdata[4]}",
        row_labels=row_labels(len(filters), cols),
        col_labels=[str(j + 1) for j in range(cols)] if len(filters) <= cols else None,
        px=18,
    )


def second_filters_figure(weights: np.ndarray) -> go.Figure:
    """(C_out, C_in, k, k): one row per second-layer filter, one column per input channel."""
    co, ci = weights.shape[:2]
    return tiles_figure(
        weights,
        hover="filter %{customdata[1]}, input channel %{customdata[2]}"
        "<br>row %{customdata[3]}, col %{customdata[4]}",
        col_labels=[f"in {j + 1}" for j in range(ci)],
        row_labels=[f"{i + 1}" for i in range(co)],
        px=7,
    )


def image_figure(image: np.ndarray, title: str = "") -> go.Figure:
    """A grayscale image with pixel values on hover."""
    fig = go.Figure(go.Heatmap(z=image, colorscale="gray", showscale=False, hoverongaps=False))
    fig.update_traces(hovertemplate="y %{y}, x %{x}<br>value %{z:.2f}<extra></extra>")
    fig.update_xaxes(visible=False, constrain="domain")
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x", constrain="domain")
    fig.update_layout(
        title=title, height=260, margin={"l": 10, "r": 10, "t": 30 if title else 10, "b": 10}
    )
    return fig


def maps_figure(maps: np.ndarray, cols: int = 10, px: int = 4) -> go.Figure:
    """Feature maps (C, h, w) in a grid; a diverging scale when they have both signs."""
    maps = maps[:MAX_MAPS]
    signed = float(np.nanmin(maps)) < 0
    cols = min(cols, len(maps))
    return tiles_figure(
        grid(maps, cols),
        hover="map %{customdata[0]}<br>y %{customdata[3]}, x %{customdata[4]}",
        centred=signed,
        colorscale=DIVERGING if signed else "Viridis",
        row_labels=row_labels(len(maps), cols),
        px=px,
    )


def vector_figure(values: np.ndarray, labels: list[str] | None = None) -> go.Figure:
    """A layer's output vector (F,) as bars, e.g. the 50 features of fc1."""
    x = labels if labels is not None else list(range(1, len(values) + 1))
    fig = go.Figure(go.Bar(x=x, y=values, marker_color=np.where(values >= 0, "#d6604d", "#4393c3")))
    fig.update_layout(height=220, margin={"l": 10, "r": 10, "t": 10, "b": 10}, bargap=0.1)
    return fig


def probabilities_figure(probs: np.ndarray, classes: tuple[str, ...]) -> go.Figure:
    """Horizontal bars of the class probabilities, the predicted class highlighted."""
    colors = ["#d62728" if i == int(probs.argmax()) else "#9ecae1" for i in range(len(probs))]
    fig = go.Figure(
        go.Bar(
            x=probs,
            y=list(classes),
            orientation="h",
            marker_color=colors,
            text=[f"{100 * p:.1f}%" for p in probs],
            textposition="outside",
            hovertemplate="%{y}: %{x:.4f}<extra></extra>",
        )
    )
    fig.update_xaxes(range=[0, 1.15], tickformat=".0%")
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_layout(height=300, margin={"l": 10, "r": 10, "t": 10, "b": 10})
    return fig


GRADIENT_SCALE = "Blues"  # magnitudes from 0: one hue
CAM_SCALE = "Inferno"  # Grad-CAM in [0, 1]: dark = no support, bright = strongest support


def saliency_figure(image: np.ndarray, s: Saliency, class_name: str) -> go.Figure:
    """The input gradient and Grad-CAM side by side, each with its colour scale; Grad-CAM is laid
    over the input (the ink shows through), the gradient drawn in its raw units."""
    titles = ["input gradient |∂ score / ∂ pixel|"]
    if s.cam is not None:
        h, w = s.cam_shape or (0, 0)
        titles.append(f"Grad-CAM ({s.cam_layer}, {h}×{w} maps upsampled)")
    fig = make_subplots(rows=1, cols=len(titles), subplot_titles=titles, horizontal_spacing=0.12)
    top = float(s.gradient.max()) or 1.0
    fig.add_trace(
        go.Heatmap(
            z=s.gradient, colorscale=GRADIENT_SCALE, zmin=0, zmax=top,
            colorbar={"x": 0.44 if s.cam is not None else 1.0, "thickness": 12,
                      "title": {"text": "score / px", "side": "right"}},
            hovertemplate="y %{y}, x %{x}<br>|gradient| %{z:.3g}<extra></extra>",
        ),
        1, 1,
    )  # fmt: skip
    if s.cam is not None:
        fig.add_trace(
            go.Heatmap(z=image, colorscale="gray", showscale=False, hoverinfo="skip"), 1, 2
        )
        fig.add_trace(
            go.Heatmap(
                z=s.cam, colorscale=CAM_SCALE, zmin=0, zmax=1, opacity=0.75,
                colorbar={"x": 1.0, "thickness": 12,
                          "title": {"text": f"support for {class_name}", "side": "right"}},
                hovertemplate="y %{y}, x %{x}<br>Grad-CAM %{z:.2f}<extra></extra>",
            ),
            1, 2,
        )  # fmt: skip
    for j in range(1, len(titles) + 1):
        axis = "" if j == 1 else str(j)
        fig.update_xaxes(visible=False, constrain="domain", row=1, col=j)
        fig.update_yaxes(
            visible=False, autorange="reversed", scaleanchor=f"x{axis}", constrain="domain",
            row=1, col=j,
        )  # fmt: skip
    fig.update_layout(height=340, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig
