"""Cached reads of engine state for the pages: datasets, models, test-set predictions."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st
import torch

from engine.config import TrainConfig, auto_threads
from engine.data import datasets
from engine.nn.export import bundle, onnx_bytes, readme
from engine.nn.models import Model
from engine.nn.predict import classify
from engine.queue import jobs, standing, taskq
from engine.runs import store
from engine.training import estimate
from engine.training.hardware import resolve_device


@st.cache_data(ttl=60, show_spinner=False)
def dataset_status() -> dict[str, dict]:
    return datasets.status()


@st.cache_data(ttl=60, show_spinner=False)
def speed_ratios() -> list[float]:
    """This machine's measured over modelled epoch times, from its finished runs (the Train
    page's time range)."""
    sizes = {
        k: (v["n_train"], v["n_test"]) for k, v in dataset_status().items() if v.get("n_train")
    }
    return estimate.speed_ratios(store.list_runs(), sizes)


@st.cache_resource(show_spinner="Loading the dataset…")
def dataset(name: str) -> datasets.Dataset:
    return datasets.load(name)


def dataset_info(name: str) -> datasets.DatasetInfo | None:
    """Sizes and source of the dataset a training of ``name`` loads, read from its files now
    (not the status cached a minute): None while it is not prepared yet."""
    try:
        return datasets.load(name, prepare_if_missing=False).info  # kept in memory per process
    except datasets.DataError:
        return None


def device_summary() -> str:
    dev = resolve_device("auto")
    if dev.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(0)}"
    cores, half = os.cpu_count() or 1, auto_threads()
    threads = f"{cores}" if cores == half else f"{cores} (or {half} beside other work)"
    limit = taskq.slots() if not taskq.embedded() else jobs.max_jobs()
    where = "this machine" if taskq.embedded() else "the queue's workers"
    return (
        f"{dev.type.upper()}: {threads} torch thread{'s' if cores > 1 else ''} per training "
        f"job, {limit} job{'s' if limit != 1 else ''} at a time on {where} "
        "(settings: ENGINE_MAX_JOBS, ENGINE_QUEUE_URL)"
    )


_BOARD = "queue_board"  # session state: the queue as this page shows it
_REDRAWN = "queue_redrawn"  # session state: the run change the page was last redrawn for


@st.cache_data(ttl=2, show_spinner=False)
def _read_board(root: str) -> standing.Board:
    """The queue, read at most every 2 s however many pages show it (it reads every run of the
    folder, and calibrates the estimate on the finished ones)."""
    return standing.board(Path(root))


def board(fresh: bool = False) -> standing.Board:
    """The queue as this page shows it. The sidebar, drawn first, reads it once per script run
    (``fresh``); the run header, the Runs table and the progress line render from that same
    board, so they never disagree ("queued" in a header while the sidebar says "0 queued")."""
    if fresh or _BOARD not in st.session_state:
        st.session_state[_BOARD] = _read_board(str(store.runs_dir()))
    return st.session_state[_BOARD]


def redraw(reason: tuple) -> None:
    """Redraw the whole page from a new board: the queue moved on since the page's board was
    read (a run was sent or started, its place changed). Once per ``reason``, so a change
    that a new board still does not show cannot loop."""
    if st.session_state.get(_REDRAWN) != reason:
        st.session_state[_REDRAWN] = reason
        _read_board.clear()
        st.rerun()


def queue_caption() -> None:
    """The sidebar's line on the queue: running, waiting, and the workers that take them."""
    if text := board(fresh=True).caption():
        st.caption(text)


def state_label(run: store.Run, status: dict) -> str:
    """A run's state in words, with its place in line while queued: "queued (2nd in line)",
    from the page's board. The run header, the Runs table and the live view all say it so."""
    b = board()
    if b.states.get(run.id) != status.get("state"):  # the run changed since: a newer board
        redraw((run.id, status.get("state"), status.get("updated")))
    return b.label(run.id, status.get("state", ""))


def standing_line(run: store.Run, b: standing.Board | None = None) -> str:
    """The line "3rd in line, about 40 s to start, about 55 s to finish (CPU worker)", for a queued
    run, from the board ``b`` (default: the page's); the admin also sees the workers' names."""
    from ui import visitor

    s = (b or board()).standings.get(run.id)
    if s is None:
        return "starting…"
    text = s.line()
    if s.hosts and visitor.current().is_admin:
        text += f" · workers: {', '.join(s.hosts)}"
    return text


def live_board(run: store.Run) -> standing.Board:
    """A newer board for a live view that redraws itself every few seconds; when the run's
    state or place, or the sidebar's counts, moved on since the page was drawn, the whole page
    redraws, so header, sidebar and progress line move together."""
    page, now = board(), _read_board(str(store.runs_dir()))
    seen = (now.label(run.id), now.running, now.queued)
    if seen != (page.label(run.id), page.running, page.queued):
        redraw((run.id, *seen))
    return now


