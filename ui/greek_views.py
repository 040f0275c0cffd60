"""The Greek letters page's state and pictures: the per-session sample set, thumbnails, charts."""

from __future__ import annotations

import base64
import io

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from PIL import Image

from engine.samples import (
    GREEK,
    SampleError,
    SampleSet,
    from_csv_pair,
    from_images,
    from_zip,
    synthetic_greek,
    to_csv_pair,
)
from ui import draw

SAMPLES = "greek_samples"  # this browser session's SampleSet (never shared between visitors)
DEFAULT_LETTERS = ["alpha", "beta", "gamma"]
IMAGE_TYPES = ["png", "jpg", "jpeg", "bmp", "webp", "tif", "tiff", "gif"]
PALETTE = ["#3b5bdb", "#e8590c", "#2b8a3e", "#c2255c", "#5f3dc4", "#0b7285", "#a61e4d", "#5c940d"]


def samples() -> SampleSet:
    """The session's sample set; a new visitor starts with synthetic alpha/beta/gamma."""
    if SAMPLES not in st.session_state:
        st.session_state[SAMPLES] = synthetic_greek(DEFAULT_LETTERS, per_class=9)
    return st.session_state[SAMPLES]


def replace_samples(new: SampleSet) -> None:
    st.session_state[SAMPLES] = new


def synthetic_count(s: SampleSet) -> int:
    return sum(x.name.startswith("synthetic ") for x in s.samples)


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
    xy: np.ndarray, labels: list[str], thumbs: list[np.ndarray], n_letters: int
) -> go.Figure:
    """Digits as small dots, letters as coloured markers with their 28×28 image beside them."""
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
    span = float(np.ptp(xy[:, 0]) or 1.0)
    for c in classes:
        idx = [i for i in range(n_letters) if labels[i] == c]
        fig.add_trace(
            go.Scatter(
                x=xy[idx, 0], y=xy[idx, 1], mode="markers", name=c,
                marker=dict(size=12, color=colour(classes, c), line=dict(width=1, color="white")),
                hovertemplate=f"{c}<extra></extra>",
            )
        )  # fmt: skip
    for i in range(n_letters):  # thumbnails next to the letters
        fig.add_layout_image(
            source=data_url(thumbs[i], 28), x=xy[i, 0], y=xy[i, 1], xref="x", yref="y",
            sizex=span * 0.05, sizey=span * 0.05, xanchor="left", yanchor="bottom", layer="above",
        )  # fmt: skip
    fig.update_layout(
        title="Embedding space (PCA): the letters among the digits",
        height=560,
        margin=dict(l=10, r=10, t=40, b=10),
        legend=dict(orientation="h"),
    )
    return fig


@st.cache_data(max_entries=8, show_spinner="Leave-one-out on every sample…")
def leave_one_out(emb: np.ndarray, labels: tuple[str, ...]) -> dict[str, list]:
    """Leave-one-out predictions of every method (cached: the fine-tuned head trains N times)."""
    from engine import embed

    return {m: embed.leave_one_out(m, emb, list(labels)) for m in embed.METHODS}


def distance_rows(samples: SampleSet, dist: np.ndarray) -> list[dict]:
    """One sample's SSD to every sample, nearest first, with thumbnails."""
    return [
        {
            "image": data_url(samples.samples[j].image),
            "sample": samples.samples[j].name,
            "class": samples.samples[j].label,
            "SSD": float(dist[j]),
        }
        for j in np.argsort(dist)
    ]


def query_rows(queries: SampleSet, preds: dict[str, list]) -> list[dict]:
    """The three methods' answers for each unknown letter."""
    return [
        {
            "image": data_url(s.image),
            "file": s.name,
            "nearest sample": preds["nn"][i].label,
            "least SSD": preds["nn"][i].score,
            "nearest class mean": preds["centroid"][i].label,
            "fine-tuned head": preds["finetune"][i].label,
            "head confidence": preds["finetune"][i].score,
        }
        for i, s in enumerate(queries.samples)
    ]


def sample_inputs(current: SampleSet) -> tuple[SampleSet | None, list[str]]:
    """The five ways to add samples, as tabs. Returns (what was added, messages to show); a
    failed load adds nothing, so the session's set stays as it was."""
    out: dict = {"added": None, "problems": []}

    def take(load) -> None:
        try:
            out["added"] = load()
        except SampleError as e:
            out["problems"].append(str(e))

    # A key keeps the chosen tab when a message above it comes or goes (a drawn stroke reruns).
    tabs = st.tabs(
        ["Upload images", "ZIP of folders", "CSV pair", "Camera", "Built-in letters", "Draw"],
        key="sample_tabs",
    )
    with tabs[0], st.form("add_images", clear_on_submit=True):
        label = st.text_input("Class name", placeholder="e.g. alpha")
        files = st.file_uploader(
            "Images of that class", type=IMAGE_TYPES, accept_multiple_files=True
        )
        if st.form_submit_button("Add to the set") and files:
            take(lambda: from_images([(f.name, f.getvalue()) for f in files], label))
    with tabs[1], st.form("add_zip", clear_on_submit=True):
        z = st.file_uploader(
            "A ZIP whose folders are the classes (alpha/1.png, beta/1.png, …)", type=["zip"]
        )
        if st.form_submit_button("Add the ZIP") and z:
            take(lambda: from_zip(z.getvalue(), z.name))
    with tabs[2]:
        with st.form("add_csv", clear_on_submit=True):
            c1, c2 = st.columns(2)
            data_csv = c1.file_uploader("data.csv (784 pixel values per row)", type=["csv"])
            cat_csv = c2.file_uploader("letter_cat.csv (the class of each row)", type=["csv"])
            if st.form_submit_button("Import") and data_csv and cat_csv:
                take(lambda: from_csv_pair(data_csv.getvalue(), cat_csv.getvalue()))
        d_bytes, c_bytes = to_csv_pair(current)
        e1, e2 = st.columns(2)
        e1.download_button("Export data.csv", d_bytes, "data.csv", "text/csv")
        e2.download_button("Export letter_cat.csv", c_bytes, "letter_cat.csv", "text/csv")
    with tabs[3]:
        snap_label = st.text_input("Class of the snapshot", value=(current.classes or ["alpha"])[0])
        shot = st.camera_input("Hold a letter written on paper up to the camera")
        if shot is not None and st.button("Add this snapshot"):
            take(lambda: from_images([("camera snapshot", shot.getvalue())], snap_label))
    with tabs[4], st.form("builtin"):
        st.caption("Synthetic letters rendered from this machine's fonts with random distortions.")
        letters = st.multiselect("Letters", list(GREEK), default=DEFAULT_LETTERS)
        per = st.slider("Samples per letter", 2, 30, 9)
        if st.form_submit_button("Replace the set with these") and letters:
            replace_samples(synthetic_greek(letters, per))
            st.rerun()
    with tabs[5]:  # drawn samples are prepared like photos
        if drawn := draw.labelled_drawing("greek_draw", (current.classes or ["alpha"])[0]):
            take(lambda: from_images([("drawing", drawn[1])], drawn[0]))
    return out["added"], out["problems"]
