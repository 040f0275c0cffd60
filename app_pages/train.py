"""Train: settings → parameter count and time estimate → background job → live view → results."""

import streamlit as st

from engine import EngineError
from engine.nn.models import param_count
from engine.training import estimate
from ui import resources, state, visitor
from ui.run import sections
from ui.train import forms, inputs

bad = forms.init_from_url()
st.title("Train a network")
st.caption(
    "Pick a preset or move the sliders, then start: training runs in the background, so you can "
    "watch it here, leave, or come back later. The page's URL holds every setting: share it."
)
if bad:
    st.warning(f"Ignored settings in the link that are not valid: {', '.join(bad)}")

inputs.controls()
values = forms.current()
forms.to_url(values)
info = resources.dataset_info(values["dataset"])  # what a training loads: sizes and source
n_train = info.n_train if info else None

with st.container(border=True):
    row = st.container(horizontal=True, vertical_alignment="center", gap="medium")
    try:
        cfg = forms.config_of(values, n_train)
    except EngineError as e:
        cfg, problem, fix = None, str(e), forms.suggest_fix(values, n_train)
    else:
        problem, fix = None, None
        ratios = resources.speed_ratios()
        examples, time_range = "—", "—"  # while the dataset is not prepared: no invented count
        if info:
            lo, hi = estimate.estimate_range(cfg, info.n_train, info.n_test, ratios)
            examples = f"{estimate.examples_per_epoch(cfg, info.n_train):,} × {cfg.epochs}"
            time_range = f"{sections.duration(lo)} – {sections.duration(hi)}"
        row.metric("Parameters", f"{param_count(cfg.model):,}", width="content")
        row.metric("Training examples", examples, width="content", help="images × epochs")
        row.metric(
            "Estimated time", time_range, width="content",
            help=f"Scaled by the measured speed of {len(ratios)} finished runs on this machine"
            if len(ratios) >= estimate.MIN_SAMPLES
            else "Rough, from the network's size: it narrows once a few runs finished here.",
        )  # fmt: skip
    start = row.button(
        "Start training", type="primary", icon=":material/play_arrow:", width="stretch",
        disabled=problem is not None, help=problem and f"Cannot start: {problem}",
    )  # fmt: skip
    label = forms.DATASET_LABELS[values["dataset"]]
    if info is None:
        st.info(
            f"{label}: not prepared on this server yet (a new server prepares it in the "
            "background; `python -m engine data prepare` does it by hand). Its counts and the time "
            "estimate show once it is ready; a training started now prepares it first."
        )
    else:
        subset = " — the offline 10k subset of MNIST, not the full 70k" if info.subset else ""
        st.caption(
            f"{label}: {info.n_train:,} training and {info.n_test:,} test images, from "
            f"{info.source} ({info.split}){subset}."
        )
    if problem:
        st.error(f"These settings cannot be trained: {problem}")
        if fix:
            st.button(
                f"Fix: {fix[0]}", icon=":material/build:", on_click=forms.apply_values,
                args=(fix[1],),
            )  # fmt: skip
    if start and cfg:
        state.start_training(cfg, visitor.current())
    state.show_start_answer()

run_id, error = state.run_from_query()
if error:
    st.error(error)
run_id = run_id or st.session_state.get(state.TRAIN_RUN)
if run_id:
    st.session_state[state.TRAIN_RUN] = run_id
    st.subheader(f"Run {run_id}", divider=True)
    if changes := forms.run_differences(run_id, values):
        st.caption(f"This run's own settings differ from those above: {', '.join(changes)}.")
    sections.show(run_id, key="train")
