"""Security settings and rules that a hosted dashboard depends on, checked on the code itself."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

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


def test_every_torch_load_is_weights_only():
    """The one unsafe load ruff's S rules do not know: torch.load unpickles unless it is told
    weights_only=True."""
    bad = []
    for path in PRODUCT:
        for node in ast.walk(ast.parse(path.read_text())):
            f = getattr(node, "func", None)
            if isinstance(f, ast.Attribute) and f.attr == "load" and getattr(f.value, "id", "") in (
                "torch", "th"
            ):  # fmt: skip
                kw = {k.arg: k.value for k in node.keywords}
                safe = kw.get("weights_only")
                if not (isinstance(safe, ast.Constant) and safe.value is True):
                    bad.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not bad, f"torch.load without weights_only=True: {bad}"


UNSAFE = """\
import os, pickle, subprocess
pickle.loads(b"")
eval("1")
exec("1")
subprocess.run("ls", shell=True)
os.system("ls")
"""


def test_the_lint_refuses_unsafe_calls_in_the_product():
    """`make test` lints with ruff's bandit rules (S): pickle, eval, exec, a shell. Checked on a
    file of the product's folders, so the rules cannot be switched off there unnoticed."""
    out = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--output-format", "concise", "--no-cache",
         "--stdin-filename", "engine/unsafe_example.py", "-"],
        input=UNSAFE, capture_output=True, text=True, cwd=ROOT,
    ).stdout  # fmt: skip
    for rule in ("S301", "S307", "S102", "S602", "S605"):
        assert rule in out, (rule, out)


def test_run_ids_in_links_are_refused_with_a_message(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from engine.presets import preset
    from engine.runs.store import RunState, create_run

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
