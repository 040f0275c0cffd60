"""The visitor of this browser session (``engine.hosting.Visitor``) and the admin unlock.

A visitor is a random token kept in a cookie, so it survives a reload in the same browser and
another browser is another visitor. Streamlit reads cookies (``st.context.cookies``) but cannot
set them, so a tiny custom component (v2, inline JS) writes the cookie once.
"""

from __future__ import annotations

import hmac
import os
import secrets

import streamlit as st

from engine import hosting
from engine.hosting import Visitor

COOKIE = "engine_visitor"
COOKIE_DAYS = 30
_TOKEN = "visitor_token"  # session-state keys
_ADMIN = "visitor_admin"

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


def apply_settings() -> None:
    """``ENGINE_PUBLIC`` may come from ``st.secrets`` (Community Cloud has no environment)."""
    value = _secret(hosting.PUBLIC_ENV)
    if value is not None and hosting.PUBLIC_ENV not in os.environ:
        os.environ[hosting.PUBLIC_ENV] = value  # job processes inherit it too


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


def current() -> Visitor:
    """This browser's visitor. In local mode (not public) every visitor is the admin."""
    token = st.session_state.get(_TOKEN)
    if not hosting.valid_token(token):
        token = _cookie_token() or secrets.token_urlsafe(16)
        st.session_state[_TOKEN] = token
    admin = not hosting.public() or bool(st.session_state.get(_ADMIN)) or _logged_in_admin()
    return Visitor(id=token, is_admin=admin)


def keep_cookie() -> None:
    """Write this session's token into the browser's cookie when it is not there yet."""
    token = current().id
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
    if st.session_state.get(_ADMIN) or _logged_in_admin():
        st.caption(":material/shield_person: Admin: every run and sweep can be changed.")
        if st.session_state.get(_ADMIN) and st.button("Lock admin", key="admin_lock"):
            st.session_state[_ADMIN] = False
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
                # compare_digest: the time taken says nothing about how much of it matched
                if hmac.compare_digest(given.encode(), expected.encode()):
                    st.session_state[_ADMIN] = True
                    st.rerun()
                st.error("Wrong password.")


def _has_auth() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:
        return False
