"""The import contract: no cycle among engine's modules, counting the imports inside functions
too (a lazy import hides a cycle, it does not remove it). A new cycle fails here, naming it."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _graph() -> dict[str, set[str]]:
    """engine module → the engine modules it imports, at any depth of its code."""
    files = {}
    for f in (ROOT / "engine").rglob("*.py"):
        parts = f.relative_to(ROOT).with_suffix("").parts
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    graph = {m: set() for m in files}

    def resolve(name: str | None) -> str | None:
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name

    for mod, f in files.items():
        package = mod if f.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(f.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join(up + ([node.module] if node.module else []))
                names = [f"{base}.{a.name}" for a in node.names] + [base]
            for name in names:
                target = resolve(name) if name.startswith("engine") else None
                if target and target != mod:
                    graph[mod].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_engine_has_no_import_cycle():
    assert _cycles(_graph()) == []


def test_the_contract_sees_a_cycle_held_by_a_lazy_import():
    """The check itself: a cycle through an import inside a function is found."""
    graph = {"engine.a": {"engine.b"}, "engine.b": {"engine.a"}, "engine.c": {"engine.a"}}
    assert _cycles(graph) == [["engine.a", "engine.b"]]
    assert (
        "engine.queue.taskq" in _graph()["engine.queue.tasks"]
    )  # lazy and top-level imports both count


def test_importing_the_engine_pulls_in_no_optional_heavy_package():
    """A page or a CLI command that predicts does not pay for the sweep (optuna), the export
    (onnx) or the photo tools (cv2) until it uses them (bench/import_cost.py times it)."""
    probe = (
        "import sys, engine, engine.nn.predict, engine.queue.jobs, engine.runs.store\n"
        "import engine.fewshot.embed\n"
        "print(' '.join(m for m in ('optuna', 'onnx', 'onnxscript', 'cv2') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.split() == [], out.stdout


# The layers of engine/, lowest first: a module imports only from its own layer and earlier ones.
LAYERS = [
    {"engine", "engine.settings", "engine.glyph_sets", "engine.config", "engine.presets"},
    {"engine.data"},
    {"engine.nn"},
    {"engine.training"},
    {"engine.runs"},
    {"engine.fewshot"},
    {"engine.sweep"},
    {"engine.queue"},
    {"engine.__main__", "engine.cli_recognize"},
]


def _layer(module: str) -> int:
    for i, layer in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in layer - {"engine"}):
            return i
    assert module == "engine", f"{module} is in no layer: add it to LAYERS"
    return 0


def _upward(graph: dict[str, set[str]]) -> list[str]:
    return sorted(f"{m} → {t}" for m, ts in graph.items() for t in ts if _layer(t) > _layer(m))


def test_engine_modules_import_only_their_own_layer_and_lower_ones():
    assert _upward(_graph()) == []


def test_the_layer_contract_sees_an_upward_import():
    graph = {"engine.data.datasets": {"engine.runs.store"}, "engine.runs.store": {"engine.config"}}
    assert _upward(graph) == ["engine.data.datasets → engine.runs.store"]


def test_the_pages_use_only_streamlit_webrtcs_public_names():
    """Its submodules change between releases; ``streamlit_webrtc.__all__`` is its API."""
    import streamlit_webrtc

    used = []
    for f in [ROOT / "app.py", *(ROOT / "ui").rglob("*.py"), *(ROOT / "app_pages").rglob("*.py")]:
        text = f.read_text()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("streamlit_w"):
                used += [(node.module, a.name) for a in node.names]
            elif isinstance(node, ast.Import):
                used += [(a.name, "") for a in node.names if a.name.startswith("streamlit_w")]
        used += [("streamlit_webrtc", n) for n in re.findall(r"\bget_\w+_ice_servers\b", text)]
    private = [
        f"{m}.{n}"
        for m, n in used
        if m != "streamlit_webrtc" or (n and n not in streamlit_webrtc.__all__)
    ]
    assert used and not private, private
