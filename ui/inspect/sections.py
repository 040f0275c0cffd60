"""The Inspect page's sections: each renders part of an ``engine.nn.analysis.Analysis``, which the
page gets from its one cached call (``ui.inspect.analysis``)."""

from __future__ import annotations

import numpy as np
import streamlit as st

from engine.data.datasets import ImageError
from engine.data.preprocess import preprocess
from engine.nn import analysis as an
from engine.nn.models import SCORES
from ui.inspect.figures import (
    IMAGE_TYPES,
    first_filters_figure,
    image_figure,
    maps_figure,
    probabilities_figure,
    saliency_figure,
    second_filters_figure,
    vector_figure,
)

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


def layers_section(a: an.Analysis) -> None:
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


def filters_section(a: an.Analysis) -> None:
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


def prediction_line(a: an.Analysis, classes: tuple[str, ...], label: int | None) -> None:
    acts = a.activations
    truth = f" (true label: {classes[label]})" if label is not None else ""
    p = acts.probabilities[acts.predicted]
    st.subheader(f"Predicted: {classes[acts.predicted]} ({100 * p:.1f}%){truth}")


def responses_section(a: an.Analysis, image: np.ndarray) -> None:
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


def activations_section(a: an.Analysis, classes: tuple[str, ...]) -> None:
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


def probabilities_section(a: an.Analysis, classes: tuple[str, ...]) -> None:
    st.header("Prediction")
    st.write("The probability the network gives each class (softmax of its class scores).")
    st.plotly_chart(probabilities_figure(a.activations.probabilities, classes), width="stretch")


def saliency_section(a: an.Analysis, image: np.ndarray, classes: tuple[str, ...]) -> None:
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
