"""AppTest of a finished run's views: "try it" as a grid of answers, marked gallery mistakes,
downloads with a model card, the cancelled-run banner, and the Runs page's comparison filters."""

from __future__ import annotations

import io
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import pytest
from PIL import Image

from engine.config import DEFAULT_RUN_ID
from engine.presets import preset
from engine.runs.store import Run, RunState, create_run


def _page(open_page, digit_runs, page="app_pages/train.py", run=DEFAULT_RUN_ID):
    return open_page(page, digit_runs, query={"run": run})


def _photo(digit: np.ndarray) -> bytes:
    """An MNIST test digit as a photo would show it: dark ink on light paper, 4× larger."""
    paper = 255 - np.kron(digit, np.ones((4, 4), np.uint8))
    big = np.pad(paper, 20, constant_values=255)
    buf = io.BytesIO()
    Image.fromarray(big).save(buf, format="PNG")
    return buf.getvalue()


def test_try_it_shows_a_grid_of_answers_with_top3_bars(open_page, digit_runs):
    at = _page(open_page, digit_runs)
    assert not at.exception, [e.value for e in at.exception]
    assert at.radio(key="train_src").value == "Test images"
    assert at.slider(key="train_n").value == 8
    cards = [m.value for m in at.markdown if m.value.startswith(("**Predicted:", "**not sure**"))]
    assert len(cards) == 8
    bars = [p for p in at.get("progress")]
    assert len(bars) == 3 * 8  # the top 3 classes of each image
    first = [b.proto.text for b in bars[:3]]
    values = [b.value for b in bars[:3]]
    assert values == sorted(values, reverse=True) and all("%" in t for t in first)
    at.slider(key="train_n").set_value(12).run()
    assert len(at.get("progress")) == 3 * 12


def test_try_it_says_not_sure_when_the_top_probability_is_low(open_page, digit_runs, monkeypatch):
    monkeypatch.setattr("ui.run.try_it.UNSURE_BELOW", 1.01)  # nothing is that sure
    at = _page(open_page, digit_runs)
    unsure = [m.value for m in at.markdown if m.value.startswith("**not sure**")]
    assert len(unsure) == 8 and "best guess" in unsure[0]
    inputs = [c for i in at.get("image") for c in i.captions if c.endswith("(28×28 input)")]
    assert len(inputs) == 8  # the 28×28 the network saw is shown with each answer
    assert any('"not sure"' in c.value for c in at.caption)


def test_try_it_takes_several_photos_at_once(open_page, digit_runs, mnist):
    at = _page(open_page, digit_runs)
    at.radio(key="train_src").set_value("Upload photos").run()
    up = at.file_uploader(key="train_up")
    assert up.accept_multiple_files
    x = mnist.x_test.numpy()
    up.set_value(
        [
            ("a.png", _photo(x[0]), "image/png"),
            ("b.png", _photo(x[1]), "image/png"),
            ("bad.png", b"not an image", "image/png"),
        ]
    ).run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.get("progress")) == 3 * 2
    captions = [c for i in at.get("image") for c in i.captions]
    assert "a.png (28×28 input)" in captions and "b.png (28×28 input)" in captions
    assert any("bad.png" in w.value and "not an image" in w.value for w in at.warning)


def test_try_it_says_when_a_photo_holds_two_symbols_and_reads_the_largest(
    open_page, digit_runs, mnist
):
    x = mnist.x_test.numpy()
    page = np.full((160, 300), 255, np.uint8)
    page[10:122, 10:122] = 255 - np.kron(x[1], np.ones((4, 4), np.uint8))  # the larger one
    page[40:124, 180:264] = 255 - np.kron(x[2], np.ones((3, 3), np.uint8))
    buf = io.BytesIO()
    Image.fromarray(page).save(buf, format="PNG")
    at = _page(open_page, digit_runs)
    at.radio(key="train_src").set_value("Upload photos").run()
    at.file_uploader(key="train_up").set_value([("two.png", buf.getvalue(), "image/png")]).run()
    assert not at.exception, [e.value for e in at.exception]
    notes = [c.value for c in at.caption if "several symbols" in c.value]
    assert notes and "2 found, the largest one is read" in notes[0]
    assert any(c.value == "How the photo was prepared:" for c in at.caption)
    verdict = [m.value for m in at.markdown if m.value.startswith(("**Predicted:", "**not sure"))]
    assert len(verdict) == 1


