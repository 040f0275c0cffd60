"""The one training loop: preloaded tensors, index batches, callbacks, cancel, NaN stop, resume."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from engine import EngineError
from engine.config import IMAGE_SIZE, ModelConfig, TrainConfig, augmentations, conv_geometry
from engine.data import augment
from engine.data.datasets import Dataset, normalize
from engine.data.glyphs import glyph_data
from engine.nn.models import Model, build_model, loss_function
from engine.training.hardware import (
    AutoThreads,
    LossReadback,
    graph_forward,
    resolve_device,
    set_threads,
)


class TrainingCancelled(EngineError):
    """Raised when ``should_stop`` said so; the last epoch's checkpoint is the state to keep."""


class TrainingDiverged(EngineError):
    """The loss became NaN or infinite."""


@dataclass(frozen=True)
class Progress:
    """Reported every ``log_every`` batches (the seed's "loss: ... [seen/total]" line)."""

    epoch: int
    batch: int
    seen: int  # examples seen in this epoch before this batch
    total: int  # training examples per epoch
    examples: int  # examples seen since the start of training
    loss: float

    def line(self) -> str:
        return f"loss: {self.loss:>7f}  [{self.seen:>5d}/{self.total:>5d}]"


@dataclass(frozen=True)
class EpochResult:
    epoch: int
    train_loss: float
    test_loss: float
    test_accuracy: float  # fraction in [0, 1]
    seconds: float  # wall time of the epoch's training and evaluation
    examples: int  # examples seen since the start of training

    def line(self) -> str:
        return (
            f"Test Error: Accuracy: {100 * self.test_accuracy:.1f}%, Avg loss: {self.test_loss:>8f}"
        )


@dataclass
class TrainState:
    """Everything a checkpoint holds: model, optimizer, schedule, completed epochs, history."""

    config: TrainConfig
    model: Model
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None
    epoch: int = 0  # completed epochs
    history: list[dict] = field(default_factory=list)  # one EpochResult dict per epoch
    cuda_graphs: bool = False  # whether the last ``train`` replayed CUDA graphs (GPU only)


def _loss(cfg: TrainConfig, out: torch.Tensor, y: torch.Tensor, **kw) -> torch.Tensor:
    return loss_function(cfg.model)(out, y, **kw)


