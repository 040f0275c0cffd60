"""The Inspect page's pieces: its one cached analysis call, the input picker, one renderer per
section, and the plotly figures they draw (filters, maps, vectors, probabilities, saliency).

The page lays these out; the work is ``engine.inspect.analyse``, cached here by the model's
weights and the image, so a rerun that changes nothing recomputes nothing.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch
from plotly.subplots import make_subplots

from engine import inspect as ins
from engine.config import TrainConfig
from engine.data import ImageError
from engine.models import SCORES
from engine.preprocess import preprocess

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


def saliency_figure(image: np.ndarray, s: ins.Saliency, class_name: str) -> go.Figure:
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


# --- the analysis, cached -----------------------------------------------------------------------


def fingerprint(model: torch.nn.Module) -> str:
    """A hash of the model's weights and buffers: the cache key of everything computed from it
    (another run, another epoch's snapshot or a retrained checkpoint all change it)."""
    h = hashlib.blake2b(digest_size=16)
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


@st.cache_data(max_entries=32, show_spinner="Looking inside the network…")
def _analysis(
    key: str, title: str, image: np.ndarray | None, _model: torch.nn.Module, _cfg: TrainConfig
) -> ins.Analysis:
    return ins.analyse(_model, _cfg, image, title)


def analysis(
    model: torch.nn.Module, cfg: TrainConfig, image: np.ndarray | None, title: str
) -> ins.Analysis:
    """``engine.inspect.analyse``, cached by the model's weights, its config and the image."""
    key = fingerprint(model) + json.dumps(cfg.to_dict(), sort_keys=True)
    return _analysis(key, title, image, model, cfg)


# --- the sections -------------------------------------------------------------------------------


def pick_input(test_images, draw_pad) -> tuple[np.ndarray | None, int | None]:
    """The input radio and its widget: (uint8 image (28, 28) or None, true label or None).

    ``test_images``: the dataset (its test split); ``draw_pad``: a function returning the
    drawing pad's file (or None). A photo's preprocessing steps are shown."""
    source = st.radio("Image", ["Test image", "Upload", "Camera", "Draw"], horizontal=True)
    if source == "Test image":
        index = int(st.number_input("Test image #", 0, len(test_images.x_test) - 1, 0))
        return test_images.x_test[index].numpy(), int(test_images.y_test[index])
    if source == "Upload":
        file = st.file_uploader("A photo or scan of one character", type=IMAGE_TYPES)
    elif source == "Camera":
        file = st.camera_input("Hold one handwritten character up to the camera")
    else:  # prepared like a photo
        file = draw_pad()
    if file is None:
        return None, None
    try:
        pre = preprocess(file.getvalue(), name=file.name, keep_steps=True)
    except ImageError as e:
        st.error(str(e))
        return None, None
    st.image([s for _, s in pre.steps], caption=[n for n, _ in pre.steps], width=110)
    return pre.image, None


def layers_section(a: ins.Analysis) -> None:
    st.header("Layers")
    st.write(
        "Each layer with the shape of its output for one 28×28 image (`None` is the batch size) "
        "and its number of learned parameters: the convolutions are small, the dense layers "
        "hold most."
    )
    t = a.table
    rows = [
        {"layer": r.name, "type": r.kind, "output shape": r.shape_text(), "params": r.params}
        for r in t.rows
    ]
    st.dataframe(
        rows,
        hide_index=True,
        width="stretch",
        height=35 * (len(rows) + 1) + 3,  # every layer, no inner scrolling
        column_config={"params": st.column_config.NumberColumn(format="localized")},
    )
    st.write(
        f"**Total params: {t.total:,}** — trainable {t.trainable:,}, "
        f"non-trainable {t.non_trainable:,}"
    )
    with st.expander("As text (`python -m engine summary`)"):
        st.code(t.text(), language=None)


def filters_section(a: ins.Analysis) -> None:
    st.header("Filters")
    if a.filters is None:
        st.info(
            f"Filters: {a.no_filters}. An MLP looks at all 784 pixels at once, not through "
            "small windows."
        )
        return
    k = a.filters.shape[-1]
    st.write(
        f"The {len(a.filters)} first-layer filters, each a {k}×{k} window of weights slid over "
        "the image: red weights reward ink, blue ones penalise it, so a red band next to a blue "
        f"band detects an edge. Neighbour correlation {a.smoothness:.2f} "
        "(random initial filters ≈ 0; smooth, edge-like filters well above)."
    )
    st.plotly_chart(first_filters_figure(a.filters), width="stretch")
    if a.second is None:
        st.caption(f"Second layer: {a.no_second}.")
        return
    co, ci = a.second.shape[:2]
    with st.expander(f"Second layer: {co} filters × {ci} input channels"):
        st.write(
            "Each row is one second-layer filter: one kernel per input channel (columns), "
            "applied to the first layer's feature maps and summed."
        )
        st.plotly_chart(second_filters_figure(a.second), width="stretch")


def prediction_line(a: ins.Analysis, classes: tuple[str, ...], label: int | None) -> None:
    acts = a.activations
    truth = f" (true label: {classes[label]})" if label is not None else ""
    p = acts.probabilities[acts.predicted]
    st.subheader(f"Predicted: {classes[acts.predicted]} ({100 * p:.1f}%){truth}")


def responses_section(a: ins.Analysis, image: np.ndarray) -> None:
    if a.responses is None:
        return
    st.header("Filter responses")
    st.write(
        "The image (left) and each first-layer filter applied to it (OpenCV `filter2D`, before "
        "bias and activation): red where the filter's pattern is present, blue where its "
        "opposite is."
    )
    left, right = st.columns([1, 4])
    left.plotly_chart(image_figure(image, "input"), width="stretch")
    right.plotly_chart(maps_figure(a.responses, cols=5, px=5), width="stretch")


def activations_section(a: ins.Analysis, classes: tuple[str, ...]) -> None:
    st.header("Activations")
    st.write(
        "What every layer outputs for this image — the truncated sub-model up to that layer. "
        "Feature maps shrink and become more abstract with depth; the last layers are class "
        "scores."
    )
    layers = a.activations.layers
    for tab, layer in zip(st.tabs([lay.name for lay in layers]), layers, strict=True):
        with tab:
            v = layer.value
            st.caption(f"{layer.name} ({layer.kind}): output {' × '.join(map(str, v.shape))}")
            key = f"act-{layer.name}"
            if v.ndim == 3:
                st.plotly_chart(maps_figure(v), width="stretch", key=key)
            else:
                scores = layer.name == SCORES or layer is layers[-1]
                names = list(classes) if scores and len(v) == len(classes) else None
                st.plotly_chart(vector_figure(v, names), width="stretch", key=key)


def probabilities_section(a: ins.Analysis, classes: tuple[str, ...]) -> None:
    st.header("Prediction")
    st.write("The probability the network gives each class (softmax of its class scores).")
    st.plotly_chart(probabilities_figure(a.activations.probabilities, classes), width="stretch")


def saliency_section(a: ins.Analysis, image: np.ndarray, classes: tuple[str, ...]) -> None:
    st.header("Saliency")
    s = a.saliency
    name = classes[s.target]
    if s.cam is None:
        st.caption(
            "Grad-CAM: not applicable: this model has no conv layers; Grad-CAM needs feature "
            "maps, see the input gradient."
        )
    st.write(
        f"Where the network looks when it says **{name}**. The input gradient (left, in the "
        f"class score's units per pixel) marks the pixels whose change would move the score "
        f"of {name} most. Grad-CAM (right, 0 to 1 per image) marks the regions whose feature "
        f"maps support {name}: each position of the maps weighted by the gradient of the "
        "class score (its logit, which does not saturate like a probability), rectified and "
        "smoothly upsampled to the image."
    )
    st.plotly_chart(saliency_figure(image, s, name), width="stretch")
