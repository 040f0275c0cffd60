"""Greek letters: reuse a digit network's embedding space to recognise letters from few samples."""

import numpy as np
import streamlit as st

from engine import embed
from engine.samples import from_images
from ui import charts, resources, state
from ui import greek_views as gv

st.title("Greek letters from a few samples")
st.write(
    "A network trained on digits turns any 28×28 image into a vector (its *embedding*). Letters "
    "that look alike get nearby vectors, so a handful of samples per letter is enough to "
    "recognise new ones: by the nearest sample, the nearest class mean, or a new last layer."
)
run_id, model, cfg = state.selected_model()

# --- the sample set (per browser session) ---------------------------------------------------------
st.header("1. Samples")
current = gv.samples()
added, problems = gv.sample_inputs(current)

if added is not None:
    problems += added.skipped
    if added.samples:
        gv.replace_samples(current.merged(type(current)(added.samples)))
        st.success(f"Added {len(added)} sample(s).")
        current = gv.samples()
for p in problems:
    st.warning(p)

if n_syn := gv.synthetic_count(current):
    st.info(
        f"{n_syn} of these samples are **synthetic**: rendered from fonts with random distortions, "
        "not handwriting. Add your own, or remove them below."
    )
counts = ", ".join(f"{c}: {n}" for c, n in current.counts().items())
st.write(f"**{len(current)} samples** — {counts or 'none'}")
show_raw = st.toggle("Show each original beside its 28×28 version", value=False)
for c in current.classes:
    items = [s for s in current.samples if s.label == c]
    imgs = [
        x
        for s in items
        for x in ((s.raw, s.image) if show_raw and s.raw is not None else (s.image,))
    ]
    st.image(imgs, width=56, caption=None)
    st.caption(c)
with st.expander("Remove samples"):
    names = [f"{i}: {s.label} — {s.name}" for i, s in enumerate(current.samples)]
    drop = st.multiselect("Samples to remove", names)
    b1, b2 = st.columns(2)
    if b1.button("Remove selected", disabled=not drop):
        keep = [s for i, s in enumerate(current.samples) if names[i] not in drop]
        gv.replace_samples(type(current)(keep))
        st.rerun()
    if b2.button("Remove all samples", type="secondary"):
        gv.replace_samples(type(current)())
        st.rerun()
if len(current.classes) < 2:
    st.warning("Add samples of at least two classes to compare and classify.")
    st.stop()

# --- embeddings and distances -----------------------------------------------------------------
st.header("2. Distances in the embedding space")
layers = model.layer_names[: model.layer_names.index("out") + 1]
layer = st.selectbox(
    "Cut the network at layer", layers, index=layers.index(model.embedding_layer())
)
emb = embed.embed(model, current.images, cfg, layer)
labels = current.labels
d = embed.ssd(emb, emb)
st.caption(f"Each sample becomes a vector of {emb.shape[1]} numbers (layer `{layer}`).")

pick = st.selectbox(
    "Distances from sample",
    range(len(current)),
    format_func=lambda i: f"{i}: {labels[i]} — {current.samples[i].name}",
)
order = np.argsort(d[pick])
st.dataframe(
    gv.distance_rows(current, d[pick]),
    column_config={"image": st.column_config.ImageColumn("image", width="small")},
    hide_index=True,
    width="stretch",
    height=300,
)
with st.expander("As the seed printed it"):
    st.code(
        "below are the distances of the first embedding from the rest of the embeddings\n"
        + "\n".join(str(np.float32(v)) for v in d[pick]),
        language=None,
    )
by_class = np.argsort(labels, kind="stable")
names = [f"{labels[i]} {i}" for i in by_class]
left, right = st.columns([3, 2])
left.plotly_chart(
    gv.heatmap(d[np.ix_(by_class, by_class)], names, "SSD between every pair (ordered by class)"),
    width="stretch",
)
classes, means = embed.class_mean_distances(d, labels)
right.write("**Mean SSD between classes** (small on the diagonal = the classes are tight)")
right.dataframe(
    {"class": classes, **{c: means[:, k].round(1) for k, c in enumerate(classes)}}, hide_index=True
)

# --- classification ---------------------------------------------------------------------------
st.header("3. Recognise")
head = embed.finetune_head(emb, labels)  # the new last layer, trained on these samples
queries = st.file_uploader(
    "Unknown letters to recognise", type=gv.IMAGE_TYPES, accept_multiple_files=True
)
if queries:
    q = from_images([(f.name, f.getvalue()) for f in queries], "unknown")
    for msg in q.skipped:
        st.warning(msg)
    if q.samples:
        q_emb = embed.embed(model, q.images, cfg, layer)
        preds = {m: embed.classify(m, emb, labels, q_emb) for m in ("nn", "centroid")}
        preds["finetune"] = head.predict(q_emb)
        st.dataframe(
            gv.query_rows(q, preds),
            column_config={"image": st.column_config.ImageColumn("image", width="small")},
            hide_index=True,
            width="stretch",
        )
        lines = [f"{p.line()}  ({s.name})" for p, s in zip(preds["nn"], q.samples)]
        st.code("\n".join(lines), language=None)

st.subheader("How well does each method do on this set?")
st.caption("Leave-one-out: every sample is classified using all the others as the samples.")
loo = gv.leave_one_out(emb, tuple(labels))
cols = st.columns(3)
titles = {
    "nn": "Nearest neighbour",
    "centroid": "Nearest class mean",
    "finetune": "Fine-tuned head",
}
for col, m in zip(cols, embed.METHODS):
    acc = embed.accuracy(loo[m], labels)
    col.metric(
        titles[m],
        f"{100 * acc:.0f}%",
        help=f"{sum(p.label == t for p, t in zip(loo[m], labels))} of {len(labels)} right",
    )
    col.plotly_chart(
        charts.confusion(
            embed.confusion(loo[m], labels, current.classes), current.classes, titles[m], 320
        ),
        width="stretch",
        key=f"cm_{m}",
    )
fit = embed.accuracy(head.predict(emb), labels)
st.write(
    f"The fine-tuned head (a new {emb.shape[1]}→{len(current.classes)} layer on the frozen "
    "network) "
    f"fits the samples {100 * fit:.0f}%"
    + (f", reaching 100% after {head.epochs_to_100} epochs." if head.epochs_to_100 else ".")
)
st.plotly_chart(gv.loss_curve(head.losses, head.epochs_to_100), width="stretch")

# --- map ------------------------------------------------------------------------------------------
st.header("4. Map of the embedding space")
digits = resources.dataset(cfg.dataset)
n_digits = 300
d_emb = embed.embed(model, digits.x_test[:n_digits].numpy(), cfg, layer)
xy = embed.pca_2d(np.concatenate([emb, d_emb]))
digit_names = [digits.classes[int(k)] for k in digits.y_test[:n_digits]]
st.plotly_chart(
    gv.embedding_map(xy, labels + digit_names, [s.image for s in current.samples], len(labels)),
    width="stretch",
)
st.caption(
    f"The letters and {n_digits} test {cfg.dataset} images, projected on the two directions of "
    "greatest spread."
)
