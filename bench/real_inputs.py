"""Real inputs: how well the default model reads handwriting from writers and fonts it never saw,
as uploaded and as phone photos, and what a photo costs to prepare.

Proxies (no shared letter chooses anything here):
- digits, as the images are: the MNIST test split of the data in use; scikit-learn's UCI digits
  (8×8, 43 writers, a hard low-resolution proxy, values 0-16); digits rendered from handwriting
  fonts that no training uses (Dancing Script, Ecolier, GFS Solomos and Olga);
- each of them again as a phone photo (``engine.data.photos``: paper, perspective, light, shadow,
  desk, blur, noise, JPEG), through ``engine.data.preprocess`` as an upload is;
- the Webcam page's photo path (``LiveRecognizer.process_photo``): one-digit photos (one box? the
  right label?) and sheets of 8 digits (a box and the right label for each);
- letters, few-shot on the default model's embedding (nearest neighbour, unit vectors):
  another writer's α/β/γ: the shared 27 letters as support, α/β/γ rendered in the script fonts
  and photographed as queries; a writer's own letters: 3 per class of the 27 as support, the
  rest as queries (random draws); unseen letters: 5-way 3-shot episodes over the 21 other Greek
  letters, DejaVu support, script-font photos as queries.

Per row: accuracy with its 95% Wilson interval. Then the preprocessing time per megapixel.
Everything is drawn from ``--seed``; one thread. Last line JSON.

    python bench/real_inputs.py [--seed 0] [--n 300] [--quick] [--run-dir RUN]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import load1  # noqa: E402
from engine.config import DEFAULT_RUN_ID  # noqa: E402
from engine.data import photos  # noqa: E402
from engine.data.datasets import CLASSES, ImageError, load, normalize  # noqa: E402
from engine.data.preprocess import preprocess  # noqa: E402
from engine.fewshot import embed  # noqa: E402
from engine.fewshot.samples import GREEK, from_folder, synthetic_glyphs, synthetic_greek  # noqa: E402
from engine.nn import live, live_bench  # noqa: E402
from engine.nn.models import probabilities  # noqa: E402
from engine.runs.store import load_model, runs_dir  # noqa: E402

REAL = Path(os.environ.get("BENCH_REAL", ROOT.parent / "shared" / "data" / "greek_train"))
UNSEEN_FONTS = [  # handwriting-like faces that no training set is rendered from
    "/usr/share/fonts/opentype/dancingscript/DancingScript-Regular.otf",
    "/usr/share/fonts/opentype/dancingscript/DancingScript-Bold.otf",
    "/usr/share/fonts/truetype/ecolier-court/Ecolier-court.ttf",
    "/usr/share/fonts/opentype/solomos/GFSSolomos.otf",
    "/usr/share/fonts/opentype/olga/GFSOlga.otf",
]
SCRIPT_GREEK = UNSEEN_FONTS[3:]


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval of k successes in n."""
    if n == 0:
        return 0.0, 0.0
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return c - h, c + h


def row(name: str, k: int, n: int, extra: str = "") -> dict:
    lo, hi = wilson(k, n)
    pct = 100 * k / max(n, 1)
    print(f"  {name:<58} {pct:5.1f}%  [{100 * lo:4.1f}, {100 * hi:4.1f}]  n={n}{extra}")
    return {"name": name, "right": k, "n": n, "accuracy": k / max(n, 1), "ci95": [lo, hi]}


class Timer:
    """Preprocessing seconds and megapixels of every photo."""

    def __init__(self) -> None:
        self.seconds, self.megapixels = [], []

    def prepare(self, blob: bytes, mp: float) -> np.ndarray:
        t0 = time.perf_counter()
        img = preprocess(blob).image
        self.seconds.append(time.perf_counter() - t0)
        self.megapixels.append(mp)
        return img


def fonts_here(paths: list[str]) -> list[Path]:
    return [Path(p) for p in paths if Path(p).is_file()]


