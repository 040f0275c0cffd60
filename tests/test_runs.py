import errno
import os
import pickle
import shutil
import socket

import pytest
import torch

from engine.presets import preset
from engine.runs import store
from engine.runs.runner import execute
from engine.runs.store import RunError, RunState, create_run, list_runs, load_model, open_run

TINY = preset("fast", epochs=2, limit_train=512, limit_test=200, log_every=4)


@pytest.mark.parametrize(
    "bad", ["../etc", "..", "a/b", "/abs", "", ".hidden", "a\\b", "x" * 200, "run id", "a\x00b"]
)
def test_run_ids_with_path_tricks_are_refused(bad):
    with pytest.raises(RunError, match="invalid run id"):
        store.validate_run_id(bad)
    with pytest.raises(RunError):
        open_run(bad) if "/" not in bad else store.validate_run_id(bad)


def test_a_run_directory_holds_everything_and_rebuilds_from_the_checkpoint_alone(tmp_path):
    run = create_run(TINY)
    assert run.state() == RunState.CREATED  # not sent to the queue: only jobs.submit queues
    assert execute(run, echo=lambda s: None) == RunState.COMPLETE
    for f in ("config.json", "metrics.jsonl", "status.json", "checkpoint.pt"):
        assert (run.path / f).is_file(), f
    st = run.status()
    assert st["state"] == "complete" and st["epoch"] == 2 and 0 < st["test_accuracy"] <= 1
    kinds = [m["kind"] for m in run.metrics()]
    assert kinds.count("epoch") == 2 and "progress" in kinds
    # Only the checkpoint file is needed to rebuild the model.
    alone = tmp_path / "elsewhere"
    alone.mkdir()
    shutil.copy(run.checkpoint_path, alone / "checkpoint.pt")
    model, cfg = load_model(alone)
    assert cfg == TINY and not model.training
    ckpt = store.read_checkpoint(alone / "checkpoint.pt")
    assert ckpt["epoch"] == 2 and "state" in ckpt["optimizer"] and len(ckpt["metrics"]) == 2
    assert [r.id for r in list_runs()] == [run.id]


def test_a_failed_write_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    target = tmp_path / "status.json"
    store.atomic_write_json(target, {"v": 1})

    def disk_full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        store.atomic_write_json(target, {"v": 2})
    assert target.read_text().strip().replace(" ", "").replace("\n", "") == '{"v":1}'
    assert list(tmp_path.iterdir()) == [target]  # no temp file left behind


def test_torn_metric_lines_are_skipped():
    run = create_run(TINY)
    run.append_metric({"kind": "epoch", "epoch": 1})
    with open(run.metrics_path, "a") as f:
        f.write('{"kind": "progress", "ep')  # killed mid-write
    assert run.metrics() == [{"kind": "epoch", "epoch": 1}]


@pytest.mark.slow  # a real process killed mid-training
def test_untrusted_pickles_are_never_executed(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    bad = tmp_path / "checkpoint.pt"
    bad.write_bytes(pickle.dumps({"config": Evil(), "model": {}, "epoch": 0}, protocol=2))
    with pytest.raises(RunError, match="not a usable checkpoint"):
        store.read_checkpoint(bad)
    assert not (tmp_path / "pwned").exists()


def test_checkpoint_with_wrong_shapes_is_refused(tmp_path):
    run = create_run(TINY)
    execute(run, echo=lambda s: None)
    ckpt = store.read_checkpoint(run.checkpoint_path)
    ckpt["model"]["conv1.weight"] = torch.zeros(3, 1, 2, 2)
    torch.save(ckpt, tmp_path / "checkpoint.pt")
    with pytest.raises(RunError, match="does not match"):
        load_model(tmp_path)
    with pytest.raises(RunError, match="not a usable checkpoint"):
        store.read_checkpoint(b"garbage")
    ckpt["format"] = store.CHECKPOINT_FORMAT + 1  # written by a newer engine: refused by name
    torch.save(ckpt, tmp_path / "checkpoint.pt")
    with pytest.raises(RunError, match="checkpoint format 2: this engine reads format 1"):
        store.read_checkpoint(tmp_path / "checkpoint.pt")


def test_delete_refuses_running_runs_and_removes_finished_ones():
    run = create_run(TINY)
    run.set_status(RunState.RUNNING, pid=os.getpid(), host=socket.gethostname())
    with pytest.raises(RunError, match="running"):
        store.delete_run(run)
    run.set_status(RunState.CANCELLED)
    store.delete_run(run)
    assert not run.path.exists()


def test_run_states_know_when_they_are_finished():
    assert RunState.COMPLETE.is_finished() and RunState.FAILED.is_finished()
    assert not RunState.QUEUED.is_finished() and not RunState.RUNNING.is_finished()
