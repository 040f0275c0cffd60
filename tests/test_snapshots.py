"""Weight snapshots after every epoch: written by the runner, small, safe to load, resumable."""

import json
import os
import pickle
from dataclasses import replace

import numpy as np
import pytest
import torch

from engine.__main__ import build_parser, config_from_args
from engine.presets import SEED_MLP, preset
from engine.runs import snapshots
from engine.runs.runner import execute
from engine.runs.store import RunError, RunState, create_run, load_model

CLASSIC = preset("seed-mnist-cnn", epochs=2, limit_train=512, limit_test=100, log_every=4)


def quiet(_line: str) -> None:
    pass


@pytest.fixture(scope="module")
def classic_run(tmp_path_factory):
    """A 2-epoch run of the classic network, trained once for this module."""
    run = create_run(CLASSIC, tmp_path_factory.mktemp("snap-runs"))
    assert execute(run, echo=quiet) == RunState.COMPLETE
    return run


def test_every_epoch_and_the_initial_weights_are_kept(classic_run):
    assert snapshots.epochs(classic_run.path) == [0, 1, 2]
    for e in (0, 1, 2):
        size = snapshots.path(classic_run.path, e).stat().st_size
        assert 85_000 < size < 100_000, size  # "about 90 KB" for the classic net
    assert not list(snapshots.folder(classic_run.path).glob(".*.tmp"))


def test_the_last_snapshot_is_the_checkpoint_and_the_first_is_the_seeded_init(classic_run):
    final, _ = load_model(classic_run.path)
    last = snapshots.epoch_model(classic_run.path, 2, CLASSIC)
    for k, v in final.state_dict().items():
        assert torch.equal(v, last.state_dict()[k]), k
    from engine.training.loop import init_state

    init = init_state(CLASSIC, torch.device("cpu"), 8).model.state_dict()
    first = snapshots.load_state_dict(classic_run.path, 0)
    assert all(torch.equal(init[k], first[k]) for k in init)
    second = snapshots.load_state_dict(classic_run.path, 1)
    assert not torch.equal(first["conv1.weight"], second["conv1.weight"])  # it learned
    assert not last.training


def test_first_layer_filters_over_the_epochs(classic_run):
    epochs, filters = snapshots.first_layer_filters(classic_run.path, CLASSIC)
    assert epochs == [0, 1, 2]
    assert filters.shape == (3, 10, 5, 5) and filters.dtype == np.float32
    final, _ = load_model(classic_run.path)
    assert np.array_equal(filters[-1], final.conv1.weight.detach()[:, 0].numpy())


def test_the_switch_turns_them_off(runs_dir):
    lines = []
    run = create_run(replace(CLASSIC, epochs=1, snapshots=False))
    assert execute(run, echo=lines.append) == RunState.COMPLETE
    assert snapshots.epochs(run.path) == [] and not snapshots.folder(run.path).exists()
    assert any("No weight snapshots: weight snapshots are turned off" in x for x in lines)
    assert "turned off" in snapshots.why_none(run.path, run.config())


def test_big_nets_keep_none():
    mlp = replace(CLASSIC, model=SEED_MLP)
    keep, why = snapshots.policy(mlp)
    assert not keep and "2.6 MB" in why and "1 MB" in why
    assert snapshots.policy(preset("fast"))[0]  # 0.8 MB: kept
    assert snapshots.weight_bytes(CLASSIC.model) == 21_840 * 4


def test_a_resume_rewrites_only_the_epochs_it_redoes(runs_dir):
    run = create_run(replace(CLASSIC, epochs=1))
    assert execute(run, echo=quiet) == RunState.COMPLETE
    first = snapshots.path(run.path, 0).stat().st_mtime_ns
    # A killed epoch 2 left a snapshot (written before its checkpoint) and a half-written save.
    snapshots.path(run.path, 2).write_bytes(b"stale")
    dead = snapshots.folder(run.path) / ".epoch-003.pt.999999999-abc.tmp"
    dead.write_bytes(b"half")
    cfg = json.loads(run.config_path.read_text())
    run.config_path.write_text(json.dumps({**cfg, "epochs": 2}))
    assert execute(run, echo=quiet) == RunState.COMPLETE
    assert snapshots.epochs(run.path) == [0, 1, 2]
    assert snapshots.path(run.path, 0).stat().st_mtime_ns == first  # the init is not redone
    snapshots.epoch_model(run.path, 2, run.config())  # the stale one was replaced
    assert not dead.exists()


def test_a_pickle_that_runs_code_is_refused(classic_run, tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    run_dir = tmp_path / "run"
    snapshots.folder(run_dir).mkdir(parents=True)
    snapshots.path(run_dir, 1).write_bytes(pickle.dumps({"conv1.weight": Evil()}, protocol=2))
    with pytest.raises(RunError, match="not a usable snapshot"):
        snapshots.load_state_dict(run_dir, 1)
    assert not (tmp_path / "pwned").exists()
    with pytest.raises(RunError, match="no snapshot of epoch 7"):
        snapshots.load_state_dict(run_dir, 7)


def test_a_snapshot_of_another_shape_is_refused(classic_run, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    snapshots.save(run_dir, 1, torch.nn.Linear(3, 2))
    with pytest.raises(RunError, match="does not match"):
        snapshots.epoch_model(run_dir, 1, CLASSIC)


def test_the_cli_switch_reaches_the_config():
    p = build_parser()
    assert config_from_args(p.parse_args(["train", "--no-snapshots"])).snapshots is False
    assert config_from_args(p.parse_args(["train"])).snapshots is True