def _mtime(run: store.Run) -> float:
    return run.checkpoint_path.stat().st_mtime if run.has_checkpoint() else 0.0


def model_key(run_id: str, epoch: int | None = None) -> str:
    """The one cache key of a model, for every cache of what is computed from it (the Inspect
    analysis, the Greek page's embeddings, the webcam's recogniser): its run folder and its
    checkpoint's time, so a retrained run is another model, and the epoch of a snapshot."""
    try:
        run = store.open_run(run_id)
    except store.RunError:
        return run_id
    key = f"{run.path.resolve()}@{_mtime(run)}"
    return key if epoch is None else f"{key}#epoch{epoch}"


@st.cache_resource(max_entries=8, show_spinner=False)
def _model(path: str, mtime: float) -> tuple[Model, TrainConfig]:
    return store.load_model(path)


def model(run: store.Run) -> tuple[Model, TrainConfig]:
    """The run's model, cached by run directory and checkpoint time (a newer epoch reloads)."""
    return _model(str(run.path.resolve()), _mtime(run))


@dataclass(frozen=True)
class Predictions:
    images: np.ndarray  # (N, 28, 28) uint8 test images
    labels: np.ndarray  # (N,) int
    probs: np.ndarray  # (N, K) class probabilities
    classes: tuple[str, ...]

    @property
    def predicted(self) -> np.ndarray:
        return self.probs.argmax(1)

    def confusion(self) -> np.ndarray:
        k = len(self.classes)
        return np.bincount(self.labels * k + self.predicted, minlength=k * k).reshape(k, k)


@st.cache_resource(max_entries=4, show_spinner="Classifying the test set…")
def _predictions(path: str, mtime: float) -> Predictions:
    m, cfg = _model(path, mtime)
    ds = dataset(cfg.dataset)
    n = min(cfg.limit_test or len(ds.y_test), len(ds.y_test))  # the set the accuracy is on
    x, y = ds.x_test[:n], ds.y_test[:n]
    return Predictions(x.numpy(), y.numpy(), classify(m, cfg, x), ds.classes)


def predictions(run: store.Run) -> Predictions:
    return _predictions(str(run.path.resolve()), _mtime(run))


@st.cache_data(max_entries=4, show_spinner="Exporting to ONNX…")
def _onnx(path: str, mtime: float) -> bytes:
    m, cfg = _model(path, mtime)
    return onnx_bytes(m, cfg, Path(path).name)  # with its model card in the metadata


def onnx(run: store.Run) -> bytes:
    return _onnx(str(run.path.resolve()), _mtime(run))


def onnx_zip(run: store.Run) -> bytes:
    """The ONNX file and its model card (README.md), as one ZIP."""
    cfg = run.config()
    name = f"{run.id}.onnx"
    return bundle({name: onnx(run), "README.md": readme(cfg, run.id, name).encode()})


def checkpoint_zip(run: store.Run) -> bytes:
    """The checkpoint and its model card (README.md), as one ZIP."""
    name = f"{run.id}.pt"
    data = run.checkpoint_path.read_bytes()
    return bundle({name: data, "README.md": readme(run.config(), run.id, name).encode()})


def recent_runs(limit: int = 10) -> list[dict]:
    return run_rows(store.list_runs()[:limit])


def describe_model(cfg: TrainConfig) -> str:
    """A short name of the architecture, e.g. "CNN 16-32 k3 → 128" or "MLP 512-512"."""
    m = cfg.model
    fc = "-".join(map(str, m.hidden))
    if m.family == "mlp":
        return f"MLP {fc}"
    return f"CNN {'-'.join(map(str, m.channels))} k{m.kernel_sizes[0]} → {fc}"


def run_rows(items: list[store.Run]) -> list[dict]:
    """One table row per run: what it is, how it did and how long it took."""
    rows = []
    for run in items:
        try:
            cfg = run.config()
        except store.RunError:
            continue
        st_ = run.status()
        acc = st_.get("test_accuracy")
        secs = st_.get("seconds")
        state = state_label(run, st_)
        rows.append(
            {
                "run": run.id,
                "status": state,
                "dataset": cfg.dataset,
                "model": describe_model(cfg),
                "optimizer": f"{cfg.optimizer} lr={cfg.lr:g}",
                "batch": cfg.batch_size,
                "epochs": f"{st_.get('epoch', 0)}/{cfg.epochs}",
                "accuracy": 100 * acc if acc is not None else None,
                "duration": f"{secs:.0f} s" if secs is not None else "",
            }
        )
    return rows
