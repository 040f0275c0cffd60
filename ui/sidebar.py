"""The shared sidebar: the selected model, the job queue and the datasets in use."""

from __future__ import annotations

import streamlit as st

from engine.runs import hosting
from engine.runs.store import runs_dir
from ui import resources, state, visitor


def render() -> None:
    me = visitor.current()
    if hosting.public():
        hosting.touch(runs_dir(), me.id)  # the visitor's files expire when they are idle long
    with st.sidebar:
        # One fixed slot per part that shows or not: Streamlit matches a rerun's elements to the
        # last run's by place, and one that moved left its old copy greyed out until the run
        # ended (a second "Datasets" expander once the default model was ready).
        with st.container():
            visitor.keep_cookie()
        with st.container():
            _model()
        with st.container():
            resources.queue_caption()
        with st.expander("Datasets", expanded=False):
            for name, info in resources.dataset_status().items():
                if info.get("source") is None:
                    st.caption(f"**{name}**: not prepared")
                else:
                    subset = " (offline 10k subset)" if info.get("subset") else ""
                    st.caption(
                        f"**{name}**: {info['n_train']:,} / {info['n_test']:,}{subset} — "
                        f"{info['source']}"
                    )
        visitor.admin_panel()


def _model() -> None:
    """The model the pages use, or why there is none yet."""
    ids = state.complete_runs()
    if ids:
        if st.session_state.get(state.SELECTED_RUN) not in ids:  # first visit, or deleted
            st.session_state[state.SELECTED_RUN] = state.selected_run_id()
        st.selectbox(
            "Model", ids, key=state.SELECTED_RUN,
            help="The trained run the Inspect and recognition pages use.",
        )  # fmt: skip
    else:
        from ui import bootstrap

        if bootstrap.default_progress() is not None:
            st.caption("The default digit model is being trained (first start).")
        else:
            st.caption("No trained model yet: train one on the Train page.")
