"""The docs match the code: the engine's docstring names every module it has."""

from pathlib import Path

import engine

ENGINE = Path(engine.__file__).parent


def test_the_engine_docstring_lists_every_module():
    modules = [p.stem for p in ENGINE.glob("*.py") if p.stem != "__init__"]
    modules += [p.name for p in ENGINE.iterdir() if (p / "__init__.py").is_file()]
    missing = [m for m in modules if f"``{m}``" not in engine.__doc__]
    assert not missing, f"engine/__init__.py does not describe {missing}"
