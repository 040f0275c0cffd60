"""A fresh host's first start: the datasets and the default digit model, as background work.

Nothing here blocks a page: the default model is an ordinary task of the queue
(``engine.queue.jobs``), run by the embedded worker this module starts once per server (or by the
workers of a broker), and the datasets it does not need are prepared by a detached
``python -m engine data prepare``. Home shows the progress; pages that need a model wait for it
(``wait_for_default``).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from engine.config import DEFAULT_RUN_ID
from engine.data import datasets
from engine.queue import jobs, taskq
from engine.runs import procs
from engine.runs.store import RunError, RunState, open_run, runs_dir
from engine.settings import current as settings


@st.cache_resource(show_spinner=False)
def _prepare_datasets(runs_root: str) -> None:
    """Once per server: prepare every dataset not prepared yet, in a detached process."""
    if any(info.get("source") is None for info in datasets.status().values()):
        runs_dir().mkdir(parents=True, exist_ok=True)
        env = procs.worker_env(1, runs_dir())
        procs.spawn(["data", "prepare"], env, log=runs_dir() / ".data-prepare.log")


AUTO_ENV = "ENGINE_FIRST_START"  # 0: a server with no default model does not train one


@st.cache_resource(show_spinner=False, ttl=60)
def _local_worker(runs_root: str) -> int | None:
    """Once a minute per server, never per render: with the embedded queue and work waiting
    (say, a server restarted while trainings were queued), a queue worker on this machine
    unless one is alive. Sending work (``engine.queue.jobs.submit``) starts one too."""
    root = Path(runs_root)
    if jobs.queue(root) or jobs.running(root):
        return jobs.ensure_local_worker(root)
    return None


def first_start() -> None:
    """Once per server: the embedded worker, the default model when it is missing, and the
    datasets not prepared yet. Cheap afterwards: cached, and one file check."""
    root = runs_dir()
    try:
        _local_worker(str(root.resolve()))
        if not settings().first_start:
            return
        if not (root / DEFAULT_RUN_ID / "config.json").is_file():
            jobs.ensure_default_model(root)
    except taskq.QueueUnavailable as e:
        st.warning(str(e), icon=":material/cloud_off:")
        return
    _prepare_datasets(str(root.resolve()))


def default_progress() -> dict | None:
    """Status of the default model while it is queued or training; None otherwise."""
    try:
        st_ = open_run(DEFAULT_RUN_ID).status()
    except RunError:
        return None
    if not RunState(st_.get("state", "failed")).is_active():
        return None
    eta = jobs.eta_seconds(st_)
    done, total = st_.get("progress") or 0, st_.get("total") or 0
    return {"state": st_["state"], "eta": eta, "fraction": done / total if total else 0.0}


def show_progress() -> bool:
    """A progress bar of the default model's first training; False when there is none."""
    p = default_progress()
    if p is None:
        return False
    left = f"about {p['eta']:.0f} s left" if p["eta"] is not None else "starting…"
    st.progress(
        p["fraction"],
        text=f"Training the default digit model for this server's first start: {left}",
    )
    return True


@st.fragment(run_every=2.0)
def wait_for_default() -> None:
    """For pages that need a model: the first-start progress, and a rerun once it is ready."""
    if not show_progress():
        st.rerun()  # the model is ready (or failed): draw the page again with it
