"""The visitor of this browser session (``engine.hosting.Visitor``): ``visitor.current()``."""

from __future__ import annotations

import secrets

import streamlit as st

from engine.hosting import Visitor, public, valid_token

_KEY = "visitor_token"


def current() -> Visitor:
    """This browser's visitor. In local mode (not public) every visitor is the admin."""
    token = st.session_state.get(_KEY)
    if not valid_token(token):
        token = secrets.token_urlsafe(16)
        st.session_state[_KEY] = token
    return Visitor(id=token, is_admin=not public())
