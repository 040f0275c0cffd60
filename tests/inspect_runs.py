"""Tiny trained runs shared by the Inspect tests (unit, AppTest, browser), trained once (kept.py).

Not a test module: the test files call ``trained_runs(tmp_path_factory)`` from a session fixture.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from engine.config import DEFAULT_RUN_ID, ModelConfig
from engine.presets import SEED_MLP, preset

CNN_RUN = DEFAULT_RUN_ID  # the page opens this one first
MLP_RUN = "tiny-mnist-mlp"
DEEP_RUN = "tiny-deep-cnn"
# A deeper CNN as the Train page's sliders make it: three 3×3 conv layers, BatchNorm, avg pooling.
DEEP_CNN = ModelConfig(
    channels=(8, 16, 32), kernel_sizes=(3, 3, 3), padding="same", pool="avg", batchnorm=True
)


def trained_runs(tmp_path_factory) -> Path:
    """A runs directory with a trained seed CNN, deeper CNN and MLP (about 6 s on 1 thread).

    The seed CNN is trained just long enough (2 epochs, Adam) for its first-layer filters to be
    clearly smooth; the others only have to exist.
    """
    from kept import kept

    from engine.runs.runner import execute
    from engine.runs.store import RunState, create_run

    cnn = preset(
        "seed-mnist-cnn",
        epochs=2,
        optimizer="adam",
        lr=3e-3,
        momentum=0.0,
        limit_test=500,
        threads=1,
    )
    tiny = preset("seed-mnist-cnn", epochs=1, limit_train=2000, limit_test=500, threads=1)
    mlp, deep = replace(tiny, model=SEED_MLP), replace(tiny, model=DEEP_CNN)

    def build(root: Path) -> None:
        for run_id, cfg in ((CNN_RUN, cnn), (MLP_RUN, mlp), (DEEP_RUN, deep)):
            state = execute(create_run(cfg, root, run_id), echo=lambda _line: None)
            assert state == RunState.COMPLETE

    root = tmp_path_factory.getbasetemp() / "inspect-runs"  # this session's copy: tests write
    if not root.exists():
        shutil.copytree(kept("inspect-runs", build), root)
    return root
