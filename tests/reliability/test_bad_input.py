"""Property-based tests: whatever bytes or values arrive, the engine answers with its own typed
error (a clear message) or a valid result — never a crash of another kind."""

from __future__ import annotations

import io
import json
import os
import string
import zipfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from engine.config import ConfigError, TrainConfig
from engine.data.datasets import ImageError
from engine.data.preprocess import preprocess
from engine.fewshot.files import from_csv_pair, from_zip
from engine.fewshot.samples import SampleError
from engine.runs.store import RunError, validate_run_id

EXAMPLES = int(os.environ.get("STRESS_EXAMPLES", "120"))  # `make stress` asks for more
FAST = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _png(arr: np.ndarray, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt)
    return buf.getvalue()


@FAST
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_are_an_image_error_or_a_valid_digit(data):
    try:
        out = preprocess(data, name="upload").image
    except ImageError as e:
        assert str(e).startswith("upload: ")
        return
    assert out.shape == (28, 28) and out.dtype == np.uint8


@FAST
@given(
    st.integers(1, 120),
    st.integers(1, 120),
    st.integers(0, 2**32 - 1),
    st.sampled_from(["L", "RGB", "RGBA", "P", "I;16", "CMYK", "1"]),
    st.sampled_from(["PNG", "TIFF", "BMP"]),
)
def test_any_real_image_of_any_mode_and_size_gives_a_digit_or_says_blank(h, w, seed, mode, fmt):
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (h, w), dtype=np.uint8)
    arr[rng.random((h, w)) < 0.7] = 230  # mostly paper
    im = Image.fromarray(arr)
    if mode == "I;16":
        im = Image.fromarray(arr.astype(np.uint16) * 257)
    elif mode != "L":
        im = im.convert(mode)
    if mode == "CMYK" or (fmt == "BMP" and mode in ("I;16", "RGBA")):
        fmt = "TIFF"  # formats that cannot store these modes
    buf = io.BytesIO()
    im.save(buf, format=fmt)
    try:
        r = preprocess(buf.getvalue(), keep_steps=True)
    except ImageError as e:
        assert "no ink" in str(e) or "no pixels" in str(e), e
        return
    assert r.image.shape == (28, 28) and r.image.max() > 0


@FAST
@given(st.text(max_size=3000), st.text(max_size=300))
def test_arbitrary_csv_text_is_a_sample_error_or_a_valid_set(data_csv, cat_csv):
    try:
        s = from_csv_pair(data_csv.encode(), cat_csv.encode())
    except SampleError:
        return
    assert s.images.shape[1:] == (28, 28) and len(s.labels) == len(s)


@FAST
@given(
    st.lists(
        st.text(
            alphabet=string.ascii_letters + string.digits + "/.\\:_- ", min_size=1, max_size=30
        ),
        min_size=1,
        max_size=6,
        unique=True,
    )
)
def test_zip_entry_names_never_escape_and_never_crash(names):
    good = _png(np.pad(np.full((20, 4), 0, np.uint8), 10, constant_values=230))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for n in names:
            z.writestr(n, good)
    try:
        s = from_zip(buf.getvalue())
    except SampleError:
        return
    for sample in s.samples:
        parts = Path(sample.name.replace("\\", "/")).parts
        assert ".." not in parts and not sample.name.startswith("/")


@settings(max_examples=3 * EXAMPLES, deadline=None)
@given(st.text(max_size=140))
def test_run_ids_either_refused_or_a_plain_name_inside_the_runs_dir(text):
    root = Path("/srv/runs")
    try:
        rid = validate_run_id(text)
    except RunError:
        return
    assert (root / rid).resolve().parent == root and "/" not in rid and "\x00" not in rid


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@FAST
@given(
    st.dictionaries(st.sampled_from(list(TrainConfig().to_dict()) + ["x"]), json_values, max_size=6)
)
def test_arbitrary_json_configs_are_a_config_error_or_valid(d):
    base = TrainConfig().to_dict()
    base.update(d)
    try:
        cfg = TrainConfig.from_dict(json.loads(json.dumps(base, default=str)))
        cfg.validate()
    except ConfigError:
        return
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


def test_decompression_bomb_is_refused_without_decoding():
    # A 20000×20000 PNG of zeros compresses to a few hundred KB but is 400 megapixels.
    buf = io.BytesIO()
    Image.new("1", (20000, 20000)).save(buf, format="PNG")
    assert len(buf.getvalue()) < 2_000_000
    try:
        preprocess(buf.getvalue(), name="bomb.png")
    except ImageError as e:
        assert "bomb.png" in str(e) and ("megapixels" in str(e) or "not an image" in str(e))
    else:
        raise AssertionError("a 400-megapixel image was accepted")


def test_wrong_extension_is_judged_by_content():
    arr = np.full((60, 60), 230, np.uint8)
    arr[10:50, 28:32] = 20
    jpeg_named_png = _png(arr, "JPEG")
    assert preprocess(jpeg_named_png, name="really-a-jpeg.png").image.max() == 255
