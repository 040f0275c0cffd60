"""Cross-writer few-shot benchmark: how well does a digit network's embedding recognise new
symbols from 1, 3 or 5 samples written by someone else?

Support and queries never share a writer (or, for rendered letters, a font family).

- digits, held-out classes: the digit network trains on 5 digit classes only (several random
  splits); episodes are 5-way among the other 5 classes. With the full MNIST (its train and test
  sets are different writers) support comes from the training set and queries from the test
  set; with the offline 10,000-digit subset (no writer records) both come from one pool, and
  the output says so.
- synthetic letters, held-out classes: 5-way episodes among the 21 Greek letters other than
  alpha/beta/gamma, support rendered in the DejaVu Sans fonts and queries in the Serif fonts;
  and again with queries in the slanted, hand-like GFS Solomos and Olga script faces.
- real letters: the 27 handwritten letters of ../shared/data/greek_train (one writer) against
  rendered ones, both directions. Reported only: nothing is chosen on them.

Every candidate sees the same episodes; differences are paired (mean ± 95% CI over episodes,
pooled over the splits). Trained networks are cached in bench/.cache/fewshot.

    python bench/fewshot_transfer.py --quick --nets default --augment affine+elastic
        # one split, 40 episodes: 72 s on one core with the networks cached (load 8-9)
    python bench/fewshot_transfer.py --splits 3 --nets default,classic --augment affine+elastic \
        --sections digits   # one part of docs/fewshot.md's table; run parts as parallel processes
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine import glyph_sets  # noqa: E402
from engine.config import TrainConfig  # noqa: E402
from engine.data import glyphs  # noqa: E402
from engine.data.augment import augment  # noqa: E402
from engine.data.datasets import Dataset, DatasetInfo, load, normalize  # noqa: E402
from engine.fewshot import embed, samples  # noqa: E402
from engine.fewshot.samples import (  # noqa: E402
    GREEK,
    font_files,
    from_folder,
    synthetic_greek,
)
from engine.glyph_sets import LATIN  # noqa: E402
from engine.nn.models import Model, build_model, truncate  # noqa: E402
from engine.presets import (  # noqa: E402
    CLASSIC_CNN,
    DEFAULT_MODEL,
    FAST_CNN,
    SEED_GREEK_CNN,
    preset,
)
from engine.training.loop import train  # noqa: E402

CACHE = ROOT / "bench" / ".cache" / "fewshot"
# The real letters, and extra font folders (a machine without fonts-dejavu), can be moved.
REAL = Path(os.environ.get("BENCH_REAL", ROOT.parent / "shared" / "data" / "greek_train"))
# Glyph images per class for nets with glyphs (engine.data.glyphs.PER_CLASS unless set).
glyphs.PER_CLASS = int(os.environ.get("BENCH_GLYPHS_PER_CLASS", glyphs.PER_CLASS))
if os.environ.get("BENCH_FONTS"):
    samples.FONT_DIRS = (Path(os.environ["BENCH_FONTS"]), *samples.FONT_DIRS)
SEEN_LETTERS = ("alpha", "beta", "gamma")
SHOTS = (1, 3, 5)
WAYS = 5
QUERIES = 10  # per class and episode


@dataclass(frozen=True)
class Recipe:
    """How an episode is classified: where the network is cut and what is done to the vectors."""

    layer: str = "fc1"
    norm: str = "none"
    method: str = "centroid"
    support_aug: bool = False  # 8 distorted copies of each support image join the support set
    tta: bool = False  # a query's embedding is the mean over itself and 8 distorted copies
    stroke: bool = False  # every image's pen width set to MNIST's median first

    def name(self) -> str:
        extra = ("+support-aug" if self.support_aug else "") + ("+tta" if self.tta else "")
        extra += "+stroke-norm" if self.stroke else ""
        return f"{self.layer}/{self.norm}/{self.method}{extra}"


# --- candidates that the engine does not keep (they did not win) -----------------------------
MNIST_STROKE = 2.4  # px, the median pen width of MNIST digits at 28×28 (2.0-2.9 quartiles)


def stroke_width(image: np.ndarray) -> float:
    """Mean pen width (px) of a white-on-black 28×28 uint8 image: area / half the perimeter."""
    mask = (image > 127).astype(np.uint8)
    contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    perimeter = sum(cv2.arcLength(c, True) for c in contours)
    return 2.0 * mask.sum() / perimeter if perimeter > 0 else 0.0


def normalise_stroke(images: np.ndarray, target: float = MNIST_STROKE) -> np.ndarray:
    """Every image's pen width set to ``target`` px: dilated or eroded at 4× the resolution
    (quarter-pixel steps), then scaled back. (N, 28, 28) uint8 → the same."""
    out = np.empty_like(images)
    for i, img in enumerate(images):
        grow = int(round((target - stroke_width(img)) * 4 / 2))  # px per side at 4×
        if grow == 0:
            out[i] = img
            continue
        big = cv2.resize(img, (4 * 28, 4 * 28), interpolation=cv2.INTER_LINEAR)
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * abs(grow) + 1, 2 * abs(grow) + 1))
        big = cv2.dilate(big, k) if grow > 0 else cv2.erode(big, k)
        out[i] = cv2.resize(big, (28, 28), interpolation=cv2.INTER_AREA)
    return out


def embed_augmented(model: Model, images: np.ndarray, layer: str, copies: int = 8) -> np.ndarray:
    """Embeddings of ``copies`` affine+elastic distortions of each image: (N, copies, D)."""
    sub = truncate(model, layer).eval()
    x = normalize(images, "mnist").to(next(model.parameters()).device)
    background = float(normalize(np.zeros((1, 1), np.uint8), "mnist").min())
    g = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        rep = x.repeat_interleave(copies, 0)  # (N * copies, 1, 28, 28)
        out = [
            sub(augment(rep[i : i + 2048], ("affine", "elastic"), g, background)).flatten(1)
            for i in range(0, len(rep), 2048)
        ]
    return torch.cat(out).float().cpu().numpy().reshape(len(images), copies, -1)


def normalise(s: np.ndarray, q: np.ndarray, how: str) -> tuple[np.ndarray, np.ndarray]:
    """ "l2": unit length; "centre+l2": minus the support set's mean first (SimpleShot's
    centring, with the support set as the data at hand); "sqrt+l2": signed square root first
    (power normalisation); "none"."""
    if how.startswith("sqrt"):
        s, q = np.sign(s) * np.sqrt(np.abs(s)), np.sign(q) * np.sqrt(np.abs(q))
    if how.startswith("centre"):
        mean = s.mean(0)
        s, q = s - mean, q - mean
    if how.endswith("l2"):
        s = s / (np.linalg.norm(s, axis=-1, keepdims=True) + 1e-8)
        q = q / (np.linalg.norm(q, axis=-1, keepdims=True) + 1e-8)
    return s, q


# --- networks ---------------------------------------------------------------------------------


# Digit networks to compare: the default model (engine.presets.DEFAULT_MODEL: the classic layout
# with 32/64 filters and BatchNorm, AdamW one-cycle, Latin glyphs in handwriting fonts learned
# beside the digits), the same without the glyphs, the seed's network trained as the default
# model was before, and variants of each.
# The seed's network trained as the default model was until 2026-11-27 (the first baseline).
CLASSIC = preset("seed-mnist-cnn", epochs=8, momentum=0.9, augment="affine+elastic")
# The default model without the glyph classes (the default until the glyphs came).
DIGITS_ONLY = replace(DEFAULT_MODEL, glyphs="", model=replace(DEFAULT_MODEL.model, aux_classes=0))
BN_ADAMW = dict(lr=3e-3, optimizer="adamw", momentum=0.0, weight_decay=1e-4, schedule="onecycle")
NETS = {
    "default": DEFAULT_MODEL,
    "digits-only": DIGITS_ONLY,
    # The default with a dense layer of 128 instead of 50 (51 classes in training).
    "default-fc128": replace(DEFAULT_MODEL, model=replace(DEFAULT_MODEL.model, hidden=(128,))),
    "classic": CLASSIC,
    # The `fast` preset's network (16, 32 filters, 3x3 same, BN), 4 epochs.
    "bn-cnn": replace(CLASSIC, model=FAST_CNN, epochs=4, batch_size=128, **BN_ADAMW),
    # The seed's Keras network (32, 32 filters, one pooling, dense 128): 4608 conv features.
    "seed-greek": replace(
        CLASSIC,
        model=replace(SEED_GREEK_CNN, dropout=0.25),
        epochs=4,
        batch_size=128,
        lr=1e-3,
        optimizer="adam",
        momentum=0.0,
    ),
    "wide": replace(CLASSIC, model=replace(CLASSIC_CNN, channels=(32, 64))),  # no BN, SGD
    "wider": replace(CLASSIC, model=replace(CLASSIC_CNN, channels=(64, 128))),
    "wider-bn": replace(DIGITS_ONLY, model=replace(DIGITS_ONLY.model, channels=(64, 128))),
    "digits-only-16": replace(DIGITS_ONLY, epochs=16),
    "wide-bn-sgd": replace(DIGITS_ONLY, optimizer="sgd", momentum=0.9, lr=0.05, weight_decay=5e-4),
}


# "+latin" nets (the experiment that led to the default model's glyphs): a net without glyphs
# also learns the classes of engine.glyph_sets.LATIN rendered from the DejaVu fonts (those of the
# letter proxies' support side: not a fair test there), as plain extra classes. The default
# model renders them in handwriting fonts instead, none of which a proxy uses.
SCRIPT_FONTS = ("solomos", "olga")  # GFS Greek script faces: the "script" letter proxy


def latin_glyphs(per_class: int = 200) -> tuple[torch.Tensor, torch.Tensor]:
    """(images (N, 28, 28) uint8, labels 0..len(LATIN)-1) in DejaVu, rendered once and cached."""
    return glyphs.rendered(
        LATIN, CACHE / f"latin-{len(LATIN)}-{per_class}.npz", per_class, font_files
    )


def digit_net(
    data: Dataset, classes: tuple[int, ...], augment: str, seed: int, net: str = "classic"
) -> Model:
    """A digit network trained on ``classes`` only (cached on disk); a "+latin" net also
    learns the LATIN glyph classes in DejaVu, as extra classes after the digits. (The default
    model's own glyphs are added by the engine's training loop, after the digits too.)"""
    latin = net.endswith("+latin")
    base: TrainConfig = NETS[net.removesuffix("+latin")]
    if latin and base.glyphs:
        raise SystemExit(f"{net}: +latin is for a net that learns no glyphs")
    cfg = replace(
        base,
        model=replace(base.model, num_classes=len(classes) + (len(LATIN) if latin else 0)),
        augment=augment,
        seed=seed,
        threads=1,
        log_every=10**6,
        limit_test=500,
    )
    parts = [cfg.to_dict(), classes, data.info.source, data.info.n_train]
    parts += [glyph_sets.glyph_count(cfg.glyphs)] if cfg.glyphs else []
    key = json.dumps(parts + (["latin"] if latin else []))
    path = CACHE / f"net-{hashlib.sha1(key.encode()).hexdigest()[:16]}.pt"
    model = build_model(cfg.model)
    if path.is_file():
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return model.eval()
    keep = torch.isin(data.y_train, torch.tensor(classes))
    keep_t = torch.isin(data.y_test, torch.tensor(classes))
    remap = torch.full((10,), -1, dtype=torch.long)
    remap[list(classes)] = torch.arange(len(classes))
    x, y = data.x_train[keep], remap[data.y_train[keep]]
    if latin:
        gx, gy = latin_glyphs()
        x, y = torch.cat([x, gx]), torch.cat([y, gy + len(classes)])
    sub = Dataset(
        DatasetInfo("mnist", data.info.source, len(x), int(keep_t.sum()), "subset"),
        x,
        y,
        data.x_test[keep_t],
        remap[data.y_test[keep_t]],
    )
    t0 = time.perf_counter()
    state = train(cfg, sub)
    print(
        f"  trained {net} on digits {classes} augment={augment or 'none'} seed {seed}: "
        f"{100 * state.history[-1]['test_accuracy']:.1f}% on their test digits, "
        f"{time.perf_counter() - t0:.0f} s",
        flush=True,
    )
    CACHE.mkdir(parents=True, exist_ok=True)
    torch.save(state.model.state_dict(), path)
    return state.model.eval()


# --- pools of images: support side and query side never share a writer -----------------------


@dataclass
class Pools:
    name: str
    s_images: np.ndarray  # support pool (N, 28, 28) uint8
    s_labels: np.ndarray  # (N,) int
    q_images: np.ndarray  # query pool
    q_labels: np.ndarray
    same_pool: bool = False  # True: support and queries drawn apart from one pool per episode


def digit_pools(data: Dataset, held_out: tuple[int, ...], per_class: int = 300) -> Pools:
    rng = np.random.default_rng(0)
    xs, ys, xq, yq = [], [], [], []
    writers = not data.info.subset and "official" in data.info.split
    for c in held_out:
        tr = np.flatnonzero(data.y_train.numpy() == c)
        te = np.flatnonzero(data.y_test.numpy() == c)
        if writers:  # support: training-set writers; queries: test-set writers
            s = rng.permutation(tr)[:per_class]
            q = rng.permutation(te)[:per_class]
            xs.append(data.x_train.numpy()[s])
            xq.append(data.x_test.numpy()[q])
            ys.append(np.full(len(s), c))
            yq.append(np.full(len(q), c))
        else:
            pool = np.concatenate([data.x_train.numpy()[tr], data.x_test.numpy()[te]])
            pick = rng.permutation(len(pool))[: 2 * per_class]
            xs.append(pool[pick])
            ys.append(np.full(len(pick), c))
    if writers:
        return Pools(
            "digits", np.concatenate(xs), np.concatenate(ys), np.concatenate(xq), np.concatenate(yq)
        )
    x, y = np.concatenate(xs), np.concatenate(ys)
    return Pools("digits", x, y, x, y, same_pool=True)


def letter_pools(per_class: int = 20, script: bool = False) -> Pools | None:
    """Held-out Greek letters: support in the Sans fonts, queries in the Serif ones (``script``:
    queries in the GFS script faces, a slanted hand-like style)."""
    fonts = font_files()
    serif = [f for f in fonts if "Serif" in f.name or "Math" in f.name]
    sans = [f for f in fonts if f not in serif]
    serif = glyphs.fonts_in(SCRIPT_FONTS) if script else serif
    if not serif:  # `make setup` installs them (Makefile: DEV_PACKAGES)
        print("script letters: no GFS Solomos/Olga fonts (fonts-gfs-solomos, fonts-gfs-olga)")
        return None
    letters = [k for k in GREEK if k not in SEEN_LETTERS]
    tag = "script" if script else "serif"
    path = CACHE / f"letters-{len(sans)}-{len(serif)}-{per_class}-{tag}.npz"
    if not path.is_file():
        s = synthetic_greek(letters, per_class, seed=1, fonts=sans)
        q = synthetic_greek(letters, per_class, seed=2, fonts=serif)
        CACHE.mkdir(parents=True, exist_ok=True)
        np.savez(path, xs=s.images, ys=s.labels, xq=q.images, yq=q.labels)
    z = np.load(path)
    idx = {k: i for i, k in enumerate(letters)}
    return Pools(
        f"letters-{tag}",
        z["xs"],
        np.array([idx[v] for v in z["ys"]]),
        z["xq"],
        np.array([idx[v] for v in z["yq"]]),
    )


def real_pools(per_class: int = 30) -> tuple[Pools, Pools] | None:
    """(synthetic support → real queries, real support → synthetic queries) for α, β, γ."""
    if not REAL.is_dir():
        return None
    real = from_folder(REAL)
    syn = synthetic_greek(list(SEEN_LETTERS), per_class, seed=3)
    idx = {k: i for i, k in enumerate(SEEN_LETTERS)}
    xr, yr = real.images, np.array([idx[v] for v in real.labels])
    xs, ys = syn.images, np.array([idx[v] for v in syn.labels])
    return Pools("synthetic→real", xs, ys, xr, yr), Pools("real→synthetic", xr, yr, xs, ys)


# --- episodes -----------------------------------------------------------------------------------


def episodes(p: Pools, ways: int, shots: int, n: int, seed: int) -> list:
    """``n`` episodes: (support indices, support labels, query indices, query labels)."""
    rng = np.random.default_rng(seed)
    classes = np.unique(p.s_labels)
    out = []
    for _ in range(n):
        chosen = rng.choice(classes, size=min(ways, len(classes)), replace=False)
        si, sl, qi, ql = [], [], [], []
        for k, c in enumerate(chosen):
            s_pool = rng.permutation(np.flatnonzero(p.s_labels == c))
            if p.same_pool:
                q_pool = s_pool[shots:]
            else:
                q_pool = rng.permutation(np.flatnonzero(p.q_labels == c))
            si += list(s_pool[:shots])
            sl += [k] * shots
            qi += list(q_pool[:QUERIES])
            ql += [k] * len(q_pool[:QUERIES])
        out.append((np.array(si), np.array(sl), np.array(qi), np.array(ql)))
    return out


class Embeddings:
    """Every pool image's embedding at each layer, plain and distorted, computed once per net."""

    def __init__(self, model: Model, p: Pools):
        self.model, self.p, self.cache = model, p, {}

    def get(self, layer: str, side: str, aug: bool, stroke: bool = False) -> np.ndarray:
        key = (layer, side, aug, stroke)
        if key not in self.cache:
            imgs = self.p.s_images if side == "s" else self.p.q_images
            if stroke:
                imgs = normalise_stroke(imgs)
            if layer == "pixels":  # the reference: no network at all
                self.cache[key] = normalize(imgs, "mnist").flatten(1).numpy()
            elif layer.endswith("~blur"):  # feature maps smoothed over 3x3 before flattening
                sub = truncate(self.model, layer[:-5]).eval()
                with torch.inference_mode():
                    fmap = sub(normalize(imgs, "mnist").to(next(self.model.parameters()).device))
                    fmap = F.avg_pool2d(fmap, 3, 1, 1, count_include_pad=False)
                self.cache[key] = fmap.flatten(1).cpu().numpy()
            elif aug:
                self.cache[key] = embed_augmented(self.model, imgs, layer)
            else:
                self.cache[key] = embed.embed(self.model, imgs, "mnist", layer, l2=False)
        return self.cache[key]


