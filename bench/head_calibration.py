"""Is the fine-tuned head right, and is its confidence honest? Accuracy and expected calibration
error (ECE, 10 bins) of the Greek page's head against nearest neighbour and nearest class mean,
on the proxies of bench/fewshot_transfer.py (support and queries never share a writer or a font
family; letters are never alpha/beta/gamma, except in the report-only real-letter rows).

Candidates:
- ``old-head``: the head the page had until issue 4 (a linear layer on standardised
  embeddings, 100 Adam epochs at lr 0.05, weight decay 1e-4, confidence = its softmax);
- ``cos/E/LR/WD``: engine.fewshot.embed.finetune_head, a cosine classifier started at the class
  means, E epochs at Adam lr LR, pulled towards the means with weight WD (E = 0: nearest class
  mean by angle); its confidence softmax(scale × cosine) with the page's scale (``+page``:
  engine.fewshot.embed.SCALE), a fixed one (``+sS``), or one fitted to each support set by
  leave-one-out (``+loo``: the least negative log-likelihood of the held-out answers, when
  every class has LOO_MIN samples; else the page's).

Each split trains its own digit network (seed = split); every candidate sees the same episodes.
Accuracy and ECE are pooled over a split's episodes; the table gives mean ± sd over splits.

    OMP_NUM_THREADS=1 python bench/head_calibration.py          # docs/fewshot.md's table
    OMP_NUM_THREADS=1 python bench/head_calibration.py --splits 2 --shots 1,3,5 \
        --sections digits,letters --scales 10,15,20,30 \
        --heads 0/0.01/0,30/0.01/0.01,100/0.05/0.0001,100/0.05/0,300/0.05/0,100/0.05/0.01
        # the choice of the head's settings and default scale
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fewshot_transfer as ft  # noqa: E402  (puts the repository on sys.path too)

from engine.data.datasets import load  # noqa: E402
from engine.fewshot import embed  # noqa: E402

NET = "default"
AUGMENT = ft.NETS[NET].augment  # the page's default model, as `make run` trains it


def old_head(support: np.ndarray, y: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """The page's head before issue 4: (Q, K) probabilities."""
    mean, scale = support.mean(0), support.std(0) + 1e-6
    z = torch.from_numpy((support - mean) / scale).float()
    g = torch.Generator().manual_seed(0)
    layer = nn.Linear(z.shape[1], int(y.max()) + 1)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(layer.weight.shape, generator=g) * 0.01)
        layer.bias.zero_()
    opt = torch.optim.Adam(layer.parameters(), lr=0.05, weight_decay=1e-4)
    target = torch.from_numpy(y)
    for _ in range(100):
        loss = F.cross_entropy(layer(z), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.inference_mode():
        return layer(torch.from_numpy((queries - mean) / scale).float()).softmax(1).numpy()


LOO_MIN = 3  # samples per class for +loo to fit a scale (with 2 it did worse than the default)
SCALES = np.geomspace(1.0, 100.0, 61)  # the scales +loo chooses from


def fit_scale(cosines: np.ndarray, truth: np.ndarray) -> float:
    """Temperature scaling: the scale in SCALES with the least negative log-likelihood of
    ``truth`` under softmax(scale × cosines)."""
    logp = torch.from_numpy(SCALES[:, None, None] * cosines[None]).log_softmax(2)  # (S, M, K)
    nll = -logp[:, np.arange(len(truth)), truth].mean(1)
    return float(SCALES[int(nll.argmin())])


def loo_scale(h: embed.Head, y: np.ndarray) -> float:
    """The scale that fits the head's leave-one-out answers (the samples whose class kept
    another sample), or the page's with fewer than LOO_MIN samples in a class."""
    if np.bincount(y).min() < LOO_MIN:
        return h.scale
    fair = np.isfinite(h.held_out_cosines[np.arange(len(y)), y])
    return fit_scale(h.held_out_cosines[fair], y[fair])


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def run(e: ft.Embeddings, layer: str, ep, heads: list[tuple], scales: list[float]) -> dict:
    """One episode: per candidate, (confidence, right) of each query."""
    si, sl, qi, ql = ep
    s = e.get(layer, "s", False)[si]
    q = e.get(layer, "q", False)[qi]
    s, q = ft.normalise(s, q, "l2")  # as embed.embed gives them to the page
    labels = [str(v) for v in sl]
    out = {}
    for name, method in (("nn", "nn"), ("centroid", "centroid")):
        said = np.array([int(p.label) for p in embed.classify(method, s, labels, q)])
        out[name] = (np.full(len(ql), np.nan), said == ql)
    p = old_head(s, sl, q)
    out["old-head"] = (p.max(1), p.argmax(1) == ql)
    for epochs, lr, wd in heads:
        h = embed.finetune_head(s, labels, epochs, lr, wd)
        cos = h.cosines(q)
        k = np.array([int(c) for c in h.classes])[cos.argmax(1)]
        tag = f"cos/{epochs}/{lr:g}/{wd:g}"
        out[f"{tag}+page"] = (softmax(h.scale * cos).max(1), k == ql)
        y = np.array([h.classes.index(c) for c in labels])
        out[f"{tag}+loo"] = (softmax(loo_scale(h, y) * cos).max(1), k == ql)
        for sc in scales:
            out[f"{tag}+s{sc:g}"] = (softmax(sc * cos).max(1), k == ql)
    return out


def score(answers: list[tuple[np.ndarray, np.ndarray]]) -> tuple[float, float]:
    """(accuracy, ECE) of a candidate's answers pooled over episodes; ECE is NaN without a
    confidence."""
    conf = np.concatenate([c for c, _ in answers])
    right = np.concatenate([r for _, r in answers])
    ece = np.nan if np.isnan(conf).any() else embed.calibration_error(conf, right)
    return float(right.mean()), ece


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--splits", type=int, default=3, help="digit networks (seeds 1..N)")
    ap.add_argument("--episodes", type=int, default=40, help="episodes per shot and split")
    ap.add_argument("--shots", default="1,2,3,5", help="samples per class, comma-separated")
    ap.add_argument("--sections", default=",".join(ft.SECTIONS), help="which proxies to run")
    ap.add_argument(
        "--heads", default="0/0.05/0,100/0.05/0.01",
        help="cosine heads EPOCHS/LR/WD, comma-separated",
    )  # fmt: skip
    ap.add_argument("--scales", default="10,20", help="fixed confidence scales to compare")
    a = ap.parse_args()
    torch.set_num_threads(1)
    heads = [(int(e), float(lr), float(wd)) for e, lr, wd in
             (h.split("/") for h in a.heads.split(","))]  # fmt: skip
    scales = [float(x) for x in a.scales.split(",") if x]
    sections = a.sections.split(",")
    data = load("mnist")
    rng = np.random.default_rng(0)  # the class splits of bench/fewshot_transfer.py
    class_splits = [tuple(sorted(rng.permutation(10)[:5].tolist())) for _ in range(a.splits)]
    pools = {
        "letters": ft.letter_pools() if "letters" in sections else None,
        "script": ft.letter_pools(script=True) if "script" in sections else None,
    }
    real = ft.real_pools() if "real" in sections else None
    if real:
        pools["synthetic→real"], pools["real→synthetic"] = real
    print(f"net={NET} augment={AUGMENT} splits={a.splits} episodes={a.episodes} shots={a.shots}")
    for section in [s for s in sections if s != "real"] + (["synthetic→real"] if real else []):
        for shots in (int(k) for k in a.shots.split(",")):
            ways = 3 if "real" in section else ft.WAYS
            per_split = []
            for split, seen in enumerate(class_splits, start=1):
                if section == "digits":
                    held = tuple(c for c in range(10) if c not in seen)
                    model = ft.digit_net(data, seen, AUGMENT, split, NET)
                    p = ft.digit_pools(data, held)
                else:
                    model, p = (
                        ft.digit_net(data, tuple(range(10)), AUGMENT, split, NET),
                        pools[section],
                    )
                e, layer = ft.Embeddings(model, p), model.embedding_layer()
                got: dict[str, list] = {}
                for ep in ft.episodes(p, ways, shots, a.episodes, seed=1000 * split + shots):
                    for name, (c, r) in run(e, layer, ep, heads, scales).items():
                        got.setdefault(name, []).append((c, r))
                per_split.append({name: score(v) for name, v in got.items()})
            print(f"\n{section}, {ways}-way {shots}-shot ({a.splits} splits × {a.episodes} "
                  "episodes; mean ± sd over splits)")  # fmt: skip
            print(f"{'candidate':<28} {'accuracy %':>14} {'ECE %':>14}")
            for name in per_split[0]:
                acc = np.array([d[name][0] for d in per_split]) * 100
                ece = np.array([d[name][1] for d in per_split]) * 100
                ece_s = "—" if np.isnan(ece).any() else f"{ece.mean():5.1f} ± {ece.std():4.1f}"
                print(f"{name:<28} {acc.mean():6.1f} ± {acc.std():4.1f} {ece_s:>14}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
