"""Everything the Inspect page shows of one model (and one input image), in one call: the layer
table and filters (``engine.nn.inspect``) and, for an image, its filter responses, activations,
prediction and saliency (``engine.nn.saliency``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.data.datasets import normalize
from engine.nn.inspect import (
    Activations,
    LayerTable,
    NotApplicable,
    activations,
    filter_responses,
    first_layer_filters,
    layer_table,
    second_layer_filters,
    spatial_autocorrelation,
)
from engine.nn.models import Model
from engine.nn.saliency import Saliency, saliency


@dataclass(frozen=True)
class Analysis:
    """One model (and optionally one input image) seen every way the Inspect page shows it."""

    table: LayerTable
    filters: np.ndarray | None  # (C_out, k, k) first-layer filters; None for an MLP
    second: np.ndarray | None  # (C_out, C_in, k, k) second-layer filters; None without one
    no_filters: str  # why there are no filters ("" when there are)
    no_second: str
    smoothness: float | None  # spatial_autocorrelation of the first-layer filters
    responses: np.ndarray | None  # (C_out, 28, 28) filter2D of the image; None without both
    activations: Activations | None  # None without an image
    saliency: Saliency | None  # engine.nn.saliency.Saliency


def analyse(model: Model, cfg, image: np.ndarray | None = None, title: str = "model") -> Analysis:
    """Every view of ``model``: layer table, filters and, for a (28, 28) uint8 ``image``, the
    filter responses, activations, prediction and saliency. ``cfg``: the run's TrainConfig
    (its input normalisation)."""
    table = layer_table(model, title=title)
    filters = second = None
    no_filters = no_second = ""
    try:
        filters = first_layer_filters(model)
        second = second_layer_filters(model)
    except NotApplicable as e:
        if filters is None:
            no_filters = no_second = str(e)
        else:
            no_second = str(e)
    smooth = spatial_autocorrelation(filters) if filters is not None else None
    if image is None:
        return Analysis(table, filters, second, no_filters, no_second, smooth, None, None, None)
    x = normalize(np.asarray(image), cfg)  # (1, 1, 28, 28), as in training
    acts = activations(model, x)
    responses = filter_responses(model, image, cfg) if filters is not None else None
    sal = saliency(model, x, acts.predicted)
    return Analysis(table, filters, second, no_filters, no_second, smooth, responses, acts, sal)
