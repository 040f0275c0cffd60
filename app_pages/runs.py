"""Runs: every training run, compared and opened; resume, cancel or delete."""

import streamlit as st

from engine import EngineError
from engine.config import DEFAULT_RUN_ID
from engine.queue import jobs
from engine.runs import hosting
from engine.runs.store import RunState, delete_run, list_runs, open_run
from ui import state, visitor
from ui.run import sections as run_sections
from ui.runs import sections as runs_sections

st.title("Runs")
all_runs = list_runs()
if not all_runs:
    st.info("No runs yet: start one on the Train page.")
    st.page_link("app_pages/train.py", label="Train a network", icon=":material/model_training:")
    st.stop()

rows = runs_sections.filtered_rows(all_runs)  # by dataset; sweep trials hidden unless asked
runs_sections.table(rows)
runs_sections.compare(rows)

st.subheader("Open a run")
ids = [r["run"] for r in rows] or [r.id for r in all_runs]
linked, error = state.run_from_query()
if error:
    st.error(error)
if linked and linked not in ids:  # a link to a run the filters hide still opens it
    ids.insert(0, linked)
run_id = st.selectbox("Run", ids, index=ids.index(linked) if linked in ids else 0)
st.query_params[state.RUN_PARAM] = run_id
run = open_run(run_id)
run_state = run.state()

me = visitor.current()
mine = hosting.may_change(run.status(), me)  # hosted mode: only the owner or the admin
actions = st.container(horizontal=True)
if (
    mine
    and run_state in (RunState.CANCELLED, RunState.FAILED)
    and actions.button("Resume", icon=":material/replay:")
):
    try:
        jobs.resume(run, by=me)
        st.rerun()
    except EngineError as e:
        st.error(str(e))
if run_state == RunState.COMPLETE and actions.button("Use this model", icon=":material/push_pin:"):
    st.session_state[state.SELECTED_RUN] = run.id
    st.rerun()
if mine and run_state.is_finished() and actions.button("Delete", icon=":material/delete:"):
    st.session_state[state.CONFIRM_DELETE] = run.id
if not mine and run_state.is_finished():
    st.caption("Started by another visitor: only they or the admin can resume or delete it.")
if st.session_state.get(state.CONFIRM_DELETE) == run.id:
    again = " (`make run` trains it again)" if run.id == DEFAULT_RUN_ID else ""
    st.warning(f"Delete **{run.id}** with its checkpoint and log{again}? This cannot be undone.")
    yes, no = st.columns([1, 6])
    if yes.button("Yes, delete", type="primary"):
        try:
            delete_run(run, by=me)
            del st.query_params[state.RUN_PARAM]
            st.toast(f"Deleted {run.id}")
        except EngineError as e:
            st.error(str(e))
        st.session_state.pop(state.CONFIRM_DELETE)
        st.rerun()
    if no.button("Keep it"):
        st.session_state.pop(state.CONFIRM_DELETE)
        st.rerun()

resume = "The Resume button above continues it from its last finished epoch." if mine else ""
run_sections.show(run_id, key="runs", resume_hint=resume)
