"""Security settings and rules that a hosted dashboard depends on, checked on the code itself."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = [p for d in ("engine", "ui", "app_pages") for p in (ROOT / d).rglob("*.py")] + [
    ROOT / "app.py",
]


def test_streamlit_config_limits_uploads_and_protects_forms():
    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert cfg["server"]["enableXsrfProtection"] is True
    assert 1 <= cfg["server"]["maxUploadSize"] <= 200  # MB
    assert cfg["browser"]["gatherUsageStats"] is False
    # The listen address is not pinned: `make run` passes 127.0.0.1, a host passes 0.0.0.0.
    assert "address" not in cfg["server"]


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            owner = getattr(f.value, "id", "") if isinstance(f, ast.Attribute) else ""
            yield node, owner, name


@pytest.mark.parametrize("path", PRODUCT, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_unsafe_deserialisation_or_eval(path):
    tree = ast.parse(path.read_text())
    for node, owner, name in _calls(tree):
        where = f"{path.relative_to(ROOT)}:{node.lineno}"
        if owner == "torch" and name == "load":
            kw = {k.arg: k.value for k in node.keywords}
            assert isinstance(kw.get("weights_only"), ast.Constant) and kw["weights_only"].value, (
                f"{where}: torch.load without weights_only=True"
            )
        assert not (owner == "pickle" and name in ("load", "loads")), f"{where}: pickle of data"
        bare = isinstance(node.func, ast.Name)
        assert not (bare and name in ("eval", "exec")), f"{where}: eval/exec"
        if owner == "subprocess" or name in ("Popen", "system"):
            kw = {k.arg: k.value for k in node.keywords}
            shell = kw.get("shell")
            assert not (isinstance(shell, ast.Constant) and shell.value), f"{where}: shell=True"
            assert name != "system", f"{where}: os.system"


def test_run_ids_in_links_are_refused_with_a_message(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from engine.config import preset
    from engine.runs import RunState, create_run

    monkeypatch.setenv("ENGINE_RUNS_DIR", str(tmp_path))
    create_run(preset("fast"), tmp_path, "some-run").set_status(RunState.CANCELLED)
    for page in ("app_pages/train.py", "app_pages/runs.py"):
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        at.query_params["run"] = "../../etc/passwd"
        at.run()
        at.switch_page(page).run()
        assert not at.exception, [e.value for e in at.exception]
        errors = " ".join(e.value for e in at.error)
        assert "invalid run id" in errors, (page, errors)


def test_turn_credentials_are_not_shown_or_logged(digit_runs_factory, monkeypatch, capsys, caplog):
    from streamlit.testing.v1 import AppTest

    secret = "s3cr3t-turn-credential-value"
    monkeypatch.setenv("ENGINE_RUNS_DIR", str(digit_runs_factory()))
    monkeypatch.setenv("WEBRTC_TURN_URLS", "turn:turn.example.org:3478")
    monkeypatch.setenv("WEBRTC_TURN_USERNAME", "dashboard")
    monkeypatch.setenv("WEBRTC_TURN_CREDENTIAL", secret)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("app_pages/webcam.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("a relay (TURN) server" in c.value for c in at.caption)  # the page got it
    shown = " ".join(str(getattr(e, "value", "")) for e in at.main) + " ".join(
        str(getattr(e, "value", "")) for e in at.sidebar
    )
    assert secret not in shown
    out = capsys.readouterr()
    assert secret not in out.out + out.err and secret not in caplog.text
