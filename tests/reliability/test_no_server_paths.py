"""Messages never show the server's folders: errors from the engine given bad run ids, broken
runs and missing data, and every text on the pages that a bad ``?run=`` link opens, are scanned
for absolute paths. A link to a deleted run names the run id only."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine import EngineError
from engine.presets import preset
from engine.runs.store import RunState, create_run

ROOT = Path(__file__).resolve().parents[2]
# An absolute path: a slash that starts a word (not part of a URL or a fraction), followed by
# at least one folder: "/tmp/x", "'/work/main/runs/…'", "(/usr/share/…)".
ABSOLUTE = re.compile(r"(?<![\w:/.~-])/(?:[\w.~-]+/)+")


def paths_in(text: str, *folders: Path) -> list[str]:
    found = ABSOLUTE.findall(text)
    found += [str(f) for f in folders if str(f) in text]
    return found


@pytest.fixture()
def broken_runs(tmp_path, monkeypatch) -> Path:
    """(A link's own text is echoed back as typed: that is the visitor's, not a server path.)
    A runs folder with a run whose checkpoint is a folder, one with a garbled checkpoint, one
    with no config, and a failed run whose status message (from an exception) holds a path."""
    root = tmp_path / "runs"
    cfg = replace(preset("fast"), epochs=1)
    create_run(cfg, root, "ckpt-is-a-folder").checkpoint_path.mkdir()
    garbled = create_run(cfg, root, "garbled")
    garbled.checkpoint_path.write_bytes(b"not a checkpoint")
    garbled.set_status(RunState.COMPLETE, epoch=1)
    failed = create_run(cfg, root, "failed-with-path")
    failed.set_status(
        RunState.FAILED,
        message=f"OSError: [Errno 5] Input/output error: '{root / 'failed-with-path' / 'x.pt'}'",
    )
    (root / "no-config").mkdir()
    monkeypatch.setenv("ENGINE_RUNS_DIR", str(root))
    return root


def _engine_errors(root: Path) -> list[str]:
    from engine.data import datasets
    from engine.queue import jobs
    from engine.runs.store import Run, load_model, open_run, read_checkpoint

    calls = [
        lambda: open_run("deleted-run"),
        lambda: open_run(root / "deleted-run"),  # the CLI's way: a folder
        lambda: open_run("../../etc/passwd"),
        lambda: Run(root / "no-config").config(),
        lambda: read_checkpoint(root / "deleted-run" / "checkpoint.pt"),
        lambda: read_checkpoint(root / "ckpt-is-a-folder" / "checkpoint.pt"),
        lambda: read_checkpoint(root / "garbled" / "checkpoint.pt"),
        lambda: load_model(root / "deleted-run"),
        lambda: load_model(root / "garbled"),
        lambda: jobs.resume(open_run("garbled")),
        lambda: datasets.load("mnist", root / "no-data", prepare_if_missing=False),
    ]
    messages = []
    for call in calls:
        with pytest.raises(EngineError) as info:
            call()
        messages.append(str(info.value))
    return messages


def test_engine_errors_name_runs_not_folders(broken_runs):
    messages = _engine_errors(broken_runs)
    for m in messages:
        assert not paths_in(m, broken_runs, ROOT), m
    assert messages[0] == "no run named 'deleted-run' (deleted, or never created here)"
    assert "deleted-run" in messages[1] and "no checkpoint" in messages[4]


def _everything_shown(at: AppTest) -> list[str]:
    out = []
    for node in [*at.main, *at.sidebar]:
        for attr in ("value", "label", "body", "help", "placeholder", "captions", "options"):
            v = getattr(node, attr, None)
            if isinstance(v, str):
                out.append(v)
            elif isinstance(v, (list, tuple)):
                out += [x for x in v if isinstance(x, str)]
    for node in at.get("image"):
        out += node.captions
    return out


LINKS = ["deleted-run", "../../etc/passwd", "no-config", "garbled", "ckpt-is-a-folder"]


@pytest.mark.parametrize("page", ["app_pages/train.py", "app_pages/runs.py"])
@pytest.mark.parametrize("link", [*LINKS, "failed-with-path"])
def test_pages_opened_by_a_bad_run_link_show_no_server_path(broken_runs, page, link):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params["run"] = link
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    shown = _everything_shown(at)
    leaks = [(t, paths_in(t, broken_runs, ROOT)) for t in shown if paths_in(t, broken_runs, ROOT)]
    assert not leaks, leaks
    if link == "deleted-run":
        errors = " ".join(e.value for e in at.error)
        assert "no run named 'deleted-run'" in errors, errors


def test_a_deleted_run_remembered_by_the_train_page_names_the_id(broken_runs):
    """The Train page keeps the run it showed; after a delete it says which run is gone."""
    from ui.state import TRAIN_RUN

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("app_pages/train.py")
    at.session_state[TRAIN_RUN] = "deleted-run"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    assert any("no run named 'deleted-run'" in e for e in errors), errors
    assert not [t for t in _everything_shown(at) if paths_in(t, broken_runs, ROOT)]


def test_the_path_scanner_finds_paths():
    assert paths_in("no run at /tmp/pytest-1/runs/x")
    assert paths_in("OSError: 'relative/but/in/folder' '/abs/x'")
    assert not paths_in("see https://example.org/a/b, 1/2 of 3, T-shirt/top, …/x.pt")


def test_sweep_storage_errors_name_no_server_path(tmp_path):
    from engine import sweep
    from engine.sweep.space import SweepError

    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where a folder should be")
    with pytest.raises(SweepError) as e:
        sweep.open_storage(str(blocked / "sub" / "sweeps.journal"))
    assert str(tmp_path) not in str(e.value) and "sweeps.journal" in str(e.value)
