"""The Greek letters page's numbers: one cached call, ``analyse``, from the model, the sample
set, the queries, the cut layer and the head's settings to a frozen ``Analysis`` that the
section renderers only read.

Each costly step is cached on its own inputs (embeddings on model + layer + images, the head
and the leave-one-out heads on those + epochs + learning rate, the 300 map digits on model +
layer), so a rerun that changes nothing recomputes nothing, and a change recomputes only what
depends on it: new queries do not retrain the leave-one-out heads. The cached objects are shared
by every session and never mutated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st
from torch import nn

from engine.config import TrainConfig
from engine.fewshot import embed
from engine.fewshot.embed import Head, Prediction
from engine.fewshot.samples import SampleSet
from ui import resources
from ui.greek.figures import data_url

UNKNOWN = "(unknown)"  # the answer for a query far from every sample; no class can be named so
MAP_DIGITS = 300  # test digits drawn on the map around the letters
TTL = 6 * 3600  # s: cached results of sessions long gone are dropped


@dataclass(frozen=True)
class HeadSettings:
    epochs: int = 100  # full-batch epochs of the new last layer
    lr: float = 0.05  # Adam's learning rate


@dataclass(frozen=True)
class Queries:
    """The letters to recognise and every method's answer (before any "unknown" threshold)."""

    names: tuple[str, ...]
    truth: tuple[str, ...]  # the class given with each query; "" when none was given
    classes: tuple[str, ...]  # the classes that have samples
    thumbs: tuple[str, ...]  # data URLs of their 28×28 images
    least: np.ndarray  # (Q,) the least SSD from each query to any sample
    margin: np.ndarray  # (Q,) how clearly nearest neighbour's class wins (embed.nn_margin)
    preds: dict[str, tuple[Prediction, ...]]  # method → one prediction per query

    @property
    def scored(self) -> list[int]:
        """Indices of the queries that came with a class that has samples."""
        return [i for i, t in enumerate(self.truth) if t in self.classes]

    @property
    def orphans(self) -> list[int]:
        """Indices of the queries whose class has no samples: no method can name it, so they
        are left out of the score."""
        return [i for i, t in enumerate(self.truth) if t and t not in self.classes]


@dataclass(frozen=True)
class Analysis:
    key: str  # what it was computed from (model, layer, sample and query digests, head)
    layer: str
    names: tuple[str, ...]  # the samples' names
    labels: tuple[str, ...]
    classes: tuple[str, ...]
    emb: np.ndarray  # (N, D) the samples' embeddings
    dist: np.ndarray  # (N, N) SSD between every pair of samples
    class_means: np.ndarray  # (K, K) mean SSD between the samples of two classes
    thumbs: tuple[str, ...]  # data URLs of the samples' 28×28 images
    head: Head  # the new last layer, trained on every sample (with its leave-one-out answers)
    head_settings: HeadSettings
    loo: dict[str, tuple[Prediction, ...]]  # leave-one-out predictions per method
    reject_at: float  # a suggested "unknown" threshold: the largest nearest-sample SSD in the set
    map_xy: np.ndarray  # (N + MAP_DIGITS, 2) PCA of the samples and then the digits
    map_digits: tuple[str, ...]  # the digits' class names
    typical: tuple[int, ...]  # per class, the sample nearest its class mean on the map
    queries: Queries | None

    @property
    def dim(self) -> int:
        return int(self.emb.shape[1])


def analyse(
    run_id: str,
    model: nn.Module,
    cfg: TrainConfig,
    samples: SampleSet,
    queries: SampleSet,
    layer: str,
    head: HeadSettings,
) -> Analysis:
    """Everything the page shows about these samples and queries at this layer (cached)."""
    return _analyse(
        resources.model_key(run_id), layer, samples.digest(), queries.digest(), head,
        _model=model, _cfg=cfg, _samples=samples, _queries=queries,
    )  # fmt: skip


@st.cache_resource(max_entries=32, ttl=TTL, show_spinner=False)
def _analyse(
    key: str, layer: str, s_digest: str, q_digest: str, head: HeadSettings,
    _model, _cfg, _samples: SampleSet, _queries: SampleSet,
) -> Analysis:  # fmt: skip
    labels = tuple(_samples.labels)
    emb = _embedding(key, layer, s_digest, _model, _cfg, _samples.images)
    dist = embed.ssd(emb, emb)
    classes, means = embed.class_mean_distances(dist, list(labels))
    trained = _head(key, layer, s_digest, head, emb, labels)
    off = dist + np.diag(np.full(len(dist), np.inf))  # each sample's nearest *other* sample
    nearest = off.min(1)[np.isfinite(off.min(1))]
    digits, digit_names = _digits(key, layer, _model, _cfg)
    xy = embed.pca_2d(np.concatenate([emb, digits]))
    return Analysis(
        key=f"{key}|{layer}|{s_digest}|{q_digest}|{head.epochs}|{head.lr}",
        layer=layer,
        names=tuple(s.name for s in _samples.samples),
        labels=labels,
        classes=tuple(classes),
        emb=emb,
        dist=dist,
        class_means=means,
        thumbs=_thumbs(s_digest, _samples),
        head=trained,
        head_settings=head,
        loo=_loo(key, layer, s_digest, emb, labels) | {"finetune": tuple(trained.held_out())},
        reject_at=float(nearest.max()) if len(nearest) else 0.0,
        map_xy=xy,
        map_digits=digit_names,
        typical=_typical(xy[: len(labels)], labels, classes),
        queries=_answers(key, layer, emb, labels, trained, _model, _cfg, q_digest, _queries),
    )


