"""The Webcam page's photo path (``LiveRecognizer.process_photo``) and ``engine live photo``:
a photo of one digit gives one box, a sheet gives one box per digit, specks and the paper's
edge give none. Photos are made here from real MNIST test digits (``engine.data.photos``)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.config import DEFAULT_RUN_ID
from engine.data import photos
from engine.nn import live
from engine.runs.store import load_model


@pytest.fixture(scope="module")
def digit_run_dir(digit_runs_factory):
    return digit_runs_factory() / DEFAULT_RUN_ID


@pytest.fixture(scope="module")
def recognizer(digit_run_dir):
    model, cfg = load_model(digit_run_dir)
    return live.LiveRecognizer(live.net_classifier(model, cfg))


def _inside(point, box) -> bool:
    x, y, w, h = box
    return x <= point[0] <= x + w and y <= point[1] <= y + h


def test_a_photo_of_one_digit_gives_one_box_whatever_its_size_and_margins(recognizer, mnist):
    rng = np.random.default_rng(3)
    one = right = 0
    for i in range(20):  # sizes 15-55% of the photo, a desk past the paper on a third of them
        rgb = photos.photograph(mnist.x_test[i].numpy(), rng, (600, 800))
        dets = recognizer.process_photo(photos.jpeg(rgb, 80), "photo.jpg")[1]
        one += len(dets) == 1
        right += len(dets) == 1 and dets[0].label == str(int(mnist.y_test[i]))
    assert one >= 19, f"{one} of 20 photos gave exactly one box"
    assert right >= 17, f"{right} of 20 photos gave one box with the right digit"


def test_a_sheet_gives_one_box_per_digit_in_reading_order(recognizer, mnist):
    rng = np.random.default_rng(5)
    idx = list(range(8))
    labels = [str(int(mnist.y_test[i])) for i in idx]
    rgb, truth = photos.sheet(mnist.x_test.numpy()[idx], labels, rng, (1024, 768))
    dets = recognizer.process_photo(photos.jpeg(rgb, 85), "sheet.jpg")[1]
    assert len(dets) == 8
    for t in truth:
        centre = (t.box[0] + t.box[2] / 2, t.box[1] + t.box[3] / 2)
        assert sum(_inside(centre, d.box) for d in dets) == 1, t
    rows = [d.box[1] < 768 / 2 for d in dets]
    assert rows == [True] * 4 + [False] * 4  # the top row first, each left to right
    assert [d.box[0] for d in dets[:4]] == sorted(d.box[0] for d in dets[:4])


def test_parts_of_one_stroke_make_one_box_and_specks_none(recognizer, mnist):
    a = np.full((600, 600), 235, np.uint8)
    seven = mnist.x_test[1].numpy()  # a 7, cut in two across the middle by a 6 px gap
    big = np.kron(seven, np.ones((12, 12), np.uint8))[:, :]  # 336 px
    big[165:171] = 0
    a[130:466, 130:466] = np.where(big > 100, 30, 235)
    rng = np.random.default_rng(0)
    for y, x in rng.integers(20, 580, (15, 2)):  # dust and pencil specks
        a[y : y + 3, x : x + 3] = 60
    dets = recognizer.process_photo(np.stack([a] * 3, axis=2), "cut.png")[1]
    assert len(dets) == 1 and dets[0].label == str(int(mnist.y_test[1]))


def test_a_blank_photo_gives_no_box(recognizer):
    rng = np.random.default_rng(1)
    a = np.clip(220 + rng.normal(0, 2, (480, 640, 3)), 0, 255).astype(np.uint8)
    assert recognizer.process_photo(photos.jpeg(a), "blank.jpg")[1] == []


def test_cli_live_photo_prints_every_detection_as_json(digit_run_dir, mnist, tmp_path, capsys):
    from engine.__main__ import main

    rng = np.random.default_rng(2)
    one = tmp_path / "one.jpg"
    rgb = photos.photograph(mnist.x_test[0].numpy(), rng, (1200, 1600))  # boxes in these pixels
    one.write_bytes(photos.jpeg(rgb, 85))
    sheet = tmp_path / "sheet.jpg"
    rgb, _ = photos.sheet(mnist.x_test.numpy()[:8], ["?"] * 8, rng, (1024, 768))
    sheet.write_bytes(photos.jpeg(rgb, 85))
    bad = tmp_path / "notes.txt"
    bad.write_text("not a photo")
    code = main(["live", "photo", "--run-dir", str(digit_run_dir), str(one), str(sheet), str(bad)])
    assert code == 1  # one file could not be read
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    first, second, third = out["photos"]
    assert first["path"] == str(one) and len(first["detections"]) == 1
    d = first["detections"][0]
    assert d["label"] == str(int(mnist.y_test[0])) and 0 < d["confidence"] <= 1
    x, y, w, h = d["box"]
    assert 0 <= x < x + w <= 1200 and 0 <= y < y + h <= 1600 and max(w, h) > 150
    assert len(second["detections"]) == 8
    assert third["detections"] == [] and "not an image" in third["error"]
