"""The visitor of this browser session (``engine.runs.hosting.Visitor``) and the admin unlock.

A visitor is a random token kept in a cookie, so it survives a reload in the same browser and
another browser is another visitor. Streamlit reads cookies (``st.context.cookies``) but cannot
set them, so a tiny custom component (v2, inline JS) writes the cookie once: it cannot be
HttpOnly. The server knows the visitor by a hash of the token (``engine.runs.hosting.visitor_id``),
never the token itself. The admin unlock is kept on the server per visitor (``engine.runs.admin``).
"""

from __future__ import annotations

import contextlib
import secrets

import streamlit as st

from engine import EngineError
from engine.queue import jobs
from engine.runs import admin, hosting
from engine.runs.hosting import HostingError, Visitor
from engine.runs.store import runs_dir

COOKIE = "engine_visitor"
COOKIE_DAYS = 30
# session-state key: the raw token, kept only in this session
_TOKEN = "visitor_token"  # noqa: S105 - the key's name, not a secret

_SET_COOKIE_JS = """
export default function (component) {
  const { data } = component;
  if (!data || !data.name || !data.token) return;
  const has = document.cookie.split("; ").some((c) => c === `${data.name}=${data.token}`);
  if (!has) {
    const secure = window.location.protocol === "https:" ? "; Secure" : "";
    document.cookie =
      `${data.name}=${data.token}; Max-Age=${data.maxAge}; Path=/; SameSite=Lax${secure}`;
  }
}
"""
_cookie_writer = st.components.v2.component("engine_visitor_cookie", js=_SET_COOKIE_JS)


def _secret(name: str) -> str | None:
    """A value of ``st.secrets`` (None when there is no secrets file or no such key)."""
    try:
        value = st.secrets.get(name)
    except Exception:  # no secrets.toml at all: Streamlit raises its own error type
        return None
    return None if value is None else str(value)


def _cookie_token() -> str | None:
    try:
        token = st.context.cookies.get(COOKIE)
    except Exception:  # no browser behind this session (AppTest)
        return None
    return token if hosting.valid_token(token) else None


def _logged_in_admin() -> bool:
    """Signed in through ``st.login`` with an e-mail listed in ``st.secrets['admin_emails']``."""
    emails = _secret("admin_emails")
    if not emails:
        return False
    try:
        user = st.user
        return bool(user.is_logged_in) and str(user.get("email", "")) in emails
    except Exception:
        return False


def _token() -> str:
    """This session's token: the cookie's, else a new one."""
    token = st.session_state.get(_TOKEN)
    if not hosting.valid_token(token):
        token = _cookie_token()
        if token:  # once per session: work stored under the raw token moves to its hash
            with contextlib.suppress(EngineError, OSError):
                jobs.adopt_legacy_visitor(token, runs_dir())
        else:
            token = secrets.token_urlsafe(16)
        st.session_state[_TOKEN] = token
    return token


def current() -> Visitor:
    """This browser's visitor. In local mode (not public) every visitor is the admin."""
    me = hosting.visitor_id(_token())
    is_admin = not hosting.public() or admin.unlocked(me) or _logged_in_admin()
    return Visitor(id=me, is_admin=is_admin)


def keep_cookie() -> None:
    """Write this session's token into the browser's cookie when it is not there yet."""
    token = _token()
    if _cookie_token() != token:
        _cookie_writer(
            data={"name": COOKIE, "token": token, "maxAge": COOKIE_DAYS * 86400},
            key="visitor_cookie",
            height=0,
        )


def admin_panel() -> None:
    """Sidebar unlock for the admin (hosted mode only): a password from ``st.secrets``."""
    if not hosting.public():
        return
    me = current().id
    if admin.unlocked(me) or _logged_in_admin():
        st.caption(":material/shield_person: Admin: every run and sweep can be changed.")
        if admin.unlocked(me) and st.button("Lock admin", key="admin_lock"):
            admin.lock(me)
            st.rerun()
        return
    expected = _secret("admin_password")
    with st.expander("Admin", expanded=False):
        if _secret("admin_emails") and _has_auth() and st.button("Log in", key="admin_login"):
            st.login()
        if not expected:
            st.caption("No admin password is set (`admin_password` in secrets.toml).")
            return
        with st.form("admin_unlock", clear_on_submit=True, border=False):
            given = st.text_input("Admin password", type="password")
            if st.form_submit_button("Unlock"):
                try:
                    right = admin.unlock(me, given, expected)
                except HostingError as e:  # wrong tries before: the password is not checked
                    st.error(str(e))
                    return
                if right:
                    st.rerun()
                st.error("Wrong password.")


def _has_auth() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:
        return False
