"""AppTest of the hosted server's admin unlock and the visitor's token: wrong tries wait longer
and longer (the password is not checked meanwhile) and are logged without the password; an
unlock survives a reload; runs record a hash of the token, never the token."""

from __future__ import annotations

import logging
import secrets

import pytest
from conftest import APP
from streamlit.testing.v1 import AppTest

from engine.presets import preset
from engine.queue import jobs
from engine.runs import admin, hosting
from engine.runs.store import RunState, create_run, list_runs
from ui import visitor

PASSWORD = "correct horse battery"
ADMIN_CAPTION = "Admin: every run and sweep can be changed."


@pytest.fixture(autouse=True)
def hosted(monkeypatch):
    monkeypatch.setenv(hosting.PUBLIC_ENV, "1")


@pytest.fixture()
def clock(monkeypatch) -> list[float]:
    """The server's admin tries on a fresh throttle whose clock the test moves: ``clock[0]``."""
    now = [1000.0]
    monkeypatch.setattr(admin, "TRIES", admin.Throttle(clock=lambda: now[0]))
    return now


def _open(token: str | None) -> AppTest:
    """The app (Home) with an admin password in its secrets, as the visitor ``token``."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["admin_password"] = PASSWORD
    if token:
        at.session_state["visitor_token"] = token
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _try(at: AppTest, password: str) -> list[str]:
    """Submit the sidebar's Admin form; the error messages it shows."""
    [field] = [t for t in at.sidebar.text_input if t.label == "Admin password"]
    field.input(password)
    [unlock] = [b for b in at.sidebar.button if b.label == "Unlock"]
    unlock.click().run()
    assert not at.exception, [e.value for e in at.exception]
    return [e.value for e in at.sidebar.error]


def _is_admin(at: AppTest) -> bool:
    return any(ADMIN_CAPTION in c.value for c in at.sidebar.caption)


def test_wrong_tries_wait_longer_and_longer_and_the_password_is_not_checked_meanwhile(clock):
    at = _open(secrets.token_urlsafe(16))
    assert _try(at, "guess 1") == ["Wrong password."]
    assert _try(at, PASSWORD) == ["Too many wrong tries: try again in 1 s."]
    assert not _is_admin(at)  # even the right password is not looked at during the wait
    clock[0] += 1
    assert _try(at, "guess 2") == ["Wrong password."]
    assert _try(at, PASSWORD) == ["Too many wrong tries: try again in 2 s."]
    clock[0] += 2
    assert _try(at, "guess 3") == ["Wrong password."]
    assert _try(at, "guess 4") == ["Too many wrong tries: try again in 4 s."]
    clock[0] += 4
    _try(at, PASSWORD)
    assert _is_admin(at)


def test_a_wrong_try_logs_the_visitors_hash_and_count_never_the_password(clock, caplog):
    token = secrets.token_urlsafe(16)
    at = _open(token)
    with caplog.at_level(logging.INFO, logger="engine.runs.admin"):
        _try(at, "my-wrong-guess")
        clock[0] += 1
        _try(at, PASSWORD)
    ours = [r for r in caplog.records if r.name == "engine.runs.admin"]
    wrong = [r.getMessage() for r in ours if r.levelno == logging.WARNING]
    vid = hosting.visitor_id(token)
    assert wrong == [f"wrong admin password from visitor {vid}: 1 in a row, next try in 1 s"]
    for secret in ("my-wrong-guess", PASSWORD, token):
        assert secret not in caplog.text  # in no log line at all, ours or Streamlit's


def test_an_unlock_survives_a_reload_of_the_same_visitor_until_locked(clock):
    token = secrets.token_urlsafe(16)
    at = _open(token)
    _try(at, PASSWORD)
    assert _is_admin(at)
    again = _open(token)  # a reload: a new session, the same cookie
    assert _is_admin(again)
    assert not [t for t in again.sidebar.text_input if t.label == "Admin password"]
    assert not _is_admin(_open(secrets.token_urlsafe(16)))  # another visitor is not the admin
    [lock] = [b for b in again.sidebar.button if b.label == "Lock admin"]
    lock.click().run()
    assert not _is_admin(again) and not _is_admin(_open(token))


def test_a_run_records_a_hash_of_the_visitors_token_never_the_token(runs_dir, monkeypatch):
    monkeypatch.setattr(jobs, "ensure_local_worker", lambda root=None: None)  # stays queued
    token = secrets.token_urlsafe(16)
    at = _open(token)
    at.query_params.update(preset="fast", epochs="1", limit_train="1000", batch_size="64")
    at.switch_page("app_pages/train.py").run()
    [start] = [b for b in at.button if b.label == "Start training"]
    start.click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    [run] = list_runs(runs_dir)
    assert token not in (run.path / "status.json").read_text()
    assert run.status()["owner"] == hosting.visitor_id(token)
    folders = [p.name for p in (runs_dir / hosting.VISITORS_DIR).iterdir()]
    assert folders == [hosting.visitor_id(token)]  # the visitor's folder is not named by it


def test_a_visitor_back_with_an_old_cookie_still_owns_their_runs(runs_dir, monkeypatch):
    token = secrets.token_urlsafe(16)  # a cookie from before ids were hashed
    run = create_run(preset("fast", epochs=1, limit_train=512), runs_dir, "from-before")
    run.set_status(RunState.COMPLETE, owner=token, submitted=1.0)
    (runs_dir / hosting.VISITORS_DIR / token).mkdir(parents=True)
    monkeypatch.setattr(visitor, "_cookie_token", lambda: token)
    _open(None)  # no token in the session yet: the browser's cookie gives it
    assert token not in (run.path / "status.json").read_text()
    me = hosting.Visitor(hosting.visitor_id(token))
    assert hosting.may_change(run.status(), me)
    assert not (runs_dir / hosting.VISITORS_DIR / token).exists()
