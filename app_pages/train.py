"""Train: settings → parameter count and time estimate → background job → live view → results."""

import streamlit as st

from engine import EngineError, jobs
from engine.models import param_count
from ui import forms, resources, results, state

bad = forms.init_from_url()
st.title("Train a network")
st.caption(
    "Pick a preset or move the sliders, then start: training runs in the background, so you can "
    "watch it here, leave, or come back later. The page's URL holds every setting: share it."
)
if bad:
    st.warning(f"Ignored settings in the link that are not valid: {', '.join(bad)}")

forms.controls()
values = forms.current()
forms.to_url(values)
info = resources.dataset_status().get(values["dataset"], {})
n_train, n_test = info.get("n_train") or 60000, info.get("n_test") or 10000
cfg = forms.config_of(values, n_train)

with st.container(border=True):
    try:
        cfg.validate()
        params = param_count(cfg.model)
    except EngineError as e:
        st.error(f"These settings cannot be trained: {e}")
    else:
        n = min(cfg.limit_train or n_train, n_train)
        eta = jobs.estimate_seconds(cfg, n_train, n_test)
        c = st.columns([1, 1, 1, 2], vertical_alignment="center")
        c[0].metric("Parameters", f"{params:,}")
        c[1].metric("Training examples", f"{n:,} × {cfg.epochs}")
        c[2].metric("Estimated time", f"~{results.duration(eta)}", help="rough, on this CPU")
        if c[3].button(
            "Start training", type="primary", icon=":material/play_arrow:", width="stretch"
        ):
            run = jobs.submit(cfg)
            st.session_state[state.TRAIN_RUN] = run.id
            st.query_params[state.RUN_PARAM] = run.id
            st.toast(f"Started {run.id}")

run_id, error = state.run_from_query()
if error:
    st.error(error)
run_id = run_id or st.session_state.get(state.TRAIN_RUN)
if run_id:
    st.session_state[state.TRAIN_RUN] = run_id
    results.show(run_id, key="train")