def run_episode(e: Embeddings, r: Recipe, ep) -> float:
    si, sl, qi, ql = ep
    s = e.get(r.layer, "s", False, r.stroke)[si]
    labels = [str(v) for v in sl]
    q = e.get(r.layer, "q", False, r.stroke)[qi]
    if r.support_aug:
        extra = e.get(r.layer, "s", True)[si]  # (S, 8, D)
        s = np.concatenate([s, extra.reshape(-1, extra.shape[-1])])
        labels = labels + [lab for lab in labels for _ in range(extra.shape[1])]
    if r.tta:
        q = (q + e.get(r.layer, "q", True)[qi].sum(1)) / 9
    s, q = normalise(s, q, r.norm)
    preds = embed.classify(r.method, s, labels, q)
    return float(np.mean([pr.label == str(t) for pr, t in zip(preds, ql)]))


def evaluate(nets_pools: list[tuple[Model, Pools]], recipes: list[Recipe], shots: int, n: int):
    """Per recipe: accuracies of every episode (same episodes for every recipe)."""
    accs = {r: [] for r in recipes}
    for split, (model, p) in enumerate(nets_pools):
        e = Embeddings(model, p)
        for ep in episodes(p, WAYS, shots, n, seed=1000 * split + shots):
            for r in recipes:
                accs[r].append(run_episode(e, r, ep))
    return {r: np.array(v) for r, v in accs.items()}


