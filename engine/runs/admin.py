"""The admin password of a hosted server: a growing wait after wrong tries, and unlocks kept on
the server per visitor (so an unlock survives a reload, and "Lock admin" ends it everywhere).

Wrong tries are logged with the visitor's id (``engine.runs.hosting.visitor_id``) and their count,
never with the password. The state lives in this process: a restart forgets the tries and the
unlocks, which is what a single Streamlit server wants.
"""

from __future__ import annotations

import hmac
import logging
import math
import threading
import time
from collections.abc import Callable

from engine.runs.hosting import HostingError

log = logging.getLogger(__name__)


class Throttle:
    """A growing wait after wrong tries of a secret, per visitor and for the whole server.

    After a visitor's n-th wrong try in a row they wait ``base × 2^(n-1)`` seconds (at most
    ``cap``); once the server has seen more than ``free`` wrong tries within ``window`` seconds,
    everyone waits the same way, so fresh cookies (new visitors) buy no fresh tries. A right try
    clears the visitor's count; tries older than ``window`` are forgotten. Thread-safe (each
    Streamlit session is a thread); ``clock`` is injectable for tests.
    """

    def __init__(
        self,
        base: float = 1.0,  # seconds after the first wrong try
        cap: float = 300.0,  # the longest wait, seconds
        free: int = 10,  # wrong tries of all visitors together before the server waits too
        window: float = 3600.0,  # seconds a wrong try is remembered
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base, self.cap, self.free, self.window, self.clock = base, cap, free, window, clock
        self._lock = threading.Lock()
        self._mine: dict[str, tuple[int, float]] = {}  # visitor -> (wrong in a row, last one)
        self._all: list[float] = []  # when each recent wrong try of any visitor happened

    def _delay(self, n: int) -> float:
        return 0.0 if n <= 0 else min(self.cap, self.base * 2 ** (n - 1))

    def _wait(self, who: str, now: float) -> float:
        old = now - self.window
        self._all = [t for t in self._all if t > old]
        self._mine = {k: v for k, v in self._mine.items() if v[1] > old}
        n, last = self._mine.get(who, (0, now))
        server = self._all[-1] + self._delay(len(self._all) - self.free) if self._all else now
        return max(0.0, last + self._delay(n) - now, server - now)

    def wait(self, who: str) -> float:
        """Seconds before ``who`` may try again (0: now)."""
        with self._lock:
            return self._wait(who, self.clock())

    def attempt(self, who: str) -> float:
        """Start a try: the seconds to wait first, or 0 and the try counts as wrong until
        ``succeeded``. Checked and counted at once, so parallel tries get no free pass."""
        with self._lock:
            now = self.clock()
            wait = self._wait(who, now)
            if wait <= 0:
                self._mine[who] = (self._mine.get(who, (0, now))[0] + 1, now)
                self._all.append(now)
            return wait

    def succeeded(self, who: str) -> None:
        with self._lock:
            _, last = self._mine.pop(who, (0, None))
            if last in self._all:
                self._all.remove(last)

    def failures(self, who: str) -> int:
        """Wrong tries of ``who`` in a row (within the window)."""
        with self._lock:
            return self._mine.get(who, (0, 0.0))[0]


TRIES = Throttle()  # this server's tries of the admin password
UNLOCK_HOURS = 12.0  # an unlock lasts this long, across reloads, unless "Lock admin" ends it
_unlocked: dict[str, float] = {}  # visitor id -> when their unlock ends (time.time())


def unlock(who: str, given: str, expected: str) -> bool:
    """One try of the admin password by the visitor whose id is ``who``.

    Right: True, and the unlock is kept on the server for ``UNLOCK_HOURS`` (``unlocked``),
    so it survives a reload. Wrong: False, counted, and logged with the visitor's id and the
    count, never the password. While ``who`` or the server must wait after wrong tries, raises
    HostingError and compares nothing.
    """
    wait = TRIES.attempt(who)
    if wait > 0:
        raise HostingError(f"Too many wrong tries: try again in {math.ceil(wait)} s.")
    # compare_digest: the time taken says nothing about how much of it matched
    if hmac.compare_digest(given.encode(), expected.encode()):
        TRIES.succeeded(who)
        _unlocked[who] = time.time() + UNLOCK_HOURS * 3600
        log.info("admin unlocked by visitor %s", who)
        return True
    log.warning(
        "wrong admin password from visitor %s: %d in a row, next try in %.0f s",
        who, TRIES.failures(who), TRIES.wait(who),
    )  # fmt: skip
    return False


def unlocked(who: str, now: float | None = None) -> bool:
    """Whether the visitor whose id is ``who`` unlocked the admin and it has not ended."""
    return _unlocked.get(who, 0.0) > (time.time() if now is None else now)


def lock(who: str) -> None:
    """End the visitor's admin unlock ("Lock admin")."""
    _unlocked.pop(who, None)
