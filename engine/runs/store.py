"""Run directories: ``runs/<run_id>/{config.json, metrics.jsonl, status.json, checkpoint.pt}``.

Every write that replaces a file is atomic (temp file + fsync + rename), so a killed job never
leaves a half-written checkpoint or status; metrics are appended and a torn last line is skipped.
"""

from __future__ import annotations

import contextlib
import enum
import io
import json
import os
import re
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from engine import EngineError
from engine.config import ConfigError, TrainConfig
from engine.nn.models import Model, build_model
from engine.runs import hosting
from engine.runs.procs import pid_alive
from engine.settings import current as settings

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
CHECKPOINT_FORMAT = 1


class RunError(EngineError):
    """A run id, directory or checkpoint that cannot be used; the message says which and why."""


class RunState(enum.StrEnum):
    CREATED = "created"  # its folder exists; not sent to the queue (yet), nor running
    QUEUED = "queued"  # sent to the task queue: waiting in its line for a worker
    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"
    CANCELLED = "cancelled"

    def is_finished(self) -> bool:
        return self in (RunState.COMPLETE, RunState.FAILED, RunState.CANCELLED)

    def is_active(self) -> bool:
        """Created, queued or running: it will train unless someone stops it."""
        return not self.is_finished()


def runs_dir() -> Path:
    """The runs directory: $ENGINE_RUNS_DIR or ./runs."""
    return settings().runs_dir


def validate_run_id(run_id: str) -> str:
    """Return ``run_id`` if it is a plain directory name; raise RunError for path tricks."""
    if not isinstance(run_id, str) or not RUN_ID.match(run_id) or ".." in run_id:
        raise RunError(f"invalid run id {run_id!r}: use letters, digits, '-', '_' and '.'")
    return run_id


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new file, never a mix.

    The temp file, ``.<name>.<pid>-<random>.tmp``, names its writer: a writer killed mid-save
    leaves it behind, and ``remove_stale_temp_files`` removes it once that process is gone.
    """
    path = Path(path)
    prefix = f".{path.name}.{os.getpid()}-"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=1) + "\n").encode())


_TEMP = re.compile(r"^\..+\.(\d+)-[^.]*\.tmp$")  # what atomic_write_bytes names its temp files


def remove_stale_temp_files(folder: Path) -> list[str]:
    """Delete the temp files of atomic writes whose writer process is gone; returns their names.

    A temp file names its writer's pid, so a live writer's file is never touched. Called where a
    dead writer is detected: a run's status finds its process gone, and a resume starts.
    """
    removed = []
    try:
        candidates = list(Path(folder).glob(".*.tmp"))
    except OSError:
        return removed
    for p in candidates:
        m = _TEMP.match(p.name)
        if m is None or pid_alive(int(m.group(1))):
            continue
        with contextlib.suppress(OSError):
            p.unlink()
            removed.append(p.name)
    return removed


@dataclass(frozen=True)
class Run:
    """One run directory. Cheap to create; every property reads the disk."""

    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def checkpoint_path(self) -> Path:
        return self.path / "checkpoint.pt"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def log_path(self) -> Path:
        return self.path / "log.txt"

    def config(self) -> TrainConfig:
        try:
            return TrainConfig.from_dict(json.loads(self.config_path.read_text()))
        except (OSError, json.JSONDecodeError, ConfigError) as e:
            why = e.strerror if isinstance(e, OSError) else e  # an OSError's text has the path
            raise RunError(f"run {self.id}: unreadable config.json ({why})") from None

    # --- status -------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """status.json as written: a pure read. A run whose worker died is put back in line by
        the queue's ``maintain`` task (``engine.queue.jobs``), not here."""
        try:
            st = json.loads((self.path / "status.json").read_text())
        except (OSError, json.JSONDecodeError):
            return {"state": RunState.FAILED.value, "message": "status.json missing or unreadable"}
        return st if isinstance(st, dict) else {"state": RunState.FAILED.value}

    def state(self) -> RunState:
        return RunState(self.status().get("state", "failed"))

    def set_status(self, state: RunState, **extra: Any) -> None:
        old = {}
        try:
            old = json.loads((self.path / "status.json").read_text())
        except (OSError, json.JSONDecodeError):
            pass
        atomic_write_json(
            self.path / "status.json",
            {**old, **extra, "state": RunState(state).value, "updated": time.time()},
        )

    # --- metrics ------------------------------------------------------------------------------
    def append_metric(self, record: dict[str, Any]) -> None:
        with open(self.metrics_path, "a") as f:
            f.write(json.dumps(record) + "\n")

    def metrics(self) -> list[dict[str, Any]]:
        """All metric records; a torn last line (killed mid-write) is skipped."""
        out = []
        try:
            text = self.metrics_path.read_text()
        except OSError:
            return out
        for line in text.splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out

    def truncate_metrics(self, last_epoch: int) -> None:
        """Drop records after ``last_epoch`` (the partial epoch a resume will redo)."""
        keep = [m for m in self.metrics() if m.get("epoch", 0) <= last_epoch]
        atomic_write_bytes(self.metrics_path, "".join(json.dumps(r) + "\n" for r in keep).encode())

    # --- checkpoint ---------------------------------------------------------------------------
    def save_checkpoint(self, state) -> None:
        """Model, optimizer and schedule state, config, epoch and history, written atomically."""
        payload = {
            "format": CHECKPOINT_FORMAT,
            "config": state.config.to_dict(),
            "model": {k: v.detach().cpu() for k, v in state.model.state_dict().items()},
            "optimizer": _to_cpu(state.optimizer.state_dict()),
            "scheduler": state.scheduler.state_dict() if state.scheduler is not None else None,
            "epoch": state.epoch,
            "metrics": state.history,
        }
        buf = io.BytesIO()
        torch.save(payload, buf)
        atomic_write_bytes(self.checkpoint_path, buf.getvalue())

    def has_checkpoint(self) -> bool:
        return self.checkpoint_path.is_file()

    # --- cancellation: a file, so any process (UI, CLI) can ask a job to stop ---------------------
    @property
    def cancel_path(self) -> Path:
        return self.path / "cancel"

    def request_cancel(self) -> None:
        self.cancel_path.touch()

    def cancel_requested(self) -> bool:
        return self.cancel_path.exists()