@st.cache_resource(max_entries=64, ttl=TTL, show_spinner="Embedding the images…")
def _embedding(key: str, layer: str, digest: str, _model, _cfg, _images) -> np.ndarray:
    return embed.embed(_model, _images, _cfg, layer)


@st.cache_resource(max_entries=64, ttl=TTL, show_spinner=False)
def _thumbs(digest: str, _samples: SampleSet) -> tuple[str, ...]:
    return tuple(data_url(s.image) for s in _samples.samples)


@st.cache_resource(max_entries=16, ttl=TTL, show_spinner=False)
def _originals(digest: str, _samples: SampleSet) -> tuple[str | None, ...]:
    return tuple(None if s.raw is None else data_url(s.raw) for s in _samples.samples)


def thumbnails(samples: SampleSet, originals: bool = False) -> tuple[str | None, ...]:
    """Data URLs of the 28×28 images (or of the originals' previews; None where there is
    none), made once per set: the gallery sends them as they are."""
    return (_originals if originals else _thumbs)(samples.digest(), samples)


@st.cache_resource(max_entries=16, ttl=TTL, show_spinner="Embedding test digits for the map…")
def _digits(key: str, layer: str, _model, _cfg) -> tuple[np.ndarray, tuple[str, ...]]:
    ds = resources.dataset(_cfg.dataset)
    x = ds.x_test[:MAP_DIGITS].numpy()
    return embed.embed(_model, x, _cfg, layer), tuple(
        ds.classes[int(k)] for k in ds.y_test[:MAP_DIGITS]
    )


@st.cache_resource(max_entries=32, ttl=TTL, show_spinner="Training the new last layer…")
def _head(key: str, layer: str, digest: str, head: HeadSettings, _emb, _labels) -> Head:
    """The head on every sample, trained beside one head without each sample for its
    leave-one-out answers (engine.fewshot.embed.finetune_head)."""
    return embed.finetune_head(_emb, list(_labels), epochs=head.epochs, lr=head.lr)


@st.cache_resource(max_entries=32, ttl=TTL, show_spinner="Leave-one-out on every sample…")
def _loo(key: str, layer: str, digest: str, _emb, _labels) -> dict[str, tuple[Prediction, ...]]:
    """Each sample classified with all the others as the samples, by the distance methods (the
    head's come with it)."""
    return {m: tuple(embed.leave_one_out(m, _emb, list(_labels))) for m in ("nn", "centroid")}


def _typical(xy: np.ndarray, labels: tuple[str, ...], classes: list[str]) -> tuple[int, ...]:
    lab = np.asarray(labels)
    out = []
    for c in classes:
        idx = np.flatnonzero(lab == c)
        centre = xy[idx].mean(0)
        out.append(int(idx[np.argmin(((xy[idx] - centre) ** 2).sum(1))]))
    return tuple(out)


def _answers(
    key, layer, emb, labels, trained: Head, model, cfg, digest: str, queries: SampleSet
) -> Queries | None:
    if not len(queries):
        return None
    q = _embedding(key, layer, digest, model, cfg, queries.images)
    lab = list(labels)
    return Queries(
        names=tuple(s.name for s in queries.samples),
        truth=tuple(queries.labels),
        classes=tuple(sorted(set(labels))),
        thumbs=_thumbs(digest, queries),
        least=embed.ssd(q, emb).min(1),
        margin=embed.nn_margin(emb, lab, q),
        preds={
            "nn": tuple(embed.nearest_neighbour(emb, lab, q)),
            "centroid": tuple(embed.nearest_centroid(emb, lab, q)),
            "finetune": tuple(trained.predict(q)),
        },
    )


# --- cheap views of an Analysis (no model, no training) ------------------------------------------
def answers(q: Queries, threshold: float | None) -> dict[str, list[Prediction]]:
    """Every method's answers, with the queries farther than ``threshold`` (least SSD to any
    sample) answered UNKNOWN by all of them; None keeps every answer."""
    far = q.least > threshold if threshold is not None else np.zeros(len(q.least), bool)
    return {
        m: [Prediction(UNKNOWN, float(q.least[i]), m) if far[i] else p for i, p in enumerate(ps)]
        for m, ps in q.preds.items()
    }


def scores(
    q: Queries, preds: dict[str, list[Prediction]]
) -> tuple[dict[str, float], list[str], dict[str, np.ndarray]]:
    """On the queries that came with a class that has samples (``q.scored``): accuracy per
    method, the confusion matrices' labels (the classes, UNKNOWN when answered) and the
    matrices."""
    idx = q.scored
    truth = [q.truth[i] for i in idx]
    said = {m: [ps[i] for i in idx] for m, ps in preds.items()}
    names = list(q.classes) + (
        [UNKNOWN] if any(p.label == UNKNOWN for ps in said.values() for p in ps) else []
    )
    acc = {m: embed.accuracy(ps, truth) for m, ps in said.items()}
    cms = {m: embed.confusion(ps, truth, names) for m, ps in said.items()}
    return acc, names, cms
