"""The one training loop: preloaded tensors, index batches, callbacks, cancel, NaN stop, resume."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from engine import EngineError, augment
from engine.config import TrainConfig, augmentations, auto_threads
from engine.data import Dataset, normalize
from engine.models import Model, build_model


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


def resolve_device(name: str = "auto") -> torch.device:
    """ "auto" picks CUDA, then MPS, then CPU; an explicit device that is missing is an error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise EngineError("device 'cuda' requested but no CUDA GPU is available")
    if name == "mps" and not torch.backends.mps.is_available():
        raise EngineError("device 'mps' requested but MPS is not available")
    if name not in ("cpu", "cuda", "mps") and not name.startswith("cuda:"):
        raise EngineError(f"unknown device {name!r}")
    return torch.device(name)


def set_threads(threads: int) -> int:
    """Set torch's intra-op threads (0 = auto); returns the number in use."""
    n = threads or auto_threads()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def _loss(cfg: TrainConfig, out: torch.Tensor, y: torch.Tensor, **kw) -> torch.Tensor:
    # The classic net outputs log-probabilities (NLL loss); the others output logits.
    return (F.nll_loss if cfg.model.log_softmax else F.cross_entropy)(out, y, **kw)


def evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000
) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` on normalised images ``x`` (N, 1, 28, 28)."""
    was_training = model.training
    model.eval()
    log_probs = getattr(model, "config", None) is not None and model.config.log_softmax
    total_loss, correct = 0.0, 0
    with torch.inference_mode():
        for i in range(0, len(x), batch_size):
            out = model(x[i : i + batch_size])  # (B, K)
            yb = y[i : i + batch_size]
            loss_fn = F.nll_loss if log_probs else F.cross_entropy
            total_loss += loss_fn(out, yb, reduction="sum").item()
            correct += (out.argmax(1) == yb).sum().item()
    model.train(was_training)
    return total_loss / max(1, len(x)), correct / max(1, len(x))


def init_state(cfg: TrainConfig, device: torch.device, steps_per_epoch: int) -> TrainState:
    """A fresh model (seeded), optimizer and schedule for ``cfg``."""
    cfg.validate()
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model).to(device)
    params = model.parameters()
    if cfg.optimizer == "sgd":
        opt = torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )
    elif cfg.optimizer == "adam":
        opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    else:
        opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
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


def train(
    cfg: TrainConfig,
    data: Dataset,
    *,
    state: TrainState | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    on_epoch: Callable[[EpochResult, TrainState], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainState:
    """Train ``cfg`` on ``data`` from scratch or from ``state`` (resume) until ``cfg.epochs``.

    Order per batch: forward → loss → backward → step → schedule → report. Per epoch: evaluate,
    then ``on_epoch`` (the caller saves the checkpoint there). Every epoch's shuffle and dropout
    derive from (seed, epoch), so a resumed run repeats an uninterrupted one exactly.
    """
    cfg.validate()
    device = resolve_device(cfg.device)
    if device.type == "cpu":
        set_threads(cfg.threads)
    x_all, y_all = data.x_train, data.y_train
    subset = training_subset(cfg, len(x_all))
    if subset is not None:
        x_all, y_all = x_all[subset], y_all[subset]
    x = normalize(x_all, cfg).to(device)  # (N, 1, 28, 28) float32, normalised once
    y = y_all.to(device)
    x_test = normalize(data.x_test, cfg).to(device)
    y_test = data.y_test.to(device)
    if cfg.limit_test:
        x_test, y_test = x_test[: cfg.limit_test], y_test[: cfg.limit_test]
    n = len(x)
    steps = math.ceil(n / cfg.batch_size)
    if state is None:
        state = init_state(cfg, device, steps)
    model, opt, sched = state.model, state.optimizer, state.scheduler
    check_every = 1 if device.type == "cpu" else cfg.log_every  # .item() syncs a GPU
    kinds = augmentations(cfg.augment)
    background = float(normalize(torch.zeros(1, 1), cfg).min())  # a black pixel, normalised

    for epoch in range(state.epoch + 1, cfg.epochs + 1):
        t0 = time.perf_counter()
        torch.manual_seed(cfg.seed * 1000 + epoch)  # dropout stream of this epoch
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed * 1000 + epoch))
        perm = perm.to(device)
        distort = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)  # augmentation stream
        model.train()
        loss_sum = torch.zeros((), device=device)
        for b in range(steps):
            if should_stop is not None and should_stop():
                raise TrainingCancelled(f"cancelled during epoch {epoch}")
            idx = perm[b * cfg.batch_size : (b + 1) * cfg.batch_size]
            xb, yb = x[idx], y[idx]  # (B, 1, 28, 28), (B,)
            xb = augment.augment(xb, kinds, distort, background)
            loss = _loss(cfg, model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            loss_sum += loss.detach() * len(idx)
            report = b % cfg.log_every == 0
            if report or b % check_every == 0:
                value = loss.item()
                if not math.isfinite(value):
                    raise TrainingDiverged(
                        f"the loss became {value} at epoch {epoch}, batch {b}: "
                        f"training stopped; try a lower learning rate (now {cfg.lr:g})"
                    )
                if report and on_progress is not None:
                    seen = b * cfg.batch_size
                    on_progress(Progress(epoch, b, seen, n, (epoch - 1) * n + seen, value))
        train_loss = loss_sum.item() / n
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
