"""AppTest helpers: open a page through the router, with a chosen runs directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture(scope="module")
def digit_runs(digit_runs_factory) -> Path:
    """A runs directory with the default digit model, shared by a test module."""
    return digit_runs_factory()


@pytest.fixture()
def open_page(monkeypatch):
    """``open_page("app_pages/x.py", runs=DIR, query={...})``: the page, run through app.py."""

    def open_(path: str, runs: Path | None = None, query: dict | None = None) -> AppTest:
        if runs is not None:
            monkeypatch.setenv("ENGINE_RUNS_DIR", str(runs))
        at = AppTest.from_file(APP, default_timeout=120)
        for k, v in (query or {}).items():
            at.query_params[k] = v
        at.run()
        at.switch_page(path).run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return open_
