"""Hosted mode: who a visitor is, what they own, and the limits a shared server keeps.

``ENGINE_PUBLIC=1`` (environment, or ``st.secrets`` through the UI) turns it on. Off (the
default for ``make run``), every visitor is the admin and no quota applies; the visitor's token
still separates their Greek sample sets. The rules are checked where the action is carried out
(``engine.queue.jobs.submit/cancel/resume``, ``engine.runs.store.delete_run``, the sweep starter
call ``check_*`` here), not only by hiding buttons. A caller that passes no visitor (the CLI, the
server's own first-start job) acts as the operator.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from engine import EngineError
from engine.settings import current as settings

PUBLIC_ENV = "ENGINE_PUBLIC"
OPERATOR = "operator"  # the owner recorded for work started from the CLI or by the server itself
VISITORS_DIR = ".visitors"  # under the runs directory: one folder per visitor id
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_ID = re.compile(r"^[0-9a-f]{32}$")  # what visitor_id returns


class HostingError(EngineError):
    """An action the hosting rules refuse; the message is for the visitor."""


@dataclass(frozen=True)
class Visitor:
    id: str  # visitor_id() of the random token in the browser's cookie; stable across reloads
    is_admin: bool = False  # may cancel, resume and delete anything; no quotas


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def public() -> bool:
    """True when the server is hosted for the public ($ENGINE_PUBLIC is 1/true/yes/on)."""
    return settings().public


def valid_token(token: object) -> bool:
    """Whether ``token`` can name a visitor (and a folder): 8-64 URL-safe characters."""
    return isinstance(token, str) and bool(_TOKEN.match(token))


def visitor_id(token: str) -> str:
    """The name a visitor goes by on the server: 32 hex digits of the SHA-256 of their token.

    Status files, folder names and logs hold this, never the token. Knowing it does not make
    anyone that visitor: a cookie holding an id is hashed once more, into another id.
    """
    return hashlib.sha256(token.encode()).hexdigest()[:32]


def is_visitor_id(name: str) -> bool:
    """Whether ``name`` has the form of ``visitor_id``'s answers (and not of a raw token)."""
    return bool(_ID.match(name))


@dataclass(frozen=True)
class Limits:
    """What one visitor, and everyone together, may use in hosted mode. Each is an env var."""

    jobs_per_visitor: int = 1  # trainings queued or running at once, per visitor
    queue: int = 8  # trainings queued or running at once, all visitors (ENGINE_MAX_QUEUE)
    epoch_examples: int = 300_000  # epochs × training examples of one run: 5 FashionMNIST epochs
    sweeps_per_visitor: int = 1  # sweeps running at once, per visitor
    sweep_trials: int = 12  # trials of one sweep
    sweep_workers: int = 1  # worker processes of one sweep
    runs_per_visitor: int = 10  # stored runs, per visitor
    samples_per_visitor: int = 400  # stored Greek samples and queries, per visitor
    sample_mb_per_visitor: int = 20  # their bytes on disk, per visitor
    storage_mb: int = 2048  # everything under the runs directory
    idle_hours: int = 24  # a visitor unseen this long expires: their files go first

    @classmethod
    def from_env(cls) -> Limits:
        s = settings()
        return cls(
            jobs_per_visitor=s.max_jobs_per_visitor,
            queue=s.max_queue,
            epoch_examples=s.max_epoch_examples,
            sweep_trials=s.max_sweep_trials,
            sweep_workers=s.max_sweep_workers,
            runs_per_visitor=s.max_runs_per_visitor,
            samples_per_visitor=s.max_samples,
            sample_mb_per_visitor=s.max_sample_mb,
            storage_mb=s.max_storage_mb,
            idle_hours=s.visitor_idle_hours,
        )


def bound(by: Visitor | None) -> bool:
    """Whether the hosting rules apply to ``by``: a visitor of a public server, not the admin."""
    return by is not None and not by.is_admin and public()


# --- ownership ------------------------------------------------------------------------------------
def owner_of(status: dict) -> str:
    return str(status.get("owner") or OPERATOR)


def check_owner(status: dict, what: str, by: Visitor | None) -> None:
    """Raise unless ``by`` may cancel, resume or delete the run whose status is ``status``."""
    if bound(by) and owner_of(status) != by.id:
        raise HostingError(
            f"{what} belongs to another visitor: only they or the admin can change it"
        )


def may_change(status: dict, by: Visitor | None) -> bool:
    """For the pages: whether to offer cancel/resume/delete at all."""
    return not bound(by) or owner_of(status) == by.id


