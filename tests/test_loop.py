"""The training loop's plumbing: one validation and device per run, the cancel flag's thread,
the thread policy, evaluation in big batches, normalisation in place."""

import json
import os
import threading
import time

import pytest
import torch

from engine import config
from engine.data import datasets
from engine.presets import preset
from engine.runs import runner
from engine.runs.store import create_run
from engine.training import hardware, loop

TINY = dict(limit_train=256, limit_test=100, log_every=2, batch_size=64, threads=1)


def test_a_run_resolves_its_device_once(monkeypatch):
    """Once per run, by the runner: the loop and the checkpoint's restore are given it. (Its
    config was checked when it was read: a TrainConfig is valid from its construction.)"""
    run = create_run(preset("fast", epochs=2, schedule="constant", **TINY))
    resolutions = []
    real_resolve = loop.resolve_device

    def resolve(name="auto"):
        resolutions.append(name)
        return real_resolve(name)

    monkeypatch.setattr(loop, "resolve_device", resolve)
    monkeypatch.setattr(runner, "resolve_device", resolve)
    assert runner.execute(run, echo=lambda s: None).value == "complete"
    assert resolutions == ["auto"]

    # A resume (from the checkpoint of epoch 2, to 3 epochs) likewise.
    cfg = preset("fast", epochs=3, schedule="constant", **TINY)
    run.config_path.write_text(json.dumps(cfg.to_dict()))
    resolutions.clear()
    assert runner.execute(run, echo=lambda s: None).value == "complete"
    assert resolutions == ["auto"]


def test_stop_poller_raises_its_flag_from_its_thread_and_stops_with_the_block():
    answers = iter([False, False, True])
    with hardware.StopPoller(lambda: next(answers), every=0.01) as stop:
        assert not stop()
        deadline = time.monotonic() + 5
        while not stop() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert stop()
    assert not any(t.name == "stop-poller" for t in threading.enumerate())


def test_a_cancel_file_stops_training_through_the_poller(mnist, tmp_path):
    flag = tmp_path / "cancel"
    seen = []

    def on_progress(p):
        seen.append(p.batch)
        if len(seen) == 2:
            flag.touch()

    cfg = preset("fast", epochs=200, **TINY)  # far more than it takes the poller to see the file
    with (
        hardware.StopPoller(flag.exists, every=0.01) as stop,
        pytest.raises(loop.TrainingCancelled),
    ):
        loop.train(cfg, mnist, on_progress=on_progress, should_stop=stop)


def test_auto_threads_takes_every_core_when_quiet_and_half_beside_other_work(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 4)
    auto = hardware.AutoThreads()
    assert auto.threads == config.auto_threads() == 2  # before the first measurement
    hz = os.sysconf("SC_CLK_TCK")
    # (machine busy, this process) jiffies one second apart: all of it ours → every core ...
    assert auto.choose((0, 0), (2 * hz, 2 * hz), 1.0) == 4
    # ... 0.4 of a core used by others → still every core; 1 core → half of them.
    assert auto.choose((0, 0), (int(1.4 * hz), hz), 1.0) == 4
    assert auto.choose((0, 0), (2 * hz, hz), 1.0) == 2


def test_auto_threads_applies_its_choice_from_its_thread(monkeypatch):
    def samples():  # a busy neighbour: the machine does 2 cores' work, this process 0.5
        busy, own = 0, 0
        while True:
            yield busy, own
            busy, own = busy + 200, own + 50

    it = samples()
    monkeypatch.setattr(hardware.AutoThreads, "_sample", staticmethod(lambda: next(it)))
    monkeypatch.setattr("os.cpu_count", lambda: 4)
    auto = hardware.AutoThreads(every=0.01)
    auto.threads = 4  # as if the machine had been quiet
    with auto:
        deadline = time.monotonic() + 10
        while auto.threads != 2 and time.monotonic() < deadline:
            time.sleep(0.005)
    assert auto.threads == 2
    before = torch.get_num_threads()
    try:
        assert auto.apply() == torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_auto_threads_reads_this_machine():
    sample = hardware.AutoThreads._sample()
    assert sample is None or (sample[0] >= 0 and sample[1] >= 0)


def test_normalize_is_bit_identical_to_the_formula_and_leaves_its_input_alone():
    x = torch.randint(0, 256, (50, 28, 28), dtype=torch.uint8)
    mean, std = datasets.STATS["mnist"]
    assert torch.equal(datasets.normalize(x, "mnist"), ((x.float() / 255.0 - mean) / std)[:, None])
    f = torch.rand(3, 28, 28)
    kept = f.clone()
    datasets.normalize(f, "mnist")
    assert torch.equal(f, kept)


def test_cuda_graphs_are_only_for_cuda(mnist):
    state = loop.train(preset("fast", epochs=1, **TINY), mnist)
    assert state.cuda_graphs is False
    assert hardware.graph_forward(state.model, 64, torch.device("cpu")) is None
