"""Session-state keys and query parameters shared by the pages (one place, no typos), and the
Train page's Start: the click sends the run, its answer is kept across redraws."""

from __future__ import annotations

import streamlit as st

from engine import EngineError
from engine.config import DEFAULT_RUN_ID
from engine.queue import jobs
from engine.runs.store import RunError, RunState, list_runs, open_run, validate_run_id

SELECTED_RUN = "selected_run"  # the model the sidebar shows and Inspect/Greek/Webcam use
TRAIN_RUN = "train_run"  # the run the Train page is attached to (live view or result)
TRAIN_INIT = "train_init"  # the Train page's widgets were filled from the URL or a preset
RUN_PARAM = "run"  # query parameter: ?run=<run id> on the Train and Runs pages
CONFIRM_DELETE = "confirm_delete"  # run id waiting for "yes, delete"
GREEK_LAYER = "greek_layer"  # the cut layer chosen on the Greek page; the Webcam's Greek mode too
START_ANSWER = "start_answer"  # (kind, text, run id or None): the Start button's last answer


def start_training(cfg, by) -> None:
    """Queue ``cfg`` for the visitor ``by``, attach the Train page to its run and keep the
    answer for ``show_start_answer``."""
    try:
        run = jobs.submit(cfg, by=by)
    except EngineError as e:  # a quota of the shared server, or a full disk
        st.session_state[START_ANSWER] = ("error", str(e), None)
    else:
        st.session_state[TRAIN_RUN] = run.id
        st.query_params[RUN_PARAM] = run.id
        st.session_state[START_ANSWER] = ("success", f"Started {run.id}", run.id)


def show_start_answer() -> None:
    """The answer to the last Start click. It is kept in the session, not drawn once: the page
    redraws itself when the queue moves (a click that sends a run moves it), and an answer
    drawn once would vanish with that redraw before anyone read it. An error stays until the
    next click; "Started" while the page shows that run and it has not finished."""
    kind, text, run_id = st.session_state.get(START_ANSWER) or (None, "", None)
    if run_id is not None and not (st.session_state.get(TRAIN_RUN) == run_id and _live(run_id)):
        st.session_state.pop(START_ANSWER, None)
    elif kind:
        getattr(st, kind)(text)


def _live(run_id: str) -> bool:
    try:
        return not open_run(run_id).state().is_finished()
    except RunError:
        return False


def complete_runs() -> list[str]:
    """Ids of the runs with a finished model, the default digit model first."""
    ids = [r.id for r in list_runs() if r.state() == RunState.COMPLETE]
    return sorted(ids, key=lambda i: i != DEFAULT_RUN_ID)


def selected_run_id() -> str | None:
    """The sidebar's model: the user's choice, else the default digit model, else the newest."""
    ids = complete_runs()
    chosen = st.session_state.get(SELECTED_RUN)
    if chosen in ids:
        return chosen
    return ids[0] if ids else None


def run_from_query() -> tuple[str | None, str | None]:
    """(run id, error message) from ``?run=``: validated, and the run must exist."""
    raw = st.query_params.get(RUN_PARAM)
    if not raw:
        return None, None
    try:
        open_run(validate_run_id(raw))
    except RunError as e:
        return None, f"The link names a run that cannot be opened: {e}"
    return raw, None


def selected_model():
    """(run id, model, config) of the sidebar's model; otherwise says what to do and stops."""
    from ui import bootstrap, resources

    run_id = selected_run_id()
    if run_id is None:
        if bootstrap.default_progress() is not None:
            st.info(
                "This page needs a trained model. The default digit model is being trained "
                "right now (this server's first start); the page continues when it is ready."
            )
            bootstrap.wait_for_default()
        else:
            st.info(
                "No trained model yet: train one on the Train page (the default digit model, "
                f"`{DEFAULT_RUN_ID}`, is trained again when the server restarts)."
            )
        st.stop()
    try:
        model, cfg = resources.model(open_run(run_id))
    except RunError as e:
        st.error(str(e))
        st.stop()
    return run_id, model, cfg