def ci(a: np.ndarray) -> str:
    half = 1.96 * a.std(ddof=1) / np.sqrt(len(a)) if len(a) > 1 else 0.0
    return f"{100 * a.mean():5.1f} ± {100 * half:3.1f}"


def table(title: str, results: dict[int, dict[Recipe, np.ndarray]], base: Recipe) -> list[dict]:
    print(f"\n{title}")
    head = " | ".join(f"{k}-shot (Δ vs base)".ljust(28) for k in results)
    print(f"{'candidate':<44} | {head}")
    rows = []
    for r in next(iter(results.values())):
        cells, row = [], {"candidate": r.name()}
        for k, res in results.items():
            d = res[r] - res[base]
            cells.append(f"{ci(res[r])} ({ci(d).replace(' ', '')})".ljust(28))
            row[f"{k}-shot"] = float(res[r].mean())
            row[f"{k}-shot delta"] = float(d.mean())
            row[f"{k}-shot delta ci"] = float(1.96 * d.std(ddof=1) / np.sqrt(len(d)))
        print(f"{r.name():<44} | " + " | ".join(cells))
        rows.append(row)
    return rows


SECTIONS = ("digits", "letters", "script", "real")
RECIPES = [
    Recipe(),  # the baseline: every row's difference is to it, episode by episode
    Recipe(method="nn"),
    Recipe(method="finetune"),
    Recipe(norm="l2"),
    Recipe(norm="l2", method="nn"),
    Recipe(layer="flatten"),
    Recipe(layer="flatten", norm="l2"),
    Recipe(layer="flatten", norm="l2", method="nn"),
    Recipe(layer="flatten", norm="centre+l2"),
    Recipe(layer="flatten", norm="sqrt+l2"),
    Recipe(layer="flatten", norm="l2", stroke=True),
    Recipe(layer="flatten", norm="l2", support_aug=True),
    Recipe(layer="flatten", norm="l2", tta=True),
    Recipe(layer="act2~blur", norm="l2"),
    Recipe(layer="act1", norm="l2"),
    Recipe(layer="pixels"),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="one split, 40 episodes")
    ap.add_argument("--episodes", type=int, default=100, help="episodes per shot and split")
    ap.add_argument("--splits", type=int, default=3, help="random 5/5 digit class splits")
    ap.add_argument(
        "--augment", default=",affine+elastic",
        help="comma-separated training augmentations to compare ('' = none): "
        "affine, elastic, stroke joined by '+'",
    )  # fmt: skip
    ap.add_argument(
        "--nets",
        default="default,classic",
        help=f"comma-separated: {', '.join(NETS)}; NAME+latin (a net without glyphs) also "
        f"learns the default model's {len(LATIN)} Latin glyph classes, rendered in DejaVu",
    )
    ap.add_argument("--sections", default=",".join(SECTIONS), help="which proxies to run")
    ap.add_argument("--train-only", action="store_true", help="train (and cache) the nets only")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument(
        "--recipes",
        help="comma-separated candidate names to run (e.g. flatten/l2/nn); the baseline "
        f"{RECIPES[0].name()} always runs. Default: all",
    )
    a = ap.parse_args()
    recipes = [r for r in RECIPES if not a.recipes or r.name() in a.recipes.split(",")]
    recipes = recipes if recipes and recipes[0] == RECIPES[0] else [RECIPES[0], *recipes]
    torch.set_num_threads(1)
    n, splits = (40, 1) if a.quick else (a.episodes, a.splits)
    sections = set(a.sections.split(","))
    data = load("mnist")
    writers = not data.info.subset and "official" in data.info.split
    print(f"MNIST: {data.info.describe()}")
    print(
        "digit episodes: support from the training set, queries from the test set (other writers)"
        if writers
        else "digit episodes: one pool (this MNIST subset records no writers; support and "
        "queries may share one)"
    )
    rng = np.random.default_rng(0)
    class_splits = [tuple(sorted(rng.permutation(10)[:5].tolist())) for _ in range(splits)]
    out: dict = {"writers_disjoint": writers, "mnist": data.info.describe(), "tables": {}}
    letters = letter_pools() if "letters" in sections else None
    script = letter_pools(script=True) if "script" in sections else None
    real = real_pools() if "real" in sections else None
    if "real" in sections and real is None:
        print(f"real letters: {REAL} is missing; that proxy is skipped")
    for net, aug in [(x, y) for x in a.nets.split(",") for y in a.augment.split(",")]:
        tag = f"net={net} augment={aug or 'none'}"
        print(f"\n=== {tag} ===", flush=True)
        digit_np, letter_np, script_np, real_np = [], [], [], []
        for seed, seen in enumerate(class_splits, start=1):
            if "digits" in sections:
                held = tuple(c for c in range(10) if c not in seen)
                digit_np.append((digit_net(data, seen, aug, seed, net), digit_pools(data, held)))
            if {"letters", "script", "real"} & sections:
                full = digit_net(data, tuple(range(10)), aug, seed, net)
                letter_np += [(full, letters)] if letters else []
                script_np += [(full, script)] if script else []
                real_np += [(full, real)] if real else []
        if a.train_only:
            continue
        parts = [("digits, held-out classes (5-way)", digit_np, n)]
        parts.append(("letters, held-out, Sans support vs Serif queries (5-way)", letter_np, n))
        parts.append(("letters, held-out, Sans support vs script queries (5-way)", script_np, n))
        for d, name in enumerate(("synthetic→real", "real→synthetic")):
            nps = [(m, pr[d]) for m, pr in real_np]
            parts.append((f"real letters, {name} (3-way, report only)", nps, n // 2))
        for title, nps, count in parts:
            if nps:
                res = {k: evaluate(nps, recipes, k, count) for k in SHOTS}
                key = f"{title} | {tag}"
                out["tables"][key] = table(key, res, recipes[0])
    if a.json:
        a.json.write_text(json.dumps(out, indent=1))
    print(json.dumps({"writers_disjoint": writers, "tables": len(out["tables"])}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
