"""Inspect: what a trained network learned — layers, filters, responses, activations, saliency."""

import streamlit as st

from engine import inspect as ins
from engine.data import CLASSES, ImageError, normalize
from engine.preprocess import preprocess
from ui import draw, epoch_views, resources, state
from ui import inspect_views as views

st.title("Inspect a network")
run_id, model, cfg = state.selected_model()
classes = CLASSES[cfg.dataset]
st.caption(
    f"Model **{run_id}**: {resources.describe_model(cfg)}, trained on {cfg.dataset}. "
    "Choose another model in the sidebar."
)

st.header("Layers")
st.write(
    "Each layer with the shape of its output for one 28×28 image (`None` is the batch size) and "
    "its number of learned parameters: the convolutions are small, the dense layers hold most."
)
table = ins.layer_table(model, title=run_id)
rows = [
    {"layer": r.name, "type": r.kind, "output shape": r.shape_text(), "params": r.params}
    for r in table.rows
]
st.dataframe(
    rows,
    hide_index=True,
    width="stretch",
    height=35 * (len(rows) + 1) + 3,  # every layer, no inner scrolling
    column_config={"params": st.column_config.NumberColumn(format="localized")},
)
st.write(
    f"**Total params: {table.total:,}** — trainable {table.trainable:,}, "
    f"non-trainable {table.non_trainable:,}"
)
with st.expander("As text (`python -m engine summary`)"):
    st.code(table.text(), language=None)

model = epoch_views.pick(run_id, model, cfg)  # the network after the epoch chosen there

st.header("Filters")
try:
    filters = ins.first_layer_filters(model)
except ins.NotApplicable as e:
    filters = None
    st.info(f"Filters: {e}. An MLP looks at all 784 pixels at once, not through small windows.")
if filters is not None:
    st.write(
        f"The {len(filters)} first-layer filters, each a {filters.shape[-1]}×"
        f"{filters.shape[-1]} window of weights slid over the image: red weights reward ink, "
        "blue ones penalise it, so a red band next to a blue band detects an edge. "
        f"Neighbour correlation {ins.spatial_autocorrelation(filters):.2f} "
        "(random initial filters ≈ 0; smooth, edge-like filters well above)."
    )
    st.plotly_chart(views.first_filters_figure(filters), width="stretch")
    try:
        second = ins.second_layer_filters(model)
    except ins.NotApplicable as e:
        st.caption(f"Second layer: {e}.")
    else:
        co, ci = second.shape[:2]
        with st.expander(f"Second layer: {co} filters × {ci} input channels"):
            st.write(
                "Each row is one second-layer filter: one kernel per input channel (columns), "
                "applied to the first layer's feature maps and summed."
            )
            st.plotly_chart(views.second_filters_figure(second), width="stretch")

st.header("Input")
source = st.radio("Image", ["Test image", "Upload", "Camera", "Draw"], horizontal=True)
image, label = None, None
if source == "Test image":
    test = resources.dataset(cfg.dataset)
    index = int(st.number_input("Test image #", 0, len(test.x_test) - 1, 0))
    image, label = test.x_test[index].numpy(), int(test.y_test[index])
else:
    if source == "Upload":
        file = st.file_uploader("A photo or scan of one character", type=views.IMAGE_TYPES)
    elif source == "Camera":
        file = st.camera_input("Hold one handwritten character up to the camera")
    else:  # prepared like a photo
        file = draw.pad_file("inspect_draw", hint="Draw one character with the mouse or a pen.")
    if file is None:
        st.info("Choose an image to see what the network does with it.")
        st.stop()
    try:
        pre = preprocess(file.getvalue(), name=file.name, keep_steps=True)
    except ImageError as e:
        st.error(str(e))
        st.stop()
    image = pre.image
    st.image([s for _, s in pre.steps], caption=[n for n, _ in pre.steps], width=110)

x = normalize(image, cfg)  # (1, 1, 28, 28), as in training
acts = ins.activations(model, x)
truth = f" (true label: {classes[label]})" if label is not None else ""
p = acts.probabilities[acts.predicted]
st.subheader(f"Predicted: {classes[acts.predicted]} ({100 * p:.1f}%){truth}")

if filters is not None:
    st.header("Filter responses")
    st.write(
        "The image (left) and each first-layer filter applied to it (OpenCV `filter2D`, before "
        "bias and activation): red where the filter's pattern is present, blue where its "
        "opposite is."
    )
    left, right = st.columns([1, 4])
    left.plotly_chart(views.image_figure(image, "input"), width="stretch")
    responses = ins.filter_responses(model, image, cfg)
    right.plotly_chart(views.maps_figure(responses, cols=5, px=5), width="stretch")

st.header("Activations")
st.write(
    "What every layer outputs for this image — the truncated sub-model up to that layer. "
    "Feature maps shrink and become more abstract with depth; the last layers are class scores."
)
for tab, layer in zip(st.tabs([lay.name for lay in acts.layers]), acts.layers, strict=True):
    with tab:
        v = layer.value
        st.caption(f"{layer.name} ({layer.kind}): output {' × '.join(map(str, v.shape))}")
        if v.ndim == 3:
            st.plotly_chart(views.maps_figure(v), width="stretch", key=f"act-{layer.name}")
        else:
            names = list(classes) if layer.name in ("out", "log_softmax") else None
            st.plotly_chart(views.vector_figure(v, names), width="stretch", key=f"act-{layer.name}")

st.header("Prediction")
st.write("The probability the network gives each class (softmax of its output).")
st.plotly_chart(views.probabilities_figure(acts.probabilities, classes), width="stretch")

st.header("Saliency")
maps = {"input gradient": ins.gradient_saliency(model, x)}
try:
    maps["Grad-CAM"] = ins.grad_cam(model, x)
except ins.NotApplicable as e:
    st.caption(f"Grad-CAM: {e}.")
st.write(
    f"Where the network looks when it says {classes[acts.predicted]}: the input gradient marks "
    "pixels whose change would move that score most; Grad-CAM marks the regions of the last "
    "conv layer's feature maps that support it."
)
st.plotly_chart(views.saliency_figure(image, maps), width="stretch")
