"""Embeddings of a truncated network, SSD distance tables and few-shot classifiers.

The seed's Task 3: a network trained on digits, cut at an inner layer, maps letters to vectors;
the sum of squared differences (SSD) between vectors says how alike two letters look to it.
Classifiers: nearest neighbour, nearest class centroid, and a fine-tuned K-way head (a new
last layer trained on the frozen network's embeddings).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from engine import EngineError
from engine.data.datasets import normalize
from engine.nn.models import Model, truncate

METHODS = ("nn", "centroid", "finetune")
# The method used when none is named: the seed's nearest neighbour. bench/fewshot_transfer.py
# found nearest neighbour and nearest class mean within each other's confidence intervals on
# the held-out digits and letters (docs/fewshot.md, "Few-shot transfer"), so the seed's stays.
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


# The head's confidence is softmax(SCALE × cosine). Chosen among 10, 15, 20 and 30 on held-out
# digits by other writers, 1 sample per class (ECE 2.1%; 10 gave 9.6%). With the default epochs
# and learning rate it stayed within 1.4-3.1% on held-out letters in other fonts, 1-5 samples
# per class. A scale fitted to each set by leave-one-out was as good on the digits but over-sure
# on letters in a script face (6-7%): the samples are more alike than the letters to recognise
# (bench/head_calibration.py, docs/fewshot.md).
SCALE = 15.0
TRAIN_SCALE = 10.0  # the scale of the cosines in the training loss


@dataclass
class Head:
    """A K-way cosine classifier on the frozen embedding: one unit-length direction per class,
    started at the class's mean direction (untrained, it is nearest class mean by angle) and
    fine-tuned on the samples. Its confidence is softmax(scale × cosine)."""

    classes: list[str]
    weight: np.ndarray  # (K, D) unit-length class directions
    losses: list[float]
    epochs_to_100: int | None  # first epoch at which the support set was all correct
    scale: float = SCALE  # confidence = softmax(scale * cosine)
    # (N, K) each sample's cosines to the classes of a head trained without it (-inf: a class
    # it took away); empty unless trained with held_out
    held_out_cosines: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))

    def cosines(self, queries: np.ndarray) -> np.ndarray:
        """(N, K) cosine between each query and each class direction."""
        q = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
        return q.astype(np.float32) @ self.weight.T

    def predict(self, queries: np.ndarray) -> list[Prediction]:
        return self._answers(self.cosines(queries))

    def held_out(self) -> list[Prediction]:
        """Leave-one-out: each sample's answer by the head trained without it."""
        return self._answers(self.held_out_cosines)

    def _answers(self, cosines: np.ndarray) -> list[Prediction]:
        p = torch.from_numpy(self.scale * cosines).softmax(1)
        conf, k = p.max(1)
        return [Prediction(self.classes[j], float(c), "finetune") for c, j in zip(conf, k)]


def _train_heads(
    z: torch.Tensor,
    y: torch.Tensor,
    keep: torch.Tensor,
    k: int,
    epochs: int,
    lr: float,
    weight_decay: float,
    on_epoch,
) -> tuple[torch.Tensor, torch.Tensor, list[float], int | None]:
    """Train F heads at once, head f on the samples ``keep[f]`` ((F, N) bool): one batched loop
    instead of F (Adam works element by element, so each head trains as if alone). Returns
    their (F, K, D) unit class directions, the (F, K) mask of classes with no sample in a head
    (no direction: zero), and the first head's losses and first all-correct epoch."""
    onehot = F.one_hot(y, k).float() * keep[..., None]  # (F, N, K)
    absent = onehot.sum(1) == 0  # (F, K)
    start = F.normalize(onehot.transpose(1, 2) @ z, dim=2)  # (F, K, D): the class means
    w = start.clone().requires_grad_(True)
    opt = torch.optim.Adam([w], lr=lr)
    losses, first_perfect, n = [], None, keep.sum(1)
    for epoch in range(1, epochs + 1):
        out = TRAIN_SCALE * torch.einsum("nd,fkd->fnk", z, F.normalize(w, dim=2))
        out = out.masked_fill(absent[:, None], -torch.inf)  # (F, N, K)
        ce = F.cross_entropy(out.flatten(0, 1), y.repeat(len(keep)), reduction="none")
        per_head = (ce.view(keep.shape) * keep).sum(1) / n  # (F,)
        # the decay pulls towards the class means, not towards 0 (a cosine ignores length)
        loss = per_head + weight_decay * ((w - start) ** 2).sum((1, 2))
        opt.zero_grad()
        loss.sum().backward()
        opt.step()
        losses.append(loss[0].item())
        if first_perfect is None and bool((out[0].argmax(1) == y).all()):
            first_perfect = epoch
        if on_epoch is not None:
            on_epoch(epoch, losses[-1])
    return F.normalize(w.detach(), dim=2), absent, losses, first_perfect


def finetune_head(
    support: np.ndarray,
    labels: list[str],
    epochs: int = 100,
    lr: float = 0.05,
    weight_decay: float = 0.01,  # pull towards the class means (bench/head_calibration.py)
    on_epoch=None,
    held_out: bool = True,
) -> Head:
    """Train a new last layer (embedding → K classes) with the digit network frozen.

    The network is frozen and in eval mode, so its embeddings are fixed: training on them is
    exactly training the replaced layer, and costs microseconds per step (full batch).
    ``held_out``: train beside it one head without each sample, for the leave-one-out answers
    (``Head.held_out``).
    """
    classes = _check_support(labels)
    y = torch.tensor([classes.index(c) for c in labels])
    z = F.normalize(torch.from_numpy(np.asarray(support, np.float32)), dim=1)  # (N, D)
    n = len(labels)
    keep = torch.ones(1, n, dtype=torch.bool)  # the head on every sample, then one without each
    keep = torch.cat([keep, ~torch.eye(n, dtype=torch.bool)]) if held_out else keep
    w, absent, losses, first = _train_heads(
        z, y, keep, len(classes), epochs, lr, weight_decay, on_epoch
    )
    head = Head(classes, w[0].numpy(), losses, first)
    if held_out:
        cos = torch.einsum("nd,nkd->nk", z, w[1:]).masked_fill(absent[1:], -torch.inf)
        head.held_out_cosines = cos.numpy()
    return head


def calibration_error(confidence: np.ndarray, right: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: the mean |accuracy - confidence| over ``bins`` equal-width
    confidence bins, weighted by the answers in each."""
    conf, ok = np.asarray(confidence, float), np.asarray(right, float)
    which = np.minimum((conf * bins).astype(int), bins - 1)
    return float(
        sum(abs(ok[which == b].mean() - conf[which == b].mean()) * (which == b).sum()
            for b in range(bins) if (which == b).any()) / max(len(conf), 1)
    )  # fmt: skip


def classify(
    method: str, support: np.ndarray, labels: list[str], queries: np.ndarray
) -> list[Prediction]:
    """Classify query embeddings with one of METHODS, using the labelled support embeddings."""
    if method == "nn":
        return nearest_neighbour(support, labels, queries)
    if method == "centroid":
        return nearest_centroid(support, labels, queries)
    if method == "finetune":
        return finetune_head(support, labels, held_out=False).predict(queries)
    raise FewShotError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")


def leave_one_out(method: str, emb: np.ndarray, labels: list[str]) -> list[Prediction]:
    """Classify each sample with all the others as the support set."""
    _check_support(labels)
    if method == "finetune":
        return finetune_head(emb, labels).held_out()
    out = []
    for i in range(len(labels)):
        keep = np.arange(len(labels)) != i
        rest = [lab for j, lab in enumerate(labels) if j != i]
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
