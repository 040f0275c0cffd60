"""engine/ is a library: it never imports streamlit, statically or at run time."""

import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import engine

ENGINE = Path(engine.__file__).parent


def test_no_engine_file_imports_streamlit():
    pattern = re.compile(r"^\s*(import|from)\s+streamlit", re.M)
    offenders = [p.name for p in ENGINE.rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []


def test_importing_every_engine_module_loads_no_streamlit():
    mods = [f"engine.{m.name}" for m in pkgutil.iter_modules([str(ENGINE)])]
    code = (
        "import importlib, sys\n"
        f"for m in {mods!r}: importlib.import_module(m)\n"
        "print('streamlit' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
