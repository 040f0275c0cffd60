"""Preprocessing a phone photo costs a small multiple of decoding it, whatever its megapixels.

For each size (12 MP and 40 MP, the upload limit) and format (JPEG as phones save, PNG as
screenshots and scans are), one synthetic photo of a handwritten digit on unevenly lit paper
(``engine.data.photos``). Two contenders, alternated 3 times (bench/common.py), each the median of
``--calls`` calls:

- decode: PIL opens the file and decodes every pixel (``Image.open(...).load()``), the least any
  reader of the file must do;
- preprocess: ``engine.data.preprocess.preprocess``, file bytes → the 28×28 input.

Prints preprocess / decode per photo (the target is ≤ 4×) and seconds per megapixel; last line
JSON. On one thread (``--threads``), as a busy server has it.

    python bench/preprocess_speed.py [--calls 3] [--quick]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import alternate  # noqa: E402
from engine.data import datasets, photos  # noqa: E402
from engine.data.preprocess import preprocess  # noqa: E402

SIZES = {"12 MP": (4000, 3000), "40 MP": (7296, 5472)}


def big_photo(size: tuple[int, int], fmt: str, seed: int = 0) -> bytes:
    """A synthetic phone photo of one MNIST digit at ``size``: drawn at 1024 px, enlarged, with
    full-resolution sensor noise (so the file holds as much detail as a real one)."""
    rng = np.random.default_rng(seed)
    digit = datasets.load("mnist").x_test[0].numpy()
    small = photos.photograph(digit, rng, (1024, 768))
    rgb = cv2.resize(small, size, interpolation=cv2.INTER_CUBIC).astype(np.int16)
    rgb += rng.integers(-6, 7, (size[1], size[0], 1), dtype=np.int16)
    rgb = np.clip(rgb, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buf.getvalue()


def timed(fn, calls: int) -> dict:
    fn()  # warm-up
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return {"seconds": float(np.median(times))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=3, help="timed calls per measurement")
    p.add_argument("--threads", type=int, default=1, help="OpenCV threads")
    p.add_argument("--quick", action="store_true", help="JPEG only, 1 call, 2 rounds")
    args = p.parse_args()
    cv2.setNumThreads(args.threads)
    calls, repeats = (1, 2) if args.quick else (args.calls, 3)
    fmts = ["JPEG"] if args.quick else ["JPEG", "PNG"]
    out = {}
    for label, size in SIZES.items():
        for fmt in fmts:
            blob = big_photo(size, fmt)
            name = f"{label} {fmt}"
            print(f"{name}: {size[0]}×{size[1]}, {len(blob) / 1e6:.1f} MB")
            cmp = alternate(
                {
                    "decode": lambda b=blob: timed(lambda: Image.open(io.BytesIO(b)).load(), calls),
                    "preprocess": lambda b=blob: timed(lambda: preprocess(b), calls),
                },
                repeats=repeats,
                show=lambda r: f"{r['seconds'] * 1000:.0f} ms",
            )
            ratio = cmp.ratio("preprocess", "decode")
            mp = size[0] * size[1] / 1e6
            pre = cmp.median("preprocess")
            print(
                f"  {name}: preprocess {pre * 1000:.0f} ms = {ratio:.2f}× decode "
                f"({cmp.median('decode') * 1000:.0f} ms), {pre / mp * 1000:.1f} ms per megapixel; "
                f"{cmp.conditions()}"
            )
            out[name] = {**cmp.summary(), "ratio_to_decode": round(ratio, 3), "megapixels": mp}
    print(json.dumps({"bench": "preprocess_speed", "threads": args.threads, "photos": out}))


if __name__ == "__main__":
    main()
