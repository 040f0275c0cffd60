"""Weight snapshots after every epoch: ``runs/<id>/snapshots/epoch-003.pt``.

Each snapshot is a plain ``state_dict`` (CPU tensors) saved with ``torch.save`` and written
atomically; it is read back with ``weights_only=True`` into a model rebuilt from the run's
config, shapes checked. Epoch 0 holds the initial weights. The classic network's snapshot is
about 90 KB; runs whose weights are over ``MAX_BYTES`` keep none (``TrainConfig.snapshots``
turns them off for any run). The training loop knows nothing of this: ``engine.runs.runner`` saves
them from its per-epoch callback.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from engine.config import ModelConfig, TrainConfig
from engine.nn.models import Model, build_model
from engine.runs.store import RunError, atomic_write_bytes
from engine.training.loop import TrainState, init_state

FOLDER = "snapshots"
MAX_BYTES = 1 << 20  # 1 MiB of weights per snapshot: the classic net is 87 KB, "fast" 0.8 MB
_NAME = re.compile(r"^epoch-(\d{3,4})\.pt$")


def folder(run_dir: Path | str) -> Path:
    return Path(run_dir) / FOLDER


def path(run_dir: Path | str, epoch: int) -> Path:
    return folder(run_dir) / f"epoch-{epoch:03d}.pt"


def weight_bytes(model_cfg: ModelConfig) -> int:
    """Bytes of a snapshot's tensors (parameters and buffers), without allocating them."""
    with torch.device("meta"):
        model = build_model(model_cfg)
    return sum(t.numel() * t.element_size() for t in model.state_dict().values())


def policy(cfg: TrainConfig) -> tuple[bool, str]:
    """(keep snapshots?, why not): off when the config says so or the net is too big."""
    if not getattr(cfg, "snapshots", True):
        return False, "weight snapshots are turned off for this run"
    size = weight_bytes(cfg.model)
    if size > MAX_BYTES:
        return False, (
            f"the network's weights are {size / 2**20:.1f} MB, over the {MAX_BYTES / 2**20:g} MB "
            "a run keeps per epoch, so it keeps no snapshots"
        )
    return True, ""


def start(
    run_dir: Path | str,
    cfg: TrainConfig,
    state: TrainState | None,
    steps_per_epoch: int,
    echo: Callable[[str], None] = print,
) -> bool:
    """Before training (fresh or resumed): whether to keep snapshots. Drops those of epochs a
    resume redoes, and saves epoch 0 for a fresh run. The initial weights come from
    ``init_state`` with the run's seed, which is exactly where ``train`` starts from."""
    keep, why = policy(cfg)
    if not keep:
        echo(f"No weight snapshots: {why}")
        return False
    done = state.epoch if state is not None else 0
    drop_after(run_dir, done)
    if done == 0:
        save(run_dir, 0, init_state(cfg, torch.device("cpu"), steps_per_epoch).model)
    return True


def save(run_dir: Path | str, epoch: int, model: nn.Module) -> Path:
    """Write the model's weights after ``epoch`` (0 = before training) atomically."""
    p = path(run_dir, epoch)
    p.parent.mkdir(exist_ok=True)
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu().clone() for k, v in model.state_dict().items()}, buf)
    atomic_write_bytes(p, buf.getvalue())
    return p


def epochs(run_dir: Path | str) -> list[int]:
    """The epochs that have a snapshot, in order (empty when the run keeps none)."""
    try:
        names = [p.name for p in folder(run_dir).iterdir()]
    except OSError:
        return []
    return sorted(int(m.group(1)) for n in names if (m := _NAME.match(n)))


def drop_after(run_dir: Path | str, last_epoch: int) -> None:
    """Drop the snapshots after ``last_epoch`` (a resume redoes those epochs) and the temp
    files of a save that a killed process left behind."""
    for e in epochs(run_dir):
        if e > last_epoch:
            path(run_dir, e).unlink(missing_ok=True)
    # Only the run's own runner writes here, and it is starting: any temp file is a dead one's.
    for tmp in folder(run_dir).glob(".*.tmp"):
        tmp.unlink(missing_ok=True)


def load_state_dict(run_dir: Path | str, epoch: int) -> dict[str, torch.Tensor]:
    """One snapshot's tensors, loaded safely (``weights_only=True``)."""
    p = path(run_dir, epoch)
    try:
        sd = torch.load(p, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise RunError(f"no snapshot of epoch {epoch} in {Path(run_dir).name}") from None
    except Exception as e:  # noqa: BLE001 - torch raises many types for bad files
        raise RunError(f"{p.name}: not a usable snapshot ({type(e).__name__})") from None
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise RunError(f"{p.name}: not a state_dict")
    return sd


def epoch_model(run_dir: Path | str, epoch: int, cfg: TrainConfig) -> Model:
    """The network as it was after ``epoch``, in eval mode on the CPU; shapes must match."""
    model = build_model(cfg.model)
    try:
        model.load_state_dict(load_state_dict(run_dir, epoch), strict=True)
    except RuntimeError as e:
        raise RunError(f"snapshot of epoch {epoch} does not match the run's config: {e}") from None
    return model.eval()


def first_layer_filters(run_dir: Path | str, cfg: TrainConfig) -> tuple[list[int], np.ndarray]:
    """The first conv layer's filters at every snapshot: (epochs, (E, C_out, k, k)).

    Empty when the run keeps no snapshots or has no conv layer.
    """
    names = [n for n, m in build_model(cfg.model).named_children() if isinstance(m, nn.Conv2d)]
    found = epochs(run_dir)
    if not names or not found:
        return [], np.zeros((0, 0, 0, 0), np.float32)
    key = f"{names[0]}.weight"
    frames = [load_state_dict(run_dir, e)[key][:, 0].numpy() for e in found]  # (C_out, k, k)
    return found, np.stack(frames)


def why_none(run_dir: Path | str, cfg: TrainConfig) -> str:
    """Why a run has no snapshots, in words a page can show."""
    keep, why = policy(cfg)
    if not keep:
        return why
    return "this run was trained before runs kept weight snapshots, or has not finished an epoch"
