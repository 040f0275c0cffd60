"""engine.sweep: spec, conclusions, Pareto front; 2 worker processes on journal and PostgreSQL
storage; a worker killed mid-trial, then resumed; the CLI's last-line JSON."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path

import optuna
import pytest

from engine import sweep
from engine.presets import PRESETS
from engine.queue import trials
from engine.runs.store import load_model, runs_dir
from engine.sweep import SweepSpec, TrialRow

# sweeps of real trainings on worker processes (make test-fast leaves it out)
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
PG_URLS = ("postgresql://root@127.0.0.1:5432/test", "postgresql://postgres@127.0.0.1:5432/test")
SEED_GRID = [
    "--dim", "batch_size=64,256", "--dim", "activation=relu,tanh",
    "--dim", "conv_layers=1,2", "--dim", "kernel_size=3,5",
]  # fmt: skip


def tiny(space: dict, **base) -> SweepSpec:
    """Trials of well under a second: 512 training examples, 500 test examples, 1 epoch."""
    kw = dict(limit_train=512, limit_test=500, epochs=1) | base
    return SweepSpec(base=sweep.default_base(**kw), space=space)


def row(n, acc, secs, **params) -> TrialRow:
    return TrialRow(n, "complete", params, accuracy=acc, seconds=secs, params_count=1000)


# --- pure functions ---------------------------------------------------------------------------
def test_spec_grid_skips_combinations_that_cannot_train():
    base = sweep.default_base()
    valid = replace(base, model=replace(base.model, padding="valid"))
    spec = SweepSpec(base=valid, space={"conv_layers": (1, 3), "kernel_size": (3, 9)})
    ok, bad = spec.grid()
    assert {tuple(p.values()) for p in ok} == {(1, 3), (1, 9), (3, 3)}
    assert bad[0][0] == {"conv_layers": 3, "kernel_size": 9} and "does not fit" in bad[0][1]
    assert spec.size() == 3
    assert SweepSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    cfg = sweep.apply(base, {"conv_layers": 3, "filters": 8, "batch_size": 32, "dropout": 0.25})
    assert cfg.model.channels == (8, 16, 32) and cfg.batch_size == 32 and cfg.model.dropout == 0.25
    assert sweep.parse_values("lr", "0.001, 0.01") == (0.001, 0.01)
    with pytest.raises(sweep.SweepError, match="unknown setting"):
        SweepSpec(space={"colour": ("red",)}).validate()


def test_conclusions_are_drawn_from_the_data():
    rows = [
        row(0, 0.880, 3.0, batch_size=64, activation="relu"),
        row(1, 0.870, 3.0, batch_size=64, activation="tanh"),
        row(2, 0.873, 1.0, batch_size=256, activation="relu"),
        row(3, 0.841, 1.0, batch_size=256, activation="tanh"),
        TrialRow(4, "failed", {"batch_size": 64, "activation": "relu"}, error="worker died"),
    ]
    text = sweep.conclusions(rows, ["batch_size", "activation"])
    assert text[0].startswith("Best: 88.0% test accuracy with batch size 64, activation relu")
    # Biggest effect first.
    assert text[1].startswith("Activation relu beat tanh by 2.1 points")
    assert "about as fast" in text[1]
    assert text[2] == (
        "Batch size 64 beat 256 by 1.8 points on average (87.5% ± 0.7 vs 85.7% ± 2.3, "
        "2 vs 2 trials), 3.0× slower."
    )
    assert "3.0× faster: batch size 256, activation relu" in text[3]
    eff = {e.value: e for e in sweep.effects(rows, "batch_size")}
    assert eff[64].n == 2 and eff[64].mean == pytest.approx(0.875)
    assert eff[64].std == pytest.approx(0.00707, abs=1e-4)
    same = [row(0, 0.8, 1.0, dropout=0.0), row(1, 0.801, 1.0, dropout=0.5)]
    assert "made little difference" in sweep.conclusions(same, ["dropout"])[1]
    assert "Not enough" in sweep.conclusions(rows[:1], ["batch_size"])[0]


def test_each_claim_says_how_many_trials_stand_behind_it():
    single = [row(0, 0.90, 1.0, activation="relu"), row(1, 0.85, 1.0, activation="tanh")]
    text = sweep.conclusions(single, ["activation"])
    assert "1 trial each" in text[1] and "chance" in text[1]
    assert "±" not in text[1]  # no spread from one trial


def test_repeats_show_the_seed_spread_and_temper_small_differences():
    rows = [  # two settings × three seeds; relu is 0.4 points better, seeds differ by ~1
        row(0, 0.880, 1.0, activation="relu", seed=1),
        row(1, 0.890, 1.0, activation="relu", seed=2),
        row(2, 0.870, 1.0, activation="relu", seed=3),
        row(3, 0.876, 1.0, activation="tanh", seed=1),
        row(4, 0.886, 1.0, activation="tanh", seed=2),
        row(5, 0.866, 1.0, activation="tanh", seed=3),
    ]
    text = sweep.conclusions(rows, ["activation", "seed"])
    assert text[1].startswith("Repeats: the same settings trained with 3 seeds differ by 1.0")
    [claim] = [t for t in text if t.startswith("Activation")]
    assert "88.0% ± 1.0 vs 87.6% ± 1.0, 3 vs 3 trials" in claim
    assert "within the spread between seeds" in claim
    assert not any(t.startswith("Seed") for t in text)  # the seed is the noise, not a finding


def test_a_sweep_compares_at_least_two_trials():
    with pytest.raises(sweep.SweepError, match="at least 2"):
        SweepSpec(space={"activation": ("relu",)}).validate()
    with pytest.raises(sweep.SweepError, match="at least 2"):
        SweepSpec(space={"activation": ("relu", "tanh")}, sampler="tpe", n_trials=1).validate()
    SweepSpec(space={"activation": ("relu", "tanh")}).validate()


def test_names_of_a_new_sweep_and_of_its_best_run():
    assert sweep.best_run_id("sweep-20261127-101500") == "sweep-20261127-101500-best"
    assert sweep.best_run_id("lr-study") == "sweep-lr-study-best"
    first = sweep.new_name()
    assert first.startswith("sweep-") and sweep.new_name([first]) == first + "-2"
    assert sweep.new_name([first, first + "-2"]) == first + "-3"


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_a_sweep_can_be_built_around_any_preset(name):
    base = sweep.default_base(name, limit_train=256, limit_test=100)
    family = base.model.family
    dims = sweep.default_dimensions(family)
    spec = SweepSpec(base=base, space={d: sweep.DIMENSIONS[d].seed for d in dims}, preset=name)
    spec.validate()
    assert spec.size() == 16
    for params in spec.grid()[0]:  # every trial is the preset with only the swept settings changed
        cfg = sweep.apply(base, params)
        assert cfg.model.family == family and cfg.model.log_softmax == base.model.log_softmax
        assert cfg.standardize == base.standardize and cfg.dataset == base.dataset
    if family == "mlp":
        with pytest.raises(sweep.SweepError, match="does not apply to an MLP"):
            SweepSpec(base=base, space={"kernel_size": (3, 5)}).validate()


def test_a_sweep_of_the_seed_networks_trains_and_reports():
    """The seed's CNN (log-softmax, SGD) and MLP (no standardisation) as sweep bases."""
    for preset_name, space in (
        ("seed-mnist-cnn", {"conv_layers": (1, 2)}),
        ("seed-fashion-mlp", {"hidden": (32, 64)}),
    ):
        base = sweep.default_base(preset_name, limit_train=256, limit_test=100, dataset="mnist")
        spec = SweepSpec(base=base, space=space, preset=preset_name)
        name = sweep.create(spec, f"pytest-{preset_name}")
        assert sweep.work(name, echo=lambda s: None) == 2
        rep = sweep.read_report(name)
        assert rep.count("complete") == 2 and rep.best.run_id == f"sweep-pytest-{preset_name}-best"
        _, cfg = load_model(runs_dir() / rep.best.run_id)
        assert cfg.model.family == PRESETS[preset_name].model.family
        assert cfg.standardize == PRESETS[preset_name].standardize


