"""The Inspect page's one cached call: ``engine.nn.analysis.analyse``, cached by the model's key
and the image, so a rerun that changes nothing recomputes nothing."""

from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from engine.config import TrainConfig
from engine.nn import analysis as an


@st.cache_data(max_entries=32, show_spinner="Looking inside the network…")
def _analysis(
    key: str, title: str, image: np.ndarray | None, _model: torch.nn.Module, _cfg: TrainConfig
) -> an.Analysis:
    return an.analyse(_model, _cfg, image, title)


def analysis(
    model: torch.nn.Module, cfg: TrainConfig, image: np.ndarray | None, title: str, key: str
) -> an.Analysis:
    """``engine.nn.analysis.analyse``, cached by the model (``key``: ``resources.model_key``)
    and the image."""
    return _analysis(key, title, image, model, cfg)