# --- quotas ---------------------------------------------------------------------------------------
def check_training(
    by: Visitor | None,
    epochs: int,
    examples: int,
    active_by_owner: dict[str, int],
    stored_by_owner: dict[str, int],
    limits: Limits | None = None,
) -> None:
    """Raise HostingError when a new training would break a quota.

    ``active_by_owner`` counts queued or running trainings per owner; ``stored_by_owner`` counts
    stored runs per owner. Called by ``engine.queue.jobs.submit`` under the queue's lock.
    """
    if not bound(by):
        return
    lim = limits or Limits.from_env()
    total = sum(active_by_owner.values())
    if active_by_owner.get(by.id, 0) >= lim.jobs_per_visitor:
        raise HostingError(
            f"You already have {lim.jobs_per_visitor} training queued or running: wait for it "
            "to finish or cancel it (one per visitor on this shared server)."
        )
    if total >= lim.queue:
        raise HostingError(
            f"The server's queue is full ({lim.queue} trainings): please try again in a few "
            "minutes."
        )
    if epochs * examples > lim.epoch_examples:
        raise HostingError(
            f"This training is too big for the shared server: {epochs} epochs × {examples:,} "
            f"examples = {epochs * examples:,}; the limit is {lim.epoch_examples:,}. Use fewer "
            "epochs or a training-set limit."
        )
    if stored_by_owner.get(by.id, 0) >= lim.runs_per_visitor:
        raise HostingError(
            f"You have {lim.runs_per_visitor} stored runs, the most one visitor may keep: delete "
            "one on the Runs page first."
        )


def check_sweep(
    by: Visitor | None, trials: int, workers: int, active_sweeps_of_visitor: int
) -> None:
    """Raise HostingError when a sweep would break a quota (trials, workers, one per visitor)."""
    if not bound(by):
        return
    lim = Limits.from_env()
    if active_sweeps_of_visitor >= lim.sweeps_per_visitor:
        raise HostingError("You already have a sweep running: stop it or wait for it to finish.")
    if trials > lim.sweep_trials:
        raise HostingError(
            f"{trials} trials is more than this shared server allows ({lim.sweep_trials}): "
            "narrow the grid or lower the trial count."
        )
    if workers > lim.sweep_workers:
        raise HostingError(f"At most {lim.sweep_workers} worker(s) per sweep on this server.")


# --- storage --------------------------------------------------------------------------------------
def visitor_dir(root: Path, visitor_id: str) -> Path:
    """``<runs>/.visitors/<id>``: where a visitor's own files (sample sets) live."""
    if not valid_token(visitor_id):
        raise HostingError("invalid visitor token")
    return Path(root) / VISITORS_DIR / visitor_id


def touch(root: Path, visitor_id: str) -> None:
    """Record that the visitor was seen now (their files expire ``idle_hours`` after this)."""
    d = visitor_dir(root, visitor_id)
    try:
        d.mkdir(parents=True, exist_ok=True)
        (d / "last_seen").write_text(str(time.time()))
    except OSError:
        pass  # a full disk must not break a page view


def last_seen(root: Path, visitor_id: str) -> float | None:
    try:
        return float((visitor_dir(root, visitor_id) / "last_seen").read_text())
    except (OSError, ValueError, HostingError):
        return None


def tree_bytes(path: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total


def expire(root: Path, now: float | None = None, limits: Limits | None = None) -> list[str]:
    """Remove the files of visitors idle longer than the limit; returns their ids.

    Their folders (sample sets included) go here; their finished runs are deleted by
    ``engine.queue.jobs.clean_expired``, which calls this: the one expiry of a visitor's files.
    """
    lim = limits or Limits.from_env()
    now = time.time() if now is None else now
    base = Path(root) / VISITORS_DIR
    gone = []
    if not base.is_dir():
        return gone
    for d in base.iterdir():
        seen = last_seen(root, d.name) if valid_token(d.name) else None
        if seen is None or now - seen > lim.idle_hours * 3600:
            shutil.rmtree(d, ignore_errors=True)
            gone.append(d.name)
    return gone


def check_storage(root: Path, adding_bytes: int = 0, limits: Limits | None = None) -> None:
    """Raise HostingError when the runs directory would pass its total cap or the disk is full."""
    lim = limits or Limits.from_env()
    if not public():
        return
    used = tree_bytes(Path(root))
    if used + adding_bytes > lim.storage_mb * 2**20:
        raise HostingError(
            "The server's storage is full: please try again later, or delete some of your runs."
        )
    free = shutil.disk_usage(Path(root) if Path(root).exists() else Path(".")).free
    if free < adding_bytes + 50 * 2**20:
        raise HostingError("The server's disk is full: please try again later.")


def disk_full_message(err: OSError) -> str | None:
    """The visitor's message for a write that failed because the disk is full, else None."""
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return "The server's disk is full: nothing was saved. Please try again later."
    return None
