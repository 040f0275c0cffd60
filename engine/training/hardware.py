"""How the training loop uses the machine: the device, the CPU thread policy, the cancel flag's
thread, GPU loss read-back without waiting, and CUDA graphs."""

from __future__ import annotations

import collections
import os
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator

import torch
from torch import nn

from engine import EngineError
from engine.config import IMAGE_SIZE, auto_threads
from engine.nn.models import Model
from engine.settings import current as settings


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


class AutoThreads:
    """The thread policy of ``threads=0`` on a CPU: every core while no other process keeps one
    busy, ``auto_threads()`` (half of them) beside other work.

    torch's threads busy-wait for each other, so a job with a thread on every core slows down
    many times when another process takes one, while a job on half the cores keeps its own.
    A daemon thread measures the cores that other processes used over the last ``every``
    seconds (/proc/stat less this process's own time) and picks; ``apply`` sets it between
    batches. Without /proc (macOS, Windows) it stays at ``auto_threads()``. A thread count that
    changes mid-run changes the arithmetic's rounding: a fixed ``threads`` repeats bit for bit.
    """

    BUSY = 0.5  # cores used by other processes above which the job keeps to half the cores

    def __init__(self, every: float = 1.0):
        self.threads = auto_threads()  # until the first measurement
        self._cores = os.cpu_count() or 1
        self._every = every
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="auto-threads", daemon=True)

    @staticmethod
    def _sample() -> tuple[int, int] | None:
        """(busy jiffies of the whole machine, this process's jiffies), or None without /proc."""
        try:
            with open("/proc/stat") as f:
                v = [int(s) for s in f.readline().split()[1:9]]
            with open("/proc/self/stat") as f:
                own = f.read().rsplit(")", 1)[1].split()
        except (OSError, ValueError, IndexError):
            return None
        # user nice system idle iowait irq softirq steal; utime and stime of this process
        return sum(v) - v[3] - v[4], int(own[11]) + int(own[12])

    def _run(self) -> None:
        prev, t_prev = self._sample(), time.monotonic()
        wait = min(0.25, self._every)  # a first choice soon after the start
        while prev is not None and not self._done.wait(wait):
            now, t_now = self._sample(), time.monotonic()
            if now is None:
                return
            self.threads = self.choose(prev, now, t_now - t_prev)
            prev, t_prev, wait = now, t_now, self._every

    def choose(self, prev: tuple[int, int], now: tuple[int, int], seconds: float) -> int:
        """The thread count for two ``_sample`` readings ``seconds`` apart."""
        hz = os.sysconf("SC_CLK_TCK")
        others = ((now[0] - prev[0]) - (now[1] - prev[1])) / hz / max(1e-3, seconds)
        return self._cores if others < self.BUSY else auto_threads()

    def __enter__(self) -> AutoThreads:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()

    def apply(self) -> int:
        """Set torch's thread count to the current choice (cheap when unchanged)."""
        n = self.threads
        if torch.get_num_threads() != n:
            torch.set_num_threads(n)
        return n


class StopPoller:
    """``should_stop`` for a training loop, asked every batch, that costs a flag read.

    A daemon thread asks ``poll`` (a file's existence, a database...) every ``every`` seconds
    and raises the flag when it says so; the loop never waits for a file system or a lock.
    Use as a context manager (the thread ends with the block), then pass it as ``should_stop``.
    """

    def __init__(self, poll: Callable[[], bool], every: float = 0.2):
        self._poll, self._every = poll, every
        self._flag = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stop-poller", daemon=True)

    def _run(self) -> None:
        while not self._done.wait(self._every):
            try:
                if self._poll():
                    self._flag.set()
                    return
            except Exception:  # noqa: BLE001 - a failed poll is "not yet"; the next one retries
                pass

    def __enter__(self) -> StopPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()

    def __call__(self) -> bool:
        return self._flag.is_set()


class LossReadback:
    """Reported losses on their way from a GPU to the host, without stalling it: each is copied
    behind the queued work into pinned memory, and read once its event has passed (by the next
    report, the GPU is long past it). A CPU loss is read at once: that costs nothing."""

    def __init__(self, device: torch.device):
        self._async = device.type == "cuda"
        self._pending: collections.deque = collections.deque()

    def push(self, meta: tuple[int, int], loss: torch.Tensor) -> None:
        if not self._async:
            self._pending.append((meta, loss.item(), None))
            return
        host = loss.detach().to("cpu", non_blocking=True)
        event = torch.cuda.Event()
        event.record()
        self._pending.append((meta, host, event))

    def ready(self, wait: bool = False) -> Iterator[tuple[tuple[int, int], float]]:
        """(meta, value) of every loss that has arrived, oldest first; ``wait``: all of them."""
        while self._pending:
            meta, value, event = self._pending[0]
            if event is not None:
                if not (wait or event.query()):
                    return
                event.synchronize()
                value = value.item()
            self._pending.popleft()
            yield meta, value


def graph_forward(model: Model, batch: int, device: torch.device) -> nn.Module | None:
    """The model's training forward and backward on full batches of ``batch``, captured as CUDA
    graphs: one launch each instead of dozens, which is what a small network on a large GPU
    waits for. None where that does not apply (not CUDA, ENGINE_CUDA_GRAPHS=0) or fails.

    The returned module shares the model's layers and weights; the model itself is untouched
    (evaluation and the last, smaller batch run it as usual). The capture's warm-up passes move
    the BatchNorm statistics, so they are put back.
    """
    if device.type != "cuda" or not settings().cuda_graphs:
        return None
    try:
        saved = [b.detach().clone() for b in model.buffers()]
        shared = nn.Sequential(OrderedDict(model.named_children())).train()
        sample = torch.zeros(batch, 1, IMAGE_SIZE, IMAGE_SIZE, device=device)
        graphed = torch.cuda.make_graphed_callables(shared, (sample,))
        with torch.no_grad():
            for b, s in zip(model.buffers(), saved, strict=True):
                b.copy_(s)
        for p in model.parameters():
            p.grad = None
        return graphed
    except Exception as e:  # noqa: BLE001 - eager training is always correct, only slower
        msg = f"CUDA graphs unavailable ({type(e).__name__}: {e}); training eagerly"
        warnings.warn(msg, stacklevel=2)
        return None
