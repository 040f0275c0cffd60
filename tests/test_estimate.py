from dataclasses import replace

import pytest

from engine.config import ModelConfig, conv_geometry
from engine.presets import PRESETS, preset
from engine.training import estimate


def test_estimates_grow_with_the_work():
    small = estimate.estimate_seconds(preset("fast", epochs=1, limit_train=1000), 60000, 10000)
    big = estimate.estimate_seconds(preset("fast", epochs=3), 60000, 10000)
    assert estimate.STARTUP_SECONDS < small < big < 600


def test_macs_come_from_the_shared_conv_geometry():
    cfg = PRESETS["seed-mnist-cnn"]  # conv 1→10 5x5 on 28→24, pool; conv 10→20 5x5 on 12→8
    blocks = conv_geometry(cfg.model)
    assert [(b.conv_side, b.out_side) for b in blocks] == [(24, 12), (8, 4)]
    convs = 24 * 24 * 10 * 25 + 8 * 8 * 20 * 10 * 25
    assert estimate.macs_per_example(cfg) == convs + 320 * 50 + 50 * 10
    # Pooling after the second layer only (the seed's Keras network): 28 → 26 → 24 → 12.
    keras = ModelConfig(channels=(32, 32), kernel_sizes=(3, 3), pool_after=(2,), hidden=(128,))
    assert [b.out_side for b in conv_geometry(keras)] == [26, 12]


class FakeRun:
    def __init__(self, cfg, seconds):
        self.cfg, self.seconds = cfg, seconds

    def config(self):
        return self.cfg

    def metrics(self):
        return [{"kind": "progress"}] + [{"kind": "epoch", "seconds": s} for s in self.seconds]


def test_the_range_is_calibrated_by_finished_runs():
    cfg = preset("fast", epochs=2)
    sizes = {"fashion-mnist": (60000, 10000)}
    model = estimate.epoch_seconds(cfg, *sizes["fashion-mnist"])
    # Three runs measured 2x, 3x and 4x slower than the model; one without epochs is no sample.
    runs = [FakeRun(cfg, [k * model, k * model]) for k in (2, 3, 4)] + [FakeRun(cfg, [])]
    ratios = estimate.speed_ratios(runs, sizes)
    assert ratios == pytest.approx([2, 3, 4])
    lo, hi = estimate.estimate_range(cfg, 60000, 10000, ratios)
    work = 2 * model
    assert lo == pytest.approx(estimate.STARTUP_SECONDS + 2.4 * work)
    assert hi == pytest.approx(estimate.STARTUP_SECONDS + 3.6 * work)
    # Before enough runs: the uncalibrated band around the model.
    lo, hi = estimate.estimate_range(cfg, 60000, 10000, ratios[:2])
    assert lo < estimate.estimate_seconds(cfg, 60000, 10000) < hi


def test_other_datasets_and_broken_runs_give_no_sample():
    cfg = replace(preset("fast"), dataset="mnist")

    class Broken(FakeRun):
        def metrics(self):
            raise OSError("deleted")

    assert (
        estimate.speed_ratios([FakeRun(cfg, [1.0]), Broken(cfg, [])], {"fashion-mnist": (1, 1)})
        == []
    )