def test_pareto_front_keeps_trials_nothing_beats_on_both_accuracy_and_time():
    rows = [row(0, 0.9, 5.0), row(1, 0.85, 1.0), row(2, 0.84, 2.0), row(3, 0.88, 3.0)]
    assert [r.number for r in sweep.pareto_front(rows)] == [1, 3, 0]


# --- workers in separate processes ------------------------------------------------------------
def _pg_url() -> str:
    import sqlalchemy

    errors = []
    for url in PG_URLS:
        try:
            engine = sqlalchemy.create_engine(url.replace("://", "+psycopg2://", 1))
            with engine.connect():
                return url
        except Exception as e:  # noqa: BLE001
            errors.append(f"{url}: {type(e).__name__}")
    pytest.skip("no PostgreSQL server reachable (" + "; ".join(errors) + ")")


@pytest.fixture(params=["journal", "postgresql"])
def storage(request):
    if request.param == "journal":
        yield str(runs_dir().resolve() / "sweeps" / "sweeps.journal")
        return
    url = _pg_url()
    yield url
    import optuna

    for name in sweep.list_sweeps(url):
        if name.startswith("pytest-"):
            optuna.delete_study(study_name=name, storage=sweep.open_storage(url))


def _cli(*args: str, timeout: float = 120) -> tuple[dict, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "engine", "sweep", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stdout


def test_cli_grid_with_two_workers_trains_16_distinct_trials(storage):
    name = f"pytest-{uuid.uuid4().hex[:8]}"
    # 2,048 examples a trial: long enough that the second worker joins before the first has run
    # all 16 (with 512, one worker once took them all in a loaded fresh-clone run).
    out, text = _cli(
        "run", "--name", name, "--storage", storage, "--workers", "2",
        "--limit-train", "2048", "--limit-test", "500", "--epochs", "1", *SEED_GRID,
    )  # fmt: skip
    assert out["n_complete"] == 16 and out["n_failed"] == 0 and out["n_queued"] == 0
    rep = sweep.read_report(name, storage)
    params = [tuple(sorted(r.params.items())) for r in rep.rows]
    assert len(rep.rows) == 16 and len(set(params)) == 16  # every grid point once, no duplicate
    assert all(r.seconds > 0 and r.params_count > 0 and r.test_loss > 0 for r in rep.rows)
    assert len({r.params.get("batch_size") for r in rep.rows}) == 2
    # Both processes trained: each trial records its worker. (A worker that lost the race for
    # the last grid point leaves a failed trial with no settings and no worker; it is no row.)
    study, _ = sweep.load(name, storage)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == 16 and len({t.user_attrs["worker"] for t in done}) == 2
    assert out["best"]["accuracy"] == max(r.accuracy for r in rep.rows)
    model, cfg = load_model(runs_dir() / out["best"]["run_id"])  # a normal run directory
    assert cfg.batch_size == out["best"]["params"]["batch_size"]
    assert "Batch size" in text and "points on average" in text

    again, _ = _cli("report", "--name", name, "--storage", storage)
    assert again["n_complete"] == 16 and again["best"]["trial"] == out["best"]["trial"]


def _wait(cond, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = cond()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_killed_worker_trial_is_failed_and_retried():
    """The process training a trial is SIGKILLed: the queue's worker comes back, its
    housekeeping fails the trial and queues a retry, and the sweep ends with every point."""
    from engine.sweep.study import _claimed_by

    spec = tiny({"batch_size": (32, 64), "activation": ("relu", "tanh")}, limit_train=2000)
    name = sweep.create(spec, "pytest-kill")
    trials.start(name, 1)  # trials are tasks; submitting starts this machine's worker
    rep = _wait(
        lambda: (
            (r := sweep.read_report(name)).count("complete") >= 1
            and any(x.state == "running" for x in r.rows)
            and r
        ),
        90,
        "a first complete trial and a second one training",
    )
    time.sleep(0.5)  # well inside the ~2 s trial
    study, _ = sweep.load(name)
    [trial] = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    victim = next(r for r in sweep.read_report(name).rows if r.number == trial.number)
    done_before = {r.number: r.accuracy for r in rep.rows if r.state == "complete"}
    os.kill(int(_claimed_by(trial).rpartition(":")[2]), signal.SIGKILL)
    _wait(lambda: sweep.read_report(name).count("complete") >= 4, 120, "the sweep to finish")
    rows = {r.number: r for r in sweep.read_report(name).rows}
    assert rows[victim.number].state == "failed" and "died" in rows[victim.number].error
    retry = [r for r in rows.values() if r.retry_of == victim.number]
    assert len(retry) == 1 and retry[0].state == "complete"
    assert retry[0].params == victim.params
    complete = [r for r in rows.values() if r.state == "complete"]
    assert len(complete) == 4 and len({tuple(r.params.values()) for r in complete}) == 4
    assert len(rows) == 5  # nothing trained twice, nothing lost
    for n, acc in done_before.items():
        assert rows[n].state == "complete" and rows[n].accuracy == acc


def test_the_report_and_the_space_are_pure():
    """report.py (rows, effects, conclusions) and space.py import no Optuna: their functions
    work on plain data; the objective is a module-level function of the worker."""
    import ast

    folder = Path(sweep.__file__).parent
    for name in ("report.py", "space.py"):
        tree = ast.parse((folder / name).read_text())
        imported = {
            (n.module or "") if isinstance(n, ast.ImportFrom) else a.name
            for n in ast.walk(tree)
            if isinstance(n, ast.Import | ast.ImportFrom)
            for a in n.names
        }
        assert not [m for m in imported if m.split(".")[0] == "optuna"], name
    from engine.sweep import worker

    assert worker.objective.__qualname__ == "objective"  # not nested in work()


def test_the_grid_is_built_once_per_spec(monkeypatch):
    from engine.sweep import space

    calls = []
    real = space.apply
    monkeypatch.setattr(space, "apply", lambda *a: calls.append(1) or real(*a))
    spec = SweepSpec(space={"batch_size": (32, 64), "activation": ("relu", "tanh", "gelu")})
    spec.validate()
    assert spec.size() == 6 and len(spec.grid()[0]) == 6
    assert len(calls) == 6  # one config per combination, whatever is asked afterwards
