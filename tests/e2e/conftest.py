"""Fixtures shared by the browser tests."""

from __future__ import annotations

import harness
import pytest


@pytest.fixture(scope="module")
def digit_app_url(digit_runs_factory, tmp_path_factory):
    """A dashboard (`streamlit run app.py`) on a runs folder holding the default digit model;
    one server per test module."""
    harness.require_browser()
    runs = digit_runs_factory()
    with harness.serve(runs, tmp_path_factory.mktemp("streamlit") / "server.log") as url:
        yield url
