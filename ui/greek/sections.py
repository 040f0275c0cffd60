"""The Greek letters page's sections: each renders part of an ``Analysis`` (no model, no
training here; the costly work is cached in ``ui.greek.analysis``)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from engine.fewshot import embed
from engine.fewshot.samples import SampleSet
from ui.greek import analysis as ga
from ui.greek import figures as gc
from ui.greek import inputs as gv
from ui.run import figures as run_figures

TITLES = {
    "nn": "Nearest neighbour",
    "centroid": "Nearest class mean",
    "finetune": "Fine-tuned head",
}
IMAGE = {"image": st.column_config.ImageColumn("image", width="small")}


def sample_gallery(current: SampleSet) -> None:
    """The set, class by class, and the panel to remove samples."""
    if n_syn := gv.synthetic_count(current):
        st.info(
            f"{n_syn} of these samples are **synthetic**: rendered from fonts with random "
            "distortions, not handwriting. Add your own, or remove them below."
        )
    counts = ", ".join(f"{c}: {n}" for c, n in current.counts().items())
    st.write(f"**{len(current)} samples** — {counts or 'none'}")
    show_raw = st.toggle("Show each original beside its 28×28 version", value=False)
    pics, raws = ga.thumbnails(current), ga.thumbnails(current, originals=True) if show_raw else ()
    for c in current.classes:
        idx = [i for i, s in enumerate(current.samples) if s.label == c]
        st.image(
            [x for i in idx for x in ((raws[i], pics[i]) if show_raw and raws[i] else (pics[i],))],
            width=56,
        )
        st.caption(c)
    with st.expander("Remove samples", key="greek_remove_panel", on_change="rerun"):
        _remove_panel(current)


def _remove_panel(current: SampleSet) -> None:
    drop = st.multiselect(
        "Samples to remove", range(len(current)), key="greek_remove_pick",
        format_func=lambda i: f"{i}: {current.samples[i].label} — {current.samples[i].name}",
    )  # fmt: skip
    b1, b2 = st.columns(2)
    if b1.button("Remove selected", disabled=not drop):
        keep = [s for i, s in enumerate(current.samples) if i not in set(drop)]
        if gv.replace_samples(SampleSet(keep)):
            st.session_state.pop("greek_remove_pick", None)
            gv.flash("success", f"Removed {len(drop)} sample(s).")
            st.rerun()
    if not st.session_state.get(gv.CONFIRM_CLEAR):
        if b2.button("Remove all samples", disabled=not len(current)):
            st.session_state[gv.CONFIRM_CLEAR] = True
            st.rerun()
        return
    st.warning(f"Remove all {len(current)} samples? Download them first to keep a copy.")
    c1, c2 = st.columns(2)
    if c1.button("Yes, remove all", type="primary"):
        st.session_state.pop(gv.CONFIRM_CLEAR, None)
        if gv.replace_samples(SampleSet()):
            gv.flash("success", f"Removed all {len(current)} samples.")
        st.rerun()
    if c2.button("Keep them"):
        st.session_state.pop(gv.CONFIRM_CLEAR, None)
        st.rerun()


@st.cache_resource(max_entries=32, ttl=ga.TTL, show_spinner=False)
def _figures(key: str, _a: ga.Analysis) -> dict[str, go.Figure]:
    """The charts of one analysis, built once (a plotly figure takes tens of ms to build; Streamlit
    copies it to send it, never changes it)."""
    a, labels = _a, list(_a.labels)
    by_class = np.argsort(a.labels, kind="stable")
    names = [f"{a.labels[i]} {i}" for i in by_class]
    figs = {
        "heatmap": gc.heatmap(a.dist[np.ix_(by_class, by_class)], names,
                              "SSD between every pair (ordered by class)"),
        "loss": gc.loss_curve(a.head.losses, a.head.epochs_to_100),
        "map": gc.embedding_map(a.map_xy, labels + list(a.map_digits),
                                list(a.names) + [f"digit {d}" for d in a.map_digits],
                                {i: a.thumbs[i] for i in a.typical}, len(labels)),
    }  # fmt: skip
    for m in embed.METHODS:
        cm = embed.confusion(list(a.loo[m]), labels, list(a.classes))
        figs[m] = run_figures.confusion(cm, a.classes, TITLES[m], 320)
    return figs


@st.cache_resource(max_entries=64, ttl=ga.TTL, show_spinner=False)
def _scored(key: str, threshold: float | None, _a: ga.Analysis):
    """The queries' answers at ``threshold``, their scores and confusion matrices (cached)."""
    said = ga.answers(_a.queries, threshold)
    if not _a.queries.scored:
        return said, {}, {}
    acc, names, cms = ga.scores(_a.queries, said)
    return said, acc, {m: run_figures.confusion(cms[m], names, TITLES[m], 320) for m in cms}