def _to_cpu(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to_cpu(v) for v in obj]
    return obj


def read_checkpoint(path: Path | str | bytes) -> dict[str, Any]:
    """Load a checkpoint file (or its bytes) safely: ``weights_only=True``, keys checked."""
    src = io.BytesIO(path) if isinstance(path, bytes) else Path(path)
    try:
        ckpt = torch.load(src, map_location="cpu", weights_only=True)
    except FileNotFoundError:  # messages name the run, never a server path
        raise RunError(f"run {Path(path).parent.name}: no checkpoint") from None
    except OSError as e:
        why = e.strerror
        raise RunError(f"run {Path(path).parent.name}: unreadable checkpoint ({why})") from None
    except Exception as e:  # noqa: BLE001 - torch raises many types for bad files
        raise RunError(f"not a usable checkpoint ({type(e).__name__}: {str(e)[:200]})") from None
    if not isinstance(ckpt, dict) or not {"config", "model", "epoch"} <= set(ckpt):
        raise RunError("not a checkpoint of this engine (missing config/model/epoch)")
    if ckpt.get("format", CHECKPOINT_FORMAT) != CHECKPOINT_FORMAT:  # older files have none
        raise RunError(
            f"checkpoint format {ckpt['format']!r}: this engine reads format {CHECKPOINT_FORMAT}"
        )
    return ckpt


def model_from_checkpoint(ckpt: dict[str, Any], device: str | torch.device = "cpu") -> Model:
    """Rebuild the model from the config the checkpoint carries; shapes must match exactly."""
    try:
        cfg = TrainConfig.from_dict(ckpt["config"])
        model = build_model(cfg.model)
        model.load_state_dict(ckpt["model"], strict=True)
    except (ConfigError, RuntimeError, TypeError, KeyError) as e:
        raise RunError(f"checkpoint does not match its config: {str(e)[:300]}") from None
    return model.to(device).eval()


def load_model(
    run_dir: Path | str, device: str | torch.device = "cpu"
) -> tuple[Model, TrainConfig]:
    """The trained model of a run (eval mode) and its config, from checkpoint.pt alone."""
    ckpt = read_checkpoint(Path(run_dir) / "checkpoint.pt")
    model = model_from_checkpoint(ckpt, device)
    return model, TrainConfig.from_dict(ckpt["config"])


def new_run_id(cfg: TrainConfig) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{cfg.dataset}-{cfg.model.family}-{secrets.token_hex(3)}"


def create_run(cfg: TrainConfig, root: Path | None = None, run_id: str | None = None) -> Run:
    """A new run directory holding the config, status "created" and empty metrics."""
    root = Path(root or runs_dir())
    root.mkdir(parents=True, exist_ok=True)
    for _ in range(5):  # a generated id that is taken (same second, same random part): another
        run = Run(root / validate_run_id(run_id or new_run_id(cfg)))
        try:
            run.path.mkdir()
            break
        except FileExistsError:
            if run_id is not None:
                raise RunError(f"run {run.id} already exists") from None
    else:
        raise RunError("could not find a free run id")
    atomic_write_json(run.config_path, cfg.to_dict())
    run.metrics_path.touch()
    run.set_status(RunState.CREATED, created=time.time(), epoch=0)
    return run


def open_run(run_id_or_dir: str | Path, root: Path | None = None) -> Run:
    """An existing run, by id (validated) or by directory path (for the CLI)."""
    p = Path(run_id_or_dir)
    if isinstance(run_id_or_dir, Path) or os.sep in str(run_id_or_dir):
        path = p
    else:
        path = Path(root or runs_dir()) / validate_run_id(str(run_id_or_dir))
    if not (path / "config.json").is_file():  # the id only: pages must not show server paths
        raise RunError(f"no run named {path.name!r} (deleted, or never created here)")
    return Run(path)


def list_runs(root: Path | None = None) -> list[Run]:
    """All runs, newest first (by directory name: ids start with a timestamp)."""
    root = Path(root or runs_dir())
    if not root.is_dir():
        return []
    runs = [Run(p) for p in root.iterdir() if p.is_dir() and (p / "config.json").is_file()]
    return sorted(runs, key=lambda r: r.id, reverse=True)


def delete_run(run: Run, by=None) -> None:
    """Remove a finished run's directory. ``by`` (an ``engine.runs.hosting.Visitor``) must own it
    in hosted mode; None is the operator."""
    hosting.check_owner(run.status(), f"run {run.id}", by)
    if run.state() == RunState.RUNNING:
        raise RunError(f"run {run.id} is running; cancel it first")
    shutil.rmtree(run.path)
