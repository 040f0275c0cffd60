"""Runs: every training run, compared and opened; resume, cancel or delete."""

import streamlit as st

from engine import EngineError, jobs
from engine.config import DEFAULT_RUN_ID
from engine.runs import RunState, delete_run, list_runs, open_run
from ui import charts, resources, results, state

st.title("Runs")  # the sidebar (app.py) has pumped the job queue just before this page
all_runs = list_runs()
if not all_runs:
    st.info("No runs yet: start one on the Train page.")
    st.page_link("pages/train.py", label="Train a network", icon=":material/model_training:")
    st.stop()

rows = resources.run_rows(all_runs)
st.dataframe(
    rows, hide_index=True, width="stretch",
    column_config={
        "run": st.column_config.TextColumn("run", width="medium"),
        "accuracy": st.column_config.ProgressColumn(
            "test accuracy", format="%.1f%%", min_value=0, max_value=100
        )
    },
)  # fmt: skip

st.subheader("Compare")
finished = [r["run"] for r in rows if r["status"] == "complete"]
chosen = st.multiselect(
    "Runs to overlay", [r["run"] for r in rows], default=finished[:3],
    help="Their training loss and test accuracy on the same axes.",
)  # fmt: skip
if chosen:
    loss, acc = charts.overlay({rid: open_run(rid).metrics() for rid in chosen})
    c1, c2 = st.columns(2)
    c1.plotly_chart(loss, key="cmp_loss")
    c2.plotly_chart(acc, key="cmp_acc")

st.subheader("Open a run")
ids = [r["run"] for r in rows]
linked, error = state.run_from_query()
if error:
    st.error(error)
run_id = st.selectbox("Run", ids, index=ids.index(linked) if linked in ids else 0)
st.query_params[state.RUN_PARAM] = run_id
run = open_run(run_id)
run_state = run.state()

actions = st.container(horizontal=True)
if run_state in (RunState.CANCELLED, RunState.FAILED) and actions.button(
    "Resume", icon=":material/replay:"
):
    try:
        jobs.resume(run)
        st.rerun()
    except EngineError as e:
        st.error(str(e))
if run_state == RunState.COMPLETE and actions.button("Use this model", icon=":material/push_pin:"):
    st.session_state[state.SELECTED_RUN] = run.id
    st.rerun()
if run_state.is_finished() and actions.button("Delete", icon=":material/delete:"):
    st.session_state[state.CONFIRM_DELETE] = run.id
if st.session_state.get(state.CONFIRM_DELETE) == run.id:
    again = " (`make run` trains it again)" if run.id == DEFAULT_RUN_ID else ""
    st.warning(f"Delete **{run.id}** with its checkpoint and log{again}? This cannot be undone.")
    yes, no = st.columns([1, 6])
    if yes.button("Yes, delete", type="primary"):
        try:
            delete_run(run)
            del st.query_params[state.RUN_PARAM]
            st.toast(f"Deleted {run.id}")
        except EngineError as e:
            st.error(str(e))
        st.session_state.pop(state.CONFIRM_DELETE)
        st.rerun()
    if no.button("Keep it"):
        st.session_state.pop(state.CONFIRM_DELETE)
        st.rerun()

results.show(run_id, key="runs")