def test_answers_takes_a_list_of_images(digit_runs, mnist):
    """The panel's input handling is one function over a list of images (the drawing pad's
    entry point too): photos and drawings are prepared like uploads, test images used as-is."""
    from engine.runs.store import load_model
    from ui.run.try_it import TryInput, answers

    model, cfg = load_model(digit_runs / DEFAULT_RUN_ID)
    x, y = mnist.x_test.numpy(), mnist.y_test.numpy()
    drawing = np.full((200, 200, 4), 0, np.uint8)  # a transparent canvas with a white stroke
    drawing[40:160, 95:105] = 255
    inputs = [
        TryInput("test 0", x[0], str(y[0]), ready=True),
        TryInput("photo", _photo(x[1])),
        TryInput("drawing", Image.fromarray(drawing[..., 3]).convert("L")),
    ]
    out, errors = answers(model, cfg, inputs)
    assert errors == [] and [a.name for a in out] == ["test 0", "photo", "drawing"]
    assert all(a.image.shape == (28, 28) and a.probs.shape == (10,) for a in out)
    assert np.isclose(out[0].probs.sum(), 1, atol=1e-4) and len(out[0].top(3)) == 3
    assert out[1].steps and not out[0].steps  # the photo's preprocessing is kept for a preview
    assert cfg.dataset == "mnist" and out[0].top(1) == [int(np.argmax(out[0].probs))]


def test_gallery_marks_mistakes_in_red(open_page, digit_runs):
    at = _page(open_page, digit_runs)
    captions = [c.value for c in at.caption if "Predicted:" in c.value]
    right = [c for c in captions if not c.startswith(":red[")]
    wrong = [c for c in captions if c.startswith(":red[")]
    assert wrong, "the worst-mistakes tab shows mistakes"
    assert all("✗" in c for c in wrong) and not any("✗" in c for c in right)
    for c in right:  # "Predicted: 7, Actual: 7"
        p, a = c.removeprefix("Predicted: ").split(", Actual: ")
        assert p == a
    for c in wrong:
        body = c.removeprefix(":red[**✗ Predicted: ").removesuffix("]")
        p, a = body.split(", Actual: ")
        assert p.split("**")[0] != a


def test_framed_marks_a_mistake_with_a_red_border():
    from ui.run.try_it import MISTAKE_RGB, framed

    img = np.full((28, 28), 128, np.uint8)
    assert framed(img, False).shape == (84, 84)
    red = framed(img, True)
    assert red.shape == (84, 84, 3)
    assert tuple(red[0, 40]) == MISTAKE_RGB and tuple(red[42, 42]) == (128, 128, 128)


def test_downloads_are_zips_with_a_model_card(open_page, digit_runs):
    at = _page(open_page, digit_runs)
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["Checkpoint + model card (.zip)", "ONNX + model card (.zip)"]
    assert any("**Normalisation**" in m.value for m in at.markdown)  # the card, on the page

    from ui import resources

    run = Run(digit_runs / DEFAULT_RUN_ID)
    z = zipfile.ZipFile(io.BytesIO(resources.checkpoint_zip(run)))
    assert sorted(z.namelist()) == ["README.md", f"{run.id}.pt"]
    assert z.read(f"{run.id}.pt") == run.checkpoint_path.read_bytes()
    assert "**Ink polarity**" in z.read("README.md").decode()
    z = zipfile.ZipFile(io.BytesIO(resources.onnx_zip(run)))
    assert sorted(z.namelist()) == ["README.md", f"{run.id}.onnx"]
    meta = {p.key: p.value for p in onnx.load_from_string(z.read(f"{run.id}.onnx")).metadata_props}
    assert meta["run_id"] == run.id and meta["output_kind"] == "log_probabilities"


@pytest.fixture()
def cancelled(digit_runs) -> Run:
    cfg = replace(preset("fast"), epochs=1)
    if (digit_runs / "stopped-run").exists():
        return Run(digit_runs / "stopped-run")
    run = create_run(cfg, digit_runs, "stopped-run")
    run.set_status(RunState.CANCELLED, message="cancelled by the visitor")
    return run


def test_cancelled_banner_names_the_resume_button_where_it_is(open_page, digit_runs, cancelled):
    at = _page(open_page, digit_runs, "app_pages/runs.py", cancelled.id)
    [banner] = [w.value for w in at.warning if "cancelled" in w.value]
    assert "on the Runs page" not in banner and "Resume button above" in banner
    assert [b for b in at.button if b.label == "Resume"]
    at = _page(open_page, digit_runs, "app_pages/train.py", cancelled.id)
    [banner] = [w.value for w in at.warning if "cancelled" in w.value]
    assert "on the Runs page" in banner


def _fake_run(root, run_id: str, dataset: str, **status) -> Run:
    run = create_run(replace(preset("fast"), dataset=dataset, epochs=1), root, run_id)
    run.append_metric({"kind": "epoch", "epoch": 1, "examples": 10, "test_accuracy": 0.5})
    run.set_status(RunState.COMPLETE, test_accuracy=0.5, **status)
    return run


