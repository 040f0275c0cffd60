"""engine.runs.admin: the admin password's growing wait after wrong tries (per visitor and per
server), its log lines (never the password), and unlocks kept on the server."""

from __future__ import annotations

import logging
import time

import pytest

from engine.runs import admin
from engine.runs.hosting import HostingError

PASSWORD = "correct horse battery"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def clock(monkeypatch) -> Clock:
    """The server's tries, counted on a fresh throttle with a hand-moved clock."""
    c = Clock()
    monkeypatch.setattr(admin, "TRIES", admin.Throttle(clock=c))
    return c


def _fail(t: admin.Throttle, who: str) -> float:
    """One wrong try of ``who``: the wait it leaves."""
    assert t.attempt(who) == 0
    return t.wait(who)


def test_a_visitors_wait_doubles_after_each_wrong_try_up_to_the_cap():
    c = Clock()
    t = admin.Throttle(base=1.0, cap=30.0, free=100, clock=c)
    waits = []
    for _ in range(7):
        waits.append(_fail(t, "a"))
        assert t.attempt("a") == waits[-1]  # too early: refused, and not counted
        c.now += waits[-1]
    assert waits == [1, 2, 4, 8, 16, 30, 30]
    assert t.failures("a") == 7
    assert t.wait("b") == 0  # another visitor is not held back by one visitor's tries
    t.succeeded("a")  # a right try clears the count
    assert t.failures("a") == 0 and t.wait("a") == 0


def test_the_whole_server_waits_after_many_wrong_tries_so_new_cookies_buy_nothing():
    c = Clock()
    t = admin.Throttle(base=1.0, cap=300.0, free=10, window=3600.0, clock=c)
    for i in range(10):  # ten visitors (or one with ten fresh cookies), one wrong try each
        _fail(t, f"visitor-{i}")
    assert t.wait("fresh") == 0  # up to `free` wrong tries, a new visitor waits for nothing
    _fail(t, "visitor-10")
    assert t.wait("fresh") == 1  # the 11th: everyone waits, and longer after each
    c.now += 1
    _fail(t, "visitor-11")
    assert t.wait("another-fresh") == 2
    c.now += 3600  # an hour later the tries are forgotten
    assert t.wait("fresh") == 0 and t.failures("visitor-11") == 0


def test_unlock_waits_after_a_wrong_try_without_checking_the_password(clock):
    who = "a" * 32
    assert admin.unlock(who, "wrong", PASSWORD) is False
    with pytest.raises(HostingError, match="Too many wrong tries: try again in 1 s"):
        admin.unlock(who, PASSWORD, PASSWORD)  # even the right one is not checked now
    assert not admin.unlocked(who)
    clock.now += 1
    assert admin.unlock(who, "wrong again", PASSWORD) is False
    with pytest.raises(HostingError, match="try again in 2 s"):
        admin.unlock(who, PASSWORD, PASSWORD)
    clock.now += 2
    assert admin.unlock(who, PASSWORD, PASSWORD) is True
    assert admin.unlocked(who) and admin.TRIES.failures(who) == 0
    admin.lock(who)
    assert not admin.unlocked(who)


def test_a_wrong_try_is_logged_with_the_visitor_and_count_never_the_password(clock, caplog):
    who = "b" * 32
    with caplog.at_level(logging.INFO, logger="engine.runs.admin"):
        admin.unlock(who, "hunter2-typo", PASSWORD)
        clock.now += 1
        admin.unlock(who, PASSWORD, PASSWORD)
    wrong = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert wrong == [f"wrong admin password from visitor {who}: 1 in a row, next try in 1 s"]
    assert "hunter2-typo" not in caplog.text and PASSWORD not in caplog.text
    admin.lock(who)


def test_an_unlock_ends_after_its_hours(clock):
    who = "c" * 32
    assert admin.unlock(who, PASSWORD, PASSWORD)
    assert admin.unlocked(who, now=time.time() + admin.UNLOCK_HOURS * 3600 - 60)
    assert not admin.unlocked(who, now=time.time() + admin.UNLOCK_HOURS * 3600 + 1)
    admin.lock(who)