def digit_sources(n: int, rng: np.random.Generator) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Name → (uint8 images, int labels) of the digit proxies, as a user would upload them."""
    ds = load("mnist")
    idx = rng.choice(len(ds.y_test), min(n, len(ds.y_test)), replace=False)
    out = {f"MNIST test split ({ds.info.source.split(' (')[0]})": (
        ds.x_test.numpy()[idx], ds.y_test.numpy()[idx])}  # fmt: skip
    try:
        from sklearn.datasets import load_digits

        uci = load_digits()
        k = rng.choice(len(uci.target), min(n, len(uci.target)), replace=False)
        img = np.clip(uci.images[k] * 16, 0, 255).astype(np.uint8)  # 0-16 → 0-255
        out["UCI digits 8×8, 43 writers (scikit-learn)"] = (img, uci.target[k])
    except ImportError:
        print("  (scikit-learn is not installed: no UCI digits; `make setup` installs it)")
    fonts = fonts_here(UNSEEN_FONTS)
    if fonts:
        per = max(1, n // 10)
        s = synthetic_glyphs(
            {str(d): str(d) for d in range(10)}, per, int(rng.integers(1 << 30)), fonts
        )
        out[f"digits in {len(fonts)} unseen handwriting fonts"] = (
            s.images, np.array([int(v) for v in s.labels]))  # fmt: skip
    return out


def as_photo(img: np.ndarray, rng: np.random.Generator) -> bytes:
    """A 28×28 (or 8×8) white-on-black image → JPEG bytes of a 768×1024 phone photo."""
    if img.shape != (28, 28):  # the UCI digits: 8 px → MNIST's 20 px box in 28
        big = cv2.resize(img, (20, 20), interpolation=cv2.INTER_CUBIC)
        img = np.zeros((28, 28), np.uint8)
        img[4:24, 4:24] = big
    rgb = photos.photograph(img, rng, (768, 1024))
    return photos.jpeg(rgb, int(rng.integers(60, 93)))


CALIBRATION: list[tuple[float, bool]] = []  # (top probability, right?) of every digit read


def read(model, cfg, images: np.ndarray, labels: np.ndarray) -> int:
    """How many ``images`` the model reads as ``labels``; every answer's confidence is kept."""
    if len(images) == 0:
        return 0
    with torch.inference_mode():
        conf, pred = probabilities(cfg.model, model(normalize(images, cfg)).float()).max(1)
    right = pred.numpy() == labels
    CALIBRATION.extend(zip(conf.tolist(), right.tolist()))
    return int(right.sum())


def calibration_table() -> list[dict]:
    """For each "not sure" threshold: the share of answers given, how often those are right,
    and how often the withheld ones would have been."""
    conf = np.array([c for c, _ in CALIBRATION])
    right = np.array([r for _, r in CALIBRATION])
    print(f"confidence threshold (all {len(conf)} digit answers above):")
    out = []
    for t in (0.5, 0.6, 0.7, 0.8, 0.9, 0.95):
        sure = conf >= t
        acc = right[sure].mean() if sure.any() else float("nan")
        unsure = right[~sure].mean() if (~sure).any() else float("nan")
        print(f"  not sure below {t:.2f}: {100 * sure.mean():5.1f}% answered, {100 * acc:5.1f}% "
              f"of them right; the rest {100 * unsure:5.1f}% right")  # fmt: skip
        out.append({"threshold": t, "answered": float(sure.mean()), "right": float(acc)})
    return out


def digits_section(model, cfg, n: int, rng, timer: Timer) -> list[dict]:
    rows = []
    print("digits (the default model's 10 classes):")
    for name, (images, labels) in digit_sources(n, rng).items():
        ready, ok = [], []
        for img in images:  # as uploaded: the very image, through the preprocessing
            try:
                ready.append(preprocess(img).image)
                ok.append(True)
            except ImageError:
                ok.append(False)
        right = read(model, cfg, np.stack(ready), labels[np.array(ok)]) if ready else 0
        rows.append(row(f"{name}, as is", right, len(labels)))
        shots = []
        for img in images:
            blob = as_photo(img, rng)
            try:
                shots.append(timer.prepare(blob, 768 * 1024 / 1e6))
            except ImageError:
                shots.append(None)
        got = [i for i, s in enumerate(shots) if s is not None]
        right = read(model, cfg, np.stack([shots[i] for i in got]), labels[got]) if got else 0
        rows.append(row(f"{name}, phone photo", right, len(labels)))
    return rows