def test_runs_page_filters_by_dataset_and_hides_sweep_trials(open_page, digit_runs_factory):
    digit_runs = digit_runs_factory()
    _fake_run(digit_runs, "20991231-235959-fashion-mnist-cnn-very-long-run-id", "fashion-mnist")
    _fake_run(digit_runs, "sweep-demo-best", "fashion-mnist", sweep="demo", trial=3)
    at = open_page("app_pages/runs.py", digit_runs)
    assert not at.exception, [e.value for e in at.exception]
    table = lambda: list(at.dataframe[0].value["run"])  # noqa: E731
    assert "sweep-demo-best" not in table() and len(table()) == 2
    assert at.toggle(key="runs_sweeps").label == "Show sweep trials (1)"
    at.toggle(key="runs_sweeps").set_value(True).run()
    assert "sweep-demo-best" in table()
    assert "sweep-demo-best" in at.multiselect[0].options
    at.segmented_control(key="runs_dataset").set_value("mnist").run()
    assert table() == [DEFAULT_RUN_ID]
    assert at.multiselect[0].options == [DEFAULT_RUN_ID]
    assert any("hidden by the filters" in c.value for c in at.caption)


def test_runs_table_fits_the_longest_run_id(open_page, digit_runs_factory):
    import json

    digit_runs = digit_runs_factory()
    long_id = "20991231-235959-fashion-mnist-cnn-very-long-run-id"
    _fake_run(digit_runs, long_id, "fashion-mnist")
    at = open_page("app_pages/runs.py", digit_runs)
    columns = json.loads(at.dataframe[0].proto.columns)
    width = columns["run"]["width"]
    assert isinstance(width, int) and width >= 7 * len(long_id)


def test_comparison_uses_a_qualitative_palette_with_the_legend_below():
    from ui.run.figures import PALETTE, overlay

    series = {
        f"run-{i}": [
            {"kind": "progress", "examples": 10, "loss": 1.0},
            {"kind": "epoch", "epoch": 1, "test_accuracy": 0.5},
        ]
        for i in range(10)
    }
    loss, acc = overlay(series)
    for fig in (loss, acc):
        colors = [t.line.color for t in fig.data]
        styles = {(t.line.color, t.line.dash) for t in fig.data}
        assert colors[:8] == list(PALETTE) and len(styles) == 10  # no two runs look alike
        legend = fig.layout.legend
        assert legend.y < 0 and legend.yanchor == "top"  # under the plot area, outside it
    assert [t.line.color for t in loss.data] == [t.line.color for t in acc.data]


@pytest.fixture(scope="module")
def seed_run(digit_runs_factory) -> Path:
    """A runs folder with the default digit model and a 1-epoch run of the seed's network
    (trained without the photo augmentations), on a slice of MNIST to stay quick."""
    from engine.runs.runner import execute

    root = digit_runs_factory()
    cfg = preset("seed-mnist-cnn", epochs=1, limit_train=4096, limit_test=1000, threads=1)
    run = create_run(cfg, root, "seed-cnn-1-epoch")
    assert execute(run, echo=lambda s: None) == RunState.COMPLETE
    return root


def _upload_photos(at, mnist, n: int = 3) -> None:
    at.radio(key="train_src").set_value("Upload photos").run()
    x = mnist.x_test.numpy()
    files = [(f"p{i}.png", _photo(x[i]), "image/png") for i in range(n)]
    at.file_uploader(key="train_up").set_value(files).run()
    assert not at.exception, [e.value for e in at.exception]


def _verdicts(at) -> list[str]:
    return [m.value for m in at.markdown if m.value.startswith(("**Predicted:", "**not sure"))]


def test_try_it_offers_the_default_model_for_photos_on_a_seed_run(open_page, seed_run, mnist):
    at = _page(open_page, seed_run, run="seed-cnn-1-epoch")
    assert not [t for t in at.toggle if t.key == "train_default"]  # test images: no offer
    _upload_photos(at, mnist)
    [offer] = [i.value for i in at.info if DEFAULT_RUN_ID in i.value]
    assert "reads photos better" in offer  # and why, from the two configs:
    assert "trained without the affine, elastic and photo augmentations" in offer
    assert len(_verdicts(at)) == 3
    at.toggle(key="train_default").set_value(True).run()  # one click
    assert not at.exception, [e.value for e in at.exception]
    assert len(_verdicts(at)) == 6  # the same three photos, read by the default model too
    assert any(m.value.startswith(f"**The default model's answers** (`{DEFAULT_RUN_ID}`")
               for m in at.markdown)  # fmt: skip


def test_no_default_model_offer_when_it_is_not_there(open_page, seed_run, mnist, monkeypatch):
    monkeypatch.setattr("ui.run.try_it.default_run", lambda: None)  # e.g. deleted, or training
    at = _page(open_page, seed_run, run="seed-cnn-1-epoch")
    _upload_photos(at, mnist, 2)
    assert not [i for i in at.info if "reads photos better" in i.value]


def test_no_default_model_offer_on_the_default_model_itself(open_page, digit_runs, mnist):
    at = _page(open_page, digit_runs)
    _upload_photos(at, mnist, 2)
    assert not [i for i in at.info if "reads photos better" in i.value]
    assert not [t for t in at.toggle if t.key == "train_default"]