def distances(a: ga.Analysis) -> None:
    st.caption(f"Each sample becomes a vector of {a.dim} numbers (layer `{a.layer}`).")
    pick = st.selectbox(
        "Distances from sample", range(len(a.labels)),
        format_func=lambda i: f"{i}: {a.labels[i]} — {a.names[i]}",
    )  # fmt: skip
    row = a.dist[pick]
    st.dataframe(
        [
            {"image": a.thumbs[j], "sample": a.names[j], "class": a.labels[j], "SSD": float(row[j])}
            for j in np.argsort(row)
        ],
        column_config=IMAGE, hide_index=True, width="stretch", height=300,
    )  # fmt: skip
    with st.expander("As the seed printed it"):
        st.code(
            "below are the distances of the first embedding from the rest of the embeddings\n"
            + "\n".join(str(np.float32(v)) for v in row),
            language=None,
        )
    left, right = st.columns([3, 2])
    left.plotly_chart(_figures(a.key, a)["heatmap"], width="stretch")
    right.write("**Mean SSD between classes** (small on the diagonal = the classes are tight)")
    right.dataframe(
        {"class": a.classes, **{c: a.class_means[:, k].round(1) for k, c in enumerate(a.classes)}},
        hide_index=True,
    )


def recognise(a: ga.Analysis, threshold: float | None) -> None:
    """Every method's answer for each query; with classes given, accuracy and confusions."""
    q = a.queries
    if q is None:
        st.caption("Add letters above to see what each method answers.")
        return
    said, acc, figs = _scored(a.key, threshold, a)
    scored = set(q.scored)
    if q.orphans:
        _orphans(q, said["nn"] if threshold is not None else None)

    def cell(m: str, i: int) -> str:
        label = said[m][i].label
        if m == "nn" and label != ga.UNKNOWN and q.margin[i] < embed.NOT_SURE_MARGIN:
            label = f"{label} (not sure)"
        mark = "✓" if said[m][i].label == q.truth[i] else "✗"
        return f"{label} {mark}" if i in scored else label

    rows = [
        {"image": q.thumbs[i], "file": q.names[i], "class given": q.truth[i] or "—",
         "nearest sample": cell("nn", i), "least SSD": float(q.least[i]),
         "nearest class mean": cell("centroid", i), "fine-tuned head": cell("finetune", i),
         "head confidence": said["finetune"][i].score}
        for i in range(len(q.names))
    ]  # fmt: skip
    if scored:
        st.write(f"**Scored on the {len(scored)} queries with a class that has samples**")
        for col, m in zip(st.columns(3), embed.METHODS):
            right = round(acc[m] * len(scored))
            col.metric(TITLES[m], f"{100 * acc[m]:.0f}%", help=f"{right} of {len(scored)} right")
            col.plotly_chart(figs[m], width="stretch", key=f"q_cm_{m}")
    st.dataframe(rows, column_config=IMAGE, hide_index=True, width="stretch")
    if unsure := int((q.margin < embed.NOT_SURE_MARGIN).sum()):
        st.caption(
            f'"not sure" ({unsure}): the nearest sample\'s class wins by less than '
            f"{100 * embed.NOT_SURE_MARGIN:.0f}% of the distance to the next class; on held-out "
            "letters such answers were right only about half the time. More samples help."
        )
    st.caption("As the seed printed it (nearest neighbour, one line per query in table order):")
    st.code("\n".join(p.line() for p in said["nn"]), language=None)


