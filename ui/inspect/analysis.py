"""The Inspect page's one cached call: ``engine.nn.analysis.analyse``, cached by the model's
weights and the image, so a rerun that changes nothing recomputes nothing."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import streamlit as st
import torch

from engine.config import TrainConfig
from engine.nn import analysis as an


def fingerprint(model: torch.nn.Module) -> str:
    """A hash of the model's weights and buffers: the cache key of everything computed from it
    (another run, another epoch's snapshot or a retrained checkpoint all change it)."""
    h = hashlib.blake2b(digest_size=16)
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


@st.cache_data(max_entries=32, show_spinner="Looking inside the network…")
def _analysis(
    key: str, title: str, image: np.ndarray | None, _model: torch.nn.Module, _cfg: TrainConfig
) -> an.Analysis:
    return an.analyse(_model, _cfg, image, title)


def analysis(
    model: torch.nn.Module, cfg: TrainConfig, image: np.ndarray | None, title: str
) -> an.Analysis:
    """``engine.nn.analysis.analyse``, cached by the model's weights, its config and the image."""
    key = fingerprint(model) + json.dumps(cfg.to_dict(), sort_keys=True)
    return _analysis(key, title, image, model, cfg)