def eval_batch_size(cfg: ModelConfig, device: torch.device) -> int:
    """Examples per evaluation batch: as many as fit about 1 GB of activations on a GPU (the whole
    test set for the networks here: one launch sequence instead of ten); on a CPU, up to 1,000 as
    long as the widest feature maps of a batch stay within about 16 MB, near the caches: the
    `fast` net evaluates its 10,000 test images in 0.24 s in batches of 256 against 0.46 s in
    batches of 1,000 on 2 threads (docs/benchmarks.md, "levers")."""
    if device.type != "cuda":
        maps = [b.conv_side**2 * b.out_channels for b in conv_geometry(cfg)]
        widest = max([IMAGE_SIZE**2, *maps])  # floats per example
        return max(64, min(1000, (4 << 20) // widest))
    floats = sum(3 * b.conv_side**2 * b.out_channels for b in conv_geometry(cfg))
    floats += 3 * (sum(cfg.hidden) + IMAGE_SIZE**2)
    return max(1000, min(10_000, (1 << 30) // (4 * floats)))


def evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int | None = None
) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` on normalised images ``x`` (N, 1, 28, 28).

    The sums stay on the model's device and are read once at the end: a GPU is waited for once
    per evaluation, not once per batch. ``batch_size`` None: ``eval_batch_size``.
    """
    cfg = getattr(model, "config", None)
    if batch_size is None:
        batch_size = eval_batch_size(cfg, x.device) if cfg is not None else 1000
    was_training = model.training
    model.eval()
    loss_fn = loss_function(cfg) if cfg is not None else F.cross_entropy  # a bare stack: logits
    with torch.inference_mode():
        total_loss = torch.zeros((), device=x.device)
        correct = torch.zeros((), dtype=torch.long, device=x.device)
        for i in range(0, len(x), max(1, batch_size)):
            out = model(x[i : i + batch_size]).float()  # (B, K)
            yb = y[i : i + batch_size]
            total_loss += loss_fn(out, yb, reduction="sum")
            correct += (out.argmax(1) == yb).sum()
        sums = torch.stack([total_loss, correct.float()]).tolist()  # the one wait for the device
    model.train(was_training)
    return sums[0] / max(1, len(x)), sums[1] / max(1, len(x))


def init_state(cfg: TrainConfig, device: torch.device, steps_per_epoch: int) -> TrainState:
    """A fresh model (seeded), optimizer and schedule for ``cfg``."""
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model).to(device)
    if device.type == "cpu" and cfg.model.family == "cnn":
        # oneDNN's convolutions run about 1.45x faster on channels-last maps (docs/benchmarks.md).
        model = model.to(memory_format=torch.channels_last)
    params = model.parameters()
    # One fused kernel per step for all parameters instead of several per tensor: on a GPU, and
    # on a CPU too (8% of a `fast` epoch on 2 threads, 2% slower on 1; docs/benchmarks.md).
    fused = {"fused": True} if device.type in ("cuda", "cpu") else {}  # others: not everywhere
    if cfg.optimizer == "sgd":
        opt = torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, **fused
        )
    elif cfg.optimizer == "adam":
        opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, **fused)
    else:
        opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, **fused)
    sched = None
    total = cfg.epochs * steps_per_epoch
    if cfg.schedule == "onecycle" and total >= 4:  # shorter runs: a constant rate
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt,
            max_lr=cfg.lr,
            total_steps=total,
            pct_start=max(0.25, 2.0 / total),  # at least 2 warm-up steps (torch divides by it)
            cycle_momentum=False,
        )
    return TrainState(cfg, model, opt, sched)


def training_subset(cfg: TrainConfig, n: int) -> torch.Tensor | None:
    """Indices of the first ``limit_train`` examples of a fixed shuffle (same for every seed)."""
    if not cfg.limit_train or cfg.limit_train >= n:
        return None
    return torch.randperm(n, generator=torch.Generator().manual_seed(0))[: cfg.limit_train]


def device_tensors(
    cfg: TrainConfig, data: Dataset, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Training and test images (N, 1, 28, 28) float32, normalised, and labels, on ``device``.

    The uint8 images travel (a quarter of the bytes of floats) and are normalised where they
    land, once per run: no batch is ever copied between host and device while training.
    """
    x, y = data.x_train, data.y_train
    subset = training_subset(cfg, len(x))
    if subset is not None:
        x, y = x[subset], y[subset]
    if cfg.glyphs:  # extra classes after the dataset's, learned by the training-only outputs
        gx, gy = glyph_data(cfg.glyphs)
        x, y = torch.cat([x, gx]), torch.cat([y, gy + cfg.model.num_classes])
    x_test, y_test = data.x_test, data.y_test
    if cfg.limit_test:
        x_test, y_test = x_test[: cfg.limit_test], y_test[: cfg.limit_test]
    return (
        normalize(x.to(device), cfg),
        y.to(device),
        normalize(x_test.to(device), cfg),
        y_test.to(device),
    )


def train(
    cfg: TrainConfig,
    data: Dataset,
    *,
    state: TrainState | None = None,
    device: torch.device | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    on_epoch: Callable[[EpochResult, TrainState], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainState:
    """Train ``cfg`` on ``data`` from scratch or from ``state`` (resume) until ``cfg.epochs``.

    Order per batch: forward → loss → backward → step → schedule → report. Per epoch: evaluate,
    then ``on_epoch`` (the caller saves the checkpoint there). Every epoch's shuffle and dropout
    derive from (seed, epoch), so a resumed run repeats an uninterrupted one exactly.

    ``cfg``'s device is resolved here, unless ``state`` is given (its model's device is used) or
    ``device`` is (``runner.execute`` resolves it once per run). A TrainConfig is checked when
    it is made, so nothing here validates it again.
    ``should_stop`` is asked before every batch: make it cheap (see ``StopPoller``).
    On a GPU nothing waits for the device inside an epoch: losses are read back asynchronously
    and checked for NaN when they arrive, the epoch's sum once at its end.
    """
    if state is not None:
        device = next(state.model.parameters()).device
    elif device is None:
        device = resolve_device(cfg.device)
    auto = AutoThreads() if device.type == "cpu" and not cfg.threads else None
    if device.type == "cpu" and cfg.threads:
        set_threads(cfg.threads)
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: pick the fastest conv kernels once
    x, y, x_test, y_test = device_tensors(cfg, data, device)
    n, bs = len(x), cfg.batch_size
    steps = math.ceil(n / bs)
    if state is None:
        state = init_state(cfg, device, steps)
    model, opt, sched = state.model, state.optimizer, state.scheduler
    kinds = augmentations(cfg.augment)
    background = float(normalize(torch.zeros(1, 1), cfg).min())  # a black pixel, normalised
    graphed = None if kinds or n < bs else graph_forward(model, bs, device)
    state.cuda_graphs = graphed is not None
    # Batches of the last, smaller size weigh less in the epoch's mean loss.
    weights = torch.full((steps,), float(bs), device=device)
    weights[-1] = n - (steps - 1) * bs

    def deliver(arrived: Iterator[tuple[tuple[int, int], float]]) -> None:
        """Check the losses that have reached the host; report those of report batches."""
        for (epoch, b), value in arrived:
            if not math.isfinite(value):
                raise TrainingDiverged(
                    f"the loss became {value} at epoch {epoch}, batch {b}: "
                    f"training stopped; try a lower learning rate (now {cfg.lr:g})"
                )
            if b % cfg.log_every == 0 and on_progress is not None:
                seen = b * bs
                on_progress(Progress(epoch, b, seen, n, (epoch - 1) * n + seen, value))

    with auto or contextlib.nullcontext():
        for epoch in range(state.epoch + 1, cfg.epochs + 1):
            t0 = time.perf_counter()
            torch.manual_seed(cfg.seed * 1000 + epoch)  # dropout stream of this epoch
            perm = torch.randperm(
                n, generator=torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
            )
            perm = perm.to(device)
            if device.type != "cpu":  # one gather per epoch; the batches are then views
                xs, ys = x[perm], y[perm]
            distort = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)  # augmentation stream
            model.train()
            losses = []  # every batch's loss, on the device: summed once, after the epoch
            readback = LossReadback(device)
            for b in range(steps):
                if should_stop is not None and should_stop():
                    raise TrainingCancelled(f"cancelled during epoch {epoch}")
                if auto is not None:
                    auto.apply()
                lo, hi = b * bs, (b + 1) * bs
                if device.type == "cpu":
                    idx = perm[lo:hi]
                    xb, yb = x[idx], y[idx]  # (B, 1, 28, 28), (B,): gathered while in cache
                else:
                    xb, yb = xs[lo:hi], ys[lo:hi]
                xb = augment.augment(xb, kinds, distort, background)
                out = graphed(xb) if graphed is not None and len(xb) == bs else model(xb)
                loss = _loss(cfg, out, yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if sched is not None:
                    sched.step()
                loss = loss.detach()
                losses.append(loss)
                if device.type == "cpu" or b % cfg.log_every == 0:
                    readback.push((epoch, b), loss)
                    deliver(readback.ready())
            deliver(readback.ready(wait=True))
            train_loss = (torch.stack(losses) * weights).sum().item() / n
            if not math.isfinite(train_loss):
                raise TrainingDiverged(
                    f"the loss became {train_loss} in epoch {epoch}: training stopped"
                )
            test_loss, test_acc = evaluate(model, x_test, y_test)
            result = EpochResult(
                epoch, train_loss, test_loss, test_acc, time.perf_counter() - t0, epoch * n
            )
            state.epoch = epoch
            state.history.append(result.__dict__.copy())
            if on_epoch is not None:
                on_epoch(result, state)
    return state