def _orphans(q: ga.Queries, nn: list | None) -> None:
    """Say which queries name a class with no samples (left out of the score), with a button
    that removes them; ``nn``: the answers with "unknown" on, to say how many said it."""
    idx = q.orphans
    missing = ", ".join(f"{c}: {n}" for c, n in Counter(q.truth[i] for i in idx).items())
    st.warning(
        f"{len(idx)} of the queries are of classes with no samples ({missing}): no method can "
        "name them, so they are left out of the score. Add samples of these classes, or clear "
        "these queries."
    )
    if nn is not None:
        said = sum(nn[i].label == ga.UNKNOWN for i in idx)
        st.caption(f"{said} of these {len(idx)} were answered “unknown”.")
    if st.button(f"Clear these {len(idx)} queries", key="greek_clear_orphans"):
        gone = set(idx)
        current = gv.queries()
        keep = [s for i, s in enumerate(current.samples) if i not in gone]
        if gv.replace_queries(SampleSet(keep)):
            gv.flash("success", f"Removed the {len(gone)} queries of classes with no samples.",
                     "queries")  # fmt: skip
            st.rerun()


def methods(a: ga.Analysis) -> None:
    st.caption("Leave-one-out: every sample is classified using all the others as the samples.")
    labels, figs = list(a.labels), _figures(a.key, a)
    right = {m: sum(p.label == t for p, t in zip(a.loo[m], labels)) for m in embed.METHODS}
    for col, m in zip(st.columns(3), embed.METHODS):
        col.metric(TITLES[m], f"{100 * right[m] / len(labels):.0f}%",
                   help=f"{right[m]} of {len(labels)} right")  # fmt: skip
        col.plotly_chart(figs[m], width="stretch", key=f"cm_{m}")
    st.write(_ranking(right, len(labels)))
    h, held = a.head_settings, a.loo["finetune"]
    sure = 100 * float(np.mean([p.score for p in held]))
    st.write(
        f"The fine-tuned head (a new {a.dim}→{len(a.classes)} cosine layer on the frozen network, "
        f"started at the class means, {h.epochs} epochs at learning rate {h.lr:g}) is right on "
        f"{right['finetune']} of {len(labels)} samples "
        f"({100 * right['finetune'] / len(labels):.0f}%) on leave-one-out, where it was "
        f"{sure:.0f}% sure on average. Its confidence is softmax({a.head.scale:g} × cosine), a "
        "scale measured with the default epochs and learning rate on digits and letters by "
        "other writers and fonts, where its confidence matched how often it was right to within "
        "a few points."
    )
    st.plotly_chart(figs["loss"], width="stretch")


def _ranking(right: dict[str, int], n: int) -> str:
    """The methods best first by leave-one-out, and which to trust (a tie: the first of them in
    METHODS, the page's order, nearest neighbour first)."""
    order = sorted(embed.METHODS, key=lambda m: (-right[m], embed.METHODS.index(m)))
    ranks = ", then ".join(f"{TITLES[m].lower()} ({right[m]} of {n})" for m in order)
    tied = [TITLES[m].lower() for m in order[1:] if right[m] == right[order[0]]]
    tie = f" (tied with {' and '.join(tied)})" if tied else ""
    return f"By leave-one-out on these samples: {ranks}. **Trust {TITLES[order[0]].lower()}**{tie}."


def embedding_map(a: ga.Analysis, dataset: str) -> None:
    st.plotly_chart(_figures(a.key, a)["map"], width="stretch")
    st.caption(
        f"The letters and {len(a.map_digits)} test {dataset} images, projected on the two "
        "directions of greatest spread. One typical sample per class shows its picture; hover "
        "a marker for its name."
    )
