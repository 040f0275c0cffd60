"""Cached reads of engine state for the pages."""

from __future__ import annotations

import streamlit as st
import torch

from engine import data, runs
from engine.config import auto_threads
from engine.train import resolve_device


@st.cache_data(ttl=60, show_spinner=False)
def dataset_status() -> dict[str, dict]:
    return data.status()


def device_summary() -> str:
    dev = resolve_device("auto")
    if dev.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(0)}"
    return f"{dev.type.upper()}: {auto_threads()} torch thread(s) per training job"


def recent_runs(limit: int = 10) -> list[dict]:
    rows = []
    for run in runs.list_runs()[:limit]:
        try:
            cfg = run.config()
        except runs.RunError:
            continue
        st_ = run.status()
        acc = st_.get("test_accuracy")
        rows.append(
            {
                "run": run.id,
                "dataset": cfg.dataset,
                "model": cfg.model.family,
                "epochs": cfg.epochs,
                "state": st_.get("state"),
                "test accuracy": f"{100 * acc:.1f}%" if acc is not None else "",
            }
        )
    return rows