def photo_path_section(model, cfg, n: int, rng) -> list[dict]:
    """The Webcam page's photo path on photos of one digit and on sheets of 8."""
    print("photo path (boxes and labels, as the Webcam page's photo mode):")
    ds = load("mnist")
    names = CLASSES["mnist"]
    rec = live.LiveRecognizer(live.net_classifier(model, cfg))
    one, right = 0, 0
    idx = rng.choice(len(ds.y_test), n, replace=False)
    for i in idx:
        rgb = photos.photograph(ds.x_test[i].numpy(), rng, (768, 1024))
        blob = photos.jpeg(rgb, int(rng.integers(60, 93)))
        dets = rec.process_photo(blob)[1]
        one += len(dets) == 1
        right += len(dets) == 1 and dets[0].label == names[int(ds.y_test[i])]
    rows = [row("one-digit photos: exactly one box", one, n)]
    rows.append(row("one-digit photos: one box, right label", right, n))
    sheets, found, labelled, extra = max(4, n // 16), 0, 0, 0
    for _ in range(sheets):
        k = rng.choice(len(ds.y_test), 8, replace=False)
        labels = [names[int(ds.y_test[j])] for j in k]
        rgb, truth = photos.sheet(ds.x_test.numpy()[k], labels, rng, (1024, 768))
        f, r, e = live_bench.matches(rec.process_photo(photos.jpeg(rgb, 85))[1], truth)
        found, labelled, extra = found + f, labelled + r, extra + e
    rows.append(row(f"sheets of 8 digits ({sheets}): digit found", found, 8 * sheets))
    rows.append(row(f"sheets of 8 digits ({sheets}): found, right label", labelled, 8 * sheets,
                    f", {extra} extra boxes"))  # fmt: skip
    return rows


def photographed(images: np.ndarray, rng) -> np.ndarray:
    """Each image photographed and prepared; one the preprocessing refuses (no ink found)
    becomes a blank input, which no method reads right."""
    out = []
    for img in images:
        try:
            out.append(preprocess(as_photo(img, rng)).image)
        except ImageError:
            out.append(np.zeros((28, 28), np.uint8))
    return np.stack(out)


def letters_section(model, cfg, rng, episodes: int) -> list[dict]:
    print("letters, few-shot (nearest neighbour on the default embedding):")
    rows, layer = [], model.embedding_layer()
    script = fonts_here(SCRIPT_GREEK)

    def nn(s_img, s_lab, q_img) -> list[str]:
        s, q = embed.embed(model, s_img, cfg, layer), embed.embed(model, q_img, cfg, layer)
        return [p.label for p in embed.classify("nn", s, list(s_lab), q)]

    real = from_folder(REAL) if REAL.is_dir() else None
    if real is not None and script:
        q = synthetic_greek(["alpha", "beta", "gamma"], 30, int(rng.integers(1 << 30)), script)
        got = nn(real.images, real.labels, photographed(q.images, rng))
        rows.append(row("another writer's α/β/γ: the shared 27 → script-font photos",
                        sum(g == t for g, t in zip(got, q.labels)), len(q.labels)))  # fmt: skip
    if real is not None:
        right = total = 0
        labels = np.array(real.labels)
        for _ in range(episodes):
            s = np.concatenate(
                [rng.choice(np.flatnonzero(labels == c), 3, replace=False) for c in set(labels)]
            )
            q = np.setdiff1d(np.arange(len(labels)), s)
            got = nn(real.images[s], labels[s], real.images[q])
            right += sum(g == t for g, t in zip(got, labels[q]))
            total += len(q)
        rows.append(row(f"a writer's own letters: 3 per class → the rest ({episodes} draws)",
                        right, total))  # fmt: skip
    if script:
        unseen = [g for g in GREEK if g not in ("alpha", "beta", "gamma")]
        right = total = 0
        for _ in range(episodes):
            ways = list(rng.choice(unseen, 5, replace=False))
            seed = int(rng.integers(1 << 30))
            s = synthetic_greek(ways, 3, seed)
            q = synthetic_greek(ways, 4, seed + 1, script)
            got = nn(s.images, s.labels, photographed(q.images, rng))
            right += sum(g == t for g, t in zip(got, q.labels))
            total += len(q.labels)
        rows.append(row(f"unseen letters, 5-way 3-shot: DejaVu → script photos ({episodes})",
                        right, total))  # fmt: skip
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run-dir", type=Path, help="default: the default model (trained if missing)")
    p.add_argument("--n", type=int, default=300, help="images per digit source (default 300)")
    p.add_argument("--episodes", type=int, default=20, help="letter draws and episodes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="100 images per source, 8 episodes")
    args = p.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    n, episodes = (100, 8) if args.quick else (args.n, args.episodes)
    run_dir = args.run_dir or runs_dir() / DEFAULT_RUN_ID
    if args.run_dir is None and not (run_dir / "checkpoint.pt").is_file():
        subprocess.run([sys.executable, "-m", "engine", "default-model"], check=True, cwd=ROOT)
    model, cfg = load_model(run_dir)
    load_before, t0 = load1(), time.perf_counter()
    print(f"model {run_dir.name}; seed {args.seed}; load average (1 min) {load_before:.2f}")
    rng = np.random.default_rng(args.seed)
    timer = Timer()
    rows = digits_section(model, cfg, n, rng, timer)
    rows += photo_path_section(model, cfg, n, rng)
    rows += letters_section(model, cfg, rng, episodes)
    calibration = calibration_table()
    per_mp = 1000 * float(np.median(np.array(timer.seconds) / np.array(timer.megapixels)))
    print(f"preprocessing a 0.8 MP JPEG photo: median {per_mp:.1f} ms per megapixel, 1 thread "
          f"({len(timer.seconds)} photos)")  # fmt: skip
    load_after = load1()
    print(f"load average (1 min) {load_before:.2f} before, {load_after:.2f} after, "
          f"{time.perf_counter() - t0:.0f} s")  # fmt: skip
    print(json.dumps({"bench": "real_inputs", "seed": args.seed, "model": run_dir.name,
                      "rows": rows, "calibration": calibration, "preprocess_ms_per_mp": per_mp,
                      "load_before": load_before, "load_after": load_after}))  # fmt: skip


if __name__ == "__main__":
    main()
