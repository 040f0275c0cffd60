"""The CLI end to end, as a subprocess: seed-style lines, last line JSON, clean errors."""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.__main__ import build_parser
from engine.runs.store import RunState, open_run

# each test runs python -m engine in a new process (make test-fast leaves it out)
pytestmark = pytest.mark.slow


def cli(*args: str) -> tuple[int, list[str], str]:
    p = subprocess.run(
        [sys.executable, "-m", "engine", *args], capture_output=True, text=True, timeout=300
    )
    return p.returncode, p.stdout.strip().splitlines(), p.stderr


def test_train_dry_run_prints_seed_lines_and_leaves_a_complete_run():
    code, lines, err = cli("train", "--dry-run", "--dataset", "mnist")
    assert code == 0, err
    summary = json.loads(lines[-1])
    assert {"run_dir", "test_accuracy", "seconds"} <= set(summary)
    assert any(line.startswith("loss: ") and "[    0/  256]" in line for line in lines)
    assert any(line.startswith("Test Error: Accuracy: ") for line in lines)
    run = open_run(Path(summary["run_dir"]))
    assert run.state() == RunState.COMPLETE and run.has_checkpoint()


def test_train_flags_reach_the_config():
    code, lines, err = cli(
        "train", "--dry-run", "--dataset", "fashion-mnist", "--model", "cnn",
        "--channels", "4,8,8", "--kernel-sizes", "3,3,3", "--padding", "same",
        "--activation", "gelu", "--optimizer", "sgd", "--lr", "0.05", "--seed", "7",
    )  # fmt: skip
    assert code == 0, err
    cfg = open_run(Path(json.loads(lines[-1])["run_dir"])).config()
    assert cfg.model.channels == (4, 8, 8) and cfg.model.activation == "gelu"
    assert (cfg.dataset, cfg.optimizer, cfg.lr, cfg.seed) == ("fashion-mnist", "sgd", 0.05, 7)


def test_nonsense_architecture_is_a_one_line_error_not_a_traceback():
    code, lines, err = cli("train", "--model", "cnn", "--channels", "8,8,8", "--kernel-sizes", "5")
    assert code == 2 and "Traceback" not in err
    assert "error:" in err and "conv layers" in err
    assert "error" in json.loads(lines[-1])


def test_eval_and_predict_on_real_photos(greek_files):
    code, lines, _ = cli("train", "--dry-run", "--dataset", "mnist")
    run_dir = json.loads(lines[-1])["run_dir"]
    code, lines, err = cli("eval", run_dir)
    assert code == 0 and json.loads(lines[-1])["n"] > 0
    images = [str(p) for p, _ in greek_files[:3]]
    code, lines, err = cli("predict", run_dir, *images)
    assert code == 0, err
    assert len(lines) == 4
    path, label, prob = lines[0].split("\t")
    assert path == images[0] and label in "0123456789" and 0 < float(prob) <= 1


def test_predict_names_a_bad_file_and_exits_nonzero(tmp_path, greek_files):
    code, lines, _ = cli("train", "--dry-run", "--dataset", "mnist")
    run_dir = json.loads(lines[-1])["run_dir"]
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    code, lines, err = cli("predict", run_dir, str(greek_files[0][0]), str(bad))
    assert code == 1 and "Traceback" not in err
    assert err.strip().splitlines() == [f"error: {bad}: not an image we can read " + err.split(
        "not an image we can read ", 1)[1].strip()]  # fmt: skip
    result = json.loads(lines[-1])
    assert result["failed"] == 1 and len(result["predictions"]) == 2


def test_missing_run_is_a_clean_error(tmp_path):
    code, lines, err = cli("eval", str(tmp_path / "nope"))
    assert code == 2 and "Traceback" not in err and "no checkpoint" in err


def test_data_status_reports_sources():
    code, lines, err = cli("data", "status")
    assert code == 0, err
    datasets = json.loads(lines[-1])["datasets"]
    assert set(datasets) == {"mnist", "fashion-mnist"}
    assert all(d["source"] for d in datasets.values())


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(path, parser) of every command and subcommand, e.g. (("sweep", "run"), <parser>)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name), sub
                yield from _commands(sub, (*path, name))


COMMANDS = dict(_commands(build_parser()))


def test_every_command_and_flag_has_help():
    top = {p[0] for p in COMMANDS}
    assert {"data", "train", "resume", "eval", "predict", "summary", "sweep", "greek"} <= top
    assert {("sweep", s) for s in ("run", "work", "report", "stop")} <= set(COMMANDS)
    for path, parser in {(): build_parser(), **COMMANDS}.items():
        for action in parser._actions:
            where = f"python -m engine {' '.join(path)}"
            if isinstance(action, argparse._SubParsersAction):  # each subcommand says what it does
                for choice in action._choices_actions:
                    assert choice.help, f"{where} {choice.dest}: no help"
                continue
            what = "/".join(action.option_strings) or action.dest
            assert action.help, f"{where}: {what} has no help"


@pytest.mark.parametrize("path", [" ".join(p) for p in COMMANDS])
def test_help_of_every_command_lists_every_flag(path):
    code, lines, err = cli(*path.split(), "--help")
    text = "\n".join(lines)
    assert code == 0 and "Traceback" not in err, err
    assert text.startswith(f"usage: python -m engine {path}"), text[:200]
    for action in COMMANDS[tuple(path.split())]._actions:
        for flag in action.option_strings:
            assert flag in text, f"{path}: {flag} is missing from --help"


def test_the_parser_imports_neither_torch_nor_optuna():
    """`--help` and a mistyped flag answer at once: building the parser loads no heavy package
    (the sweep package loads its study and worker on first use)."""
    code = "import sys; from engine.__main__ import build_parser; build_parser(); "
    code += "print(sorted(m for m in ('torch', 'optuna') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr
