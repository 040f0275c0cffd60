"""Embeddings of a truncated network, SSD distance tables and few-shot classifiers.

The seed's Task 3: a network trained on digits, cut at an inner layer, maps letters to vectors;
the sum of squared differences (SSD) between vectors says how alike two letters look to it.
Classifiers: nearest neighbour, nearest class centroid, and a fine-tuned K-way head (a new
last layer trained on the frozen network's embeddings).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine import EngineError
from engine.data import normalize
from engine.models import Model, truncate

METHODS = ("nn", "centroid", "finetune")
# The method used when none is named: the seed's nearest neighbour. bench/fewshot_transfer.py
# found nearest neighbour and nearest class mean within each other's confidence intervals on
# the held-out digits and letters (README, "Few-shot transfer"), so the seed's stays.
DEFAULT_METHOD = "nn"
# Nearest neighbour's answer is "not sure" when its class wins by a margin under this
# (``nn_margin``). Chosen on held-out Greek letters (21 classes, 5-way 1/3/5-shot, rendered
# support, photographed script-font queries; never alpha/beta/gamma): below 0.08 the answers
# were right about half the time (53%), above it 90% (docs/real_inputs.md).
NOT_SURE_MARGIN = 0.08


class FewShotError(EngineError, ValueError):
    """A sample set or query that the few-shot methods cannot work with."""


def embed(
    model: Model,
    images: np.ndarray,
    dataset,
    layer: str | None = None,
    batch: int = 512,
    l2: bool = True,
) -> np.ndarray:
    """uint8 images (N, 28, 28) → (N, D) float32 embeddings at ``layer`` (default: the model's
    ``embedding_layer``), each scaled to length 1 unless ``l2`` is False.

    Unit length measured better on held-out digit and letter classes (bench/fewshot_transfer.py:
    +1 to +2 points, every proxy): a letter drawn bolder or bigger than the samples moves its
    vector's length more than its direction. ``dataset``: the run's TrainConfig (or its dataset
    name), for the input normalisation."""
    if len(images) == 0:
        return np.zeros((0, 0), np.float32)
    sub = truncate(model, layer or model.embedding_layer()).eval()
    device = next(model.parameters()).device
    out = []
    with torch.inference_mode():
        for i in range(0, len(images), batch):
            x = normalize(np.asarray(images[i : i + batch]), dataset).to(device)
            out.append(sub(x).flatten(1).float().cpu())  # (B, D)
    vectors = torch.cat(out)
    return (F.normalize(vectors, dim=1) if l2 else vectors).numpy()


def ssd(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sum of squared differences between every row of ``a`` and every row of ``b``: (Na, Nb)."""
    # Direct differences, not |a|²+|b|²-2ab: identical images must print an SSD of exactly 0.
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    rows = max(1, 2**24 // max(1, b.size))  # keep each (rows, Nb, D) block near 128 MB
    out = [((a64[i : i + rows, None] - b64[None]) ** 2).sum(-1) for i in range(0, len(a), rows)]
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, len(b)), np.float32)


@dataclass(frozen=True)
class Prediction:
    label: str
    score: float  # nn/centroid: the least SSD; finetune: the probability
    method: str
    neighbour: int = -1  # nn: index of the nearest support sample

    def line(self) -> str:
        """The seed's printout for one test letter."""
        if self.method == "finetune":
            return (
                f"The predicted class for this test example is {self.label} "
                f"with probability {self.score:.3f}"
            )
        what = "least ssd" if self.method == "nn" else "least ssd to a class centroid"
        score = np.float32(self.score)  # printed like the seed's numpy float32: 798.58545
        head = f"The predicted class for this test example is {self.label}"
        return f"{head} with the {what} being {score!s}"


def _check_support(labels: list[str], need_two_classes: bool = True) -> list[str]:
    classes = sorted(set(labels))
    if not labels:
        raise FewShotError("the sample set is empty: add at least one image per class")
    if need_two_classes and len(classes) < 2:
        raise FewShotError(f"only one class ({classes[0]}): add samples of a second class")
    return classes


def nearest_neighbour(
    support: np.ndarray, labels: list[str], queries: np.ndarray
) -> list[Prediction]:
    """Each query gets the class of the support sample with the least SSD."""
    _check_support(labels, need_two_classes=False)
    d = ssd(queries, support)
    idx = d.argmin(1)
    return [Prediction(labels[j], float(d[i, j]), "nn", int(j)) for i, j in enumerate(idx)]


def nn_margin(support: np.ndarray, labels: list[str], queries: np.ndarray) -> np.ndarray:
    """How clearly nearest neighbour wins, per query: 1 - (least SSD to the winning class) /
    (least SSD to the next class); 0 is a tie, 1 when only one class has samples. Below
    ``NOT_SURE_MARGIN`` the page says "not sure"."""
    _check_support(labels, need_two_classes=False)
    d, lab = ssd(queries, support), np.asarray(labels)
    per = np.sort(np.stack([d[:, lab == c].min(1) for c in sorted(set(labels))], 1), 1)
    if per.shape[1] < 2:
        return np.ones(len(queries))
    return 1 - per[:, 0] / np.maximum(per[:, 1], 1e-12)


def centroids(support: np.ndarray, labels: list[str]) -> tuple[list[str], np.ndarray]:
    classes = _check_support(labels, need_two_classes=False)
    lab = np.asarray(labels)
    return classes, np.stack([support[lab == c].mean(0) for c in classes])


