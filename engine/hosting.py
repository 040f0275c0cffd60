"""Hosted mode: who a visitor is, what they own, and the limits a shared server keeps.

``ENGINE_PUBLIC=1`` (environment, or ``st.secrets`` through the UI) turns it on. Off (the
default for ``make run``), every visitor is the admin and no quota applies; the visitor's token
still separates their Greek sample sets. The rules are checked here, where the action is carried
out (``engine.jobs`` and ``engine.runs`` call ``check_*``), not only by hiding buttons.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

PUBLIC_ENV = "ENGINE_PUBLIC"
LOCAL_VISITOR = "local"  # the owner recorded for work started from the CLI or in local mode
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


class HostingError(Exception):
    """An action the hosting rules refuse; the message is for the visitor."""


@dataclass(frozen=True)
class Visitor:
    id: str  # a random token kept in the browser (cookie); stable across reloads
    is_admin: bool = False  # may cancel, resume and delete anything; no quotas


def public() -> bool:
    """True when the server is hosted for the public ($ENGINE_PUBLIC is 1/true/yes)."""
    return os.environ.get(PUBLIC_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def valid_token(token: str | None) -> bool:
    """Whether ``token`` can name a visitor (and a folder): 8-64 URL-safe characters."""
    return bool(token) and bool(_TOKEN.match(token))
