"""Every ENGINE_*/WEBRTC_* setting is read in one place (engine.settings), checked, and named in
its error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine import settings
from engine.runs import hosting, store
from engine.settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_values_and_clear_errors():
    s = Settings.from_env({})
    assert s.max_queue == 8 and s.public is False and s.runs_dir == Path("runs")
    s = Settings.from_env({"ENGINE_MAX_QUEUE": " 3 ", "ENGINE_PUBLIC": "yes", "ENGINE_NICE": ""})
    assert s.max_queue == 3 and s.public is True and s.nice is None
    for env, says in (
        ({"ENGINE_MAX_QUEUE": "eight"}, "ENGINE_MAX_QUEUE='eight': not a number"),
        ({"ENGINE_MAX_JOBS": "0"}, "ENGINE_MAX_JOBS='0': at least 1"),
        ({"ENGINE_PUBLIC": "maybe"}, "ENGINE_PUBLIC='maybe': use 1 or 0"),
    ):
        with pytest.raises(SettingsError, match=re.escape(says)):
            Settings.from_env(env)


def test_the_code_reads_what_the_environment_says_now(monkeypatch, tmp_path):
    monkeypatch.setenv("ENGINE_RUNS_DIR", str(tmp_path))
    monkeypatch.setenv("ENGINE_MAX_RUNS_PER_VISITOR", "4")
    assert store.runs_dir() == tmp_path
    assert hosting.Limits.from_env().runs_per_visitor == 4
    monkeypatch.setenv("ENGINE_MAX_RUNS_PER_VISITOR", "5")  # a changed environment is read again
    assert hosting.Limits.from_env().runs_per_visitor == 5


def test_the_turn_credential_is_not_in_the_settings_repr():
    s = Settings.from_env({"WEBRTC_TURN_CREDENTIAL": "s3cr3t"})
    assert s.webrtc_turn_credential == "s3cr3t" and "s3cr3t" not in repr(s)


def test_no_module_reads_our_variables_from_the_environment_itself():
    """One home: a new setting goes into Settings (and so into docs/hosting.md's table)."""
    raw = re.compile(  # a read, not a write (the CLI's --runs-dir sets ENGINE_RUNS_DIR)
        r"""environ\.get\(\s*["'](?:ENGINE|WEBRTC)_|environ\[\s*["'](?:ENGINE|WEBRTC)_\w+["']\](?!\s*=)"""
    )
    files = [ROOT / "app.py", *ROOT.glob("engine/**/*.py"), *ROOT.glob("ui/**/*.py"),
             *ROOT.glob("app_pages/**/*.py")]  # fmt: skip
    readers = [str(p.relative_to(ROOT)) for p in files if p.name != "settings.py"
               and raw.search(p.read_text())]  # fmt: skip
    assert readers == [], readers
    assert settings.current() == Settings.from_env()