def nearest_centroid(
    support: np.ndarray, labels: list[str], queries: np.ndarray
) -> list[Prediction]:
    """Each query gets the class whose mean embedding is nearest (least SSD)."""
    classes, cents = centroids(support, labels)
    d = ssd(queries, cents)
    return [Prediction(classes[j], float(d[i, j]), "centroid") for i, j in enumerate(d.argmin(1))]


@dataclass
class Head:
    """A K-way linear layer on top of the frozen embedding, with its training record."""

    classes: list[str]
    layer: nn.Linear
    mean: np.ndarray  # embedding standardisation learned from the support set
    scale: np.ndarray
    losses: list[float]
    epochs_to_100: int | None  # first epoch at which the support set was all correct

    def predict(self, queries: np.ndarray) -> list[Prediction]:
        with torch.inference_mode():
            z = torch.from_numpy((queries - self.mean) / self.scale).float()
            p = self.layer(z).softmax(1)
        conf, k = p.max(1)
        return [Prediction(self.classes[j], float(c), "finetune") for c, j in zip(conf, k)]


def finetune_head(
    support: np.ndarray,
    labels: list[str],
    epochs: int = 100,
    lr: float = 0.05,
    weight_decay: float = 1e-4,
    seed: int = 0,
    on_epoch=None,
) -> Head:
    """Train a new last layer (embedding → K classes) with the digit network frozen.

    The network is frozen and in eval mode, so its embeddings are fixed: training on them is
    exactly training the replaced layer, and costs microseconds per step (full batch).
    """
    classes = _check_support(labels)
    y = torch.tensor([classes.index(c) for c in labels])
    mean, scale = support.mean(0), support.std(0) + 1e-6
    z = torch.from_numpy((support - mean) / scale).float()  # (N, D)
    g = torch.Generator().manual_seed(seed)
    layer = nn.Linear(z.shape[1], len(classes))
    with torch.no_grad():
        layer.weight.copy_(torch.randn(layer.weight.shape, generator=g) * 0.01)
        layer.bias.zero_()
    opt = torch.optim.Adam(layer.parameters(), lr=lr, weight_decay=weight_decay)
    losses, first_perfect = [], None
    for epoch in range(1, epochs + 1):
        out = layer(z)
        loss = F.cross_entropy(out, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if first_perfect is None and bool((out.argmax(1) == y).all()):
            first_perfect = epoch
        if on_epoch is not None:
            on_epoch(epoch, losses[-1])
    return Head(classes, layer.eval(), mean, scale, losses, first_perfect)


def classify(
    method: str, support: np.ndarray, labels: list[str], queries: np.ndarray
) -> list[Prediction]:
    """Classify query embeddings with one of METHODS, using the labelled support embeddings."""
    if method == "nn":
        return nearest_neighbour(support, labels, queries)
    if method == "centroid":
        return nearest_centroid(support, labels, queries)
    if method == "finetune":
        return finetune_head(support, labels).predict(queries)
    raise FewShotError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")


def leave_one_out(method: str, emb: np.ndarray, labels: list[str]) -> list[Prediction]:
    """Classify each sample with all the others as the support set."""
    _check_support(labels)
    out = []
    for i in range(len(labels)):
        keep = np.arange(len(labels)) != i
        rest = [lab for j, lab in enumerate(labels) if j != i]
        if len(set(rest)) < 2 and method == "finetune":  # a class left with no sample
            out.append(nearest_neighbour(emb[keep], rest, emb[i : i + 1])[0])
            continue
        out.append(classify(method, emb[keep], rest, emb[i : i + 1])[0])
    return out


def accuracy(preds: list[Prediction], truth: list[str]) -> float:
    return float(np.mean([p.label == t for p, t in zip(preds, truth)])) if truth else 0.0


def confusion(preds: list[Prediction], truth: list[str], classes: list[str]) -> np.ndarray:
    """(K, K) counts: rows are the true classes, columns the predicted ones."""
    m = np.zeros((len(classes), len(classes)), int)
    for p, t in zip(preds, truth):
        if p.label in classes and t in classes:
            m[classes.index(t), classes.index(p.label)] += 1
    return m


def pca_2d(x: np.ndarray) -> np.ndarray:
    """Project rows of ``x`` onto their two principal components: (N, 2)."""
    if len(x) < 2:
        return np.zeros((len(x), 2), np.float32)
    centred = x.astype(np.float64) - x.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    out = centred @ vt[:2].T
    if out.shape[1] < 2:
        out = np.pad(out, ((0, 0), (0, 2 - out.shape[1])))
    return out.astype(np.float32)


def class_mean_distances(d: np.ndarray, labels: list[str]) -> tuple[list[str], np.ndarray]:
    """(K, K) mean SSD between the samples of each pair of classes (self-pairs excluded)."""
    classes = sorted(set(labels))
    lab = np.asarray(labels)
    m = np.zeros((len(classes), len(classes)), np.float32)
    for i, a in enumerate(classes):
        for j, b in enumerate(classes):
            block = d[np.ix_(lab == a, lab == b)]
            if a == b:
                n = len(block)
                m[i, j] = (block.sum() / (n * n - n)) if n > 1 else 0.0
            else:
                m[i, j] = block.mean()
    return classes, m
