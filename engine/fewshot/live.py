"""The webcam's few-shot classifier: the live pipeline (``engine.nn.live``) with Greek letters, or
any classes of a visitor's samples, in place of the run's own classes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine.config import TrainConfig
from engine.fewshot.embed import (
    DEFAULT_METHOD,
    METHODS,
    centroids,
    classify,
    embed,
    finetune_head,
    ssd,
)
from engine.nn.live import Classifier, LiveError, ranked
from engine.nn.models import Model


def classifier(
    model: Model,
    cfg: TrainConfig,
    support_images: np.ndarray,
    support_labels: Sequence[str],
    method: str | None = None,
    layer: str | None = None,
) -> Classifier:
    """The webcam's classifier of Greek letters (or any few-shot classes): embed the support set
    once, then classify each batch of crops (``engine.nn.live``) by nearest neighbour, nearest
    centroid or the fine-tuned head."""
    method = method or DEFAULT_METHOD
    labels = list(support_labels)
    if len(set(labels)) < 2:
        raise LiveError("the few-shot classifier needs samples of at least two classes")
    if method not in METHODS:
        raise LiveError(f"method must be one of {METHODS}, not {method!r}")
    layer = layer or model.embedding_layer()
    support = embed(model, support_images, cfg, layer)
    head = finetune_head(support, labels, held_out=False) if method == "finetune" else None
    classes, cents = centroids(support, labels)

    def run(images: np.ndarray) -> list[tuple]:
        q = embed(model, images, cfg, layer)
        if head is not None:
            z = head.scale * head.cosines(q)  # the head's softmax, as in its predictions
            probs = np.exp(z - z.max(1, keepdims=True))
            probs /= probs.sum(1, keepdims=True)
            return [
                (p.label, p.score, f"{p.label} {p.score:.0%}", ranked(head.classes, row))
                for p, row in zip(head.predict(q), probs)
            ]
        preds = classify(method, support, labels, q)
        # A confidence for the threshold and the panel: the winner's share of 1/SSD over the
        # class centroids (1.0 when only one class is near, 1/K when all are equally far).
        inv = 1.0 / (ssd(q, cents) + 1e-6)
        share = inv / inv.sum(1, keepdims=True)
        return [
            (
                p.label,
                float(share[i, classes.index(p.label)]),
                f"{p.label} ssd {p.score:.0f}",
                ranked(classes, share[i]),
            )
            for i, p in enumerate(preds)
        ]

    return run
