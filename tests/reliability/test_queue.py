"""The task queue on its three storages (embedded SQLite, Redis, PostgreSQL at 127.0.0.1), with
real worker processes (``python -m engine worker``): caps, exactly-once epochs under SIGKILL,
an unreachable broker, and tasks a broker lost.

Redis and PostgreSQL tests are skipped, with the reason, where the server is not reachable.
Nothing here is timed: every wait is for a state, with a generous ceiling.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import time

import pytest
from queue_workers import BROKERS, Workers, broker_url, flush, wait_for

from engine.presets import preset
from engine.queue import jobs, taskq, tasks, trials
from engine.runs import hosting
from engine.runs.store import RunState, read_checkpoint

# real workers killed at random moments (make test-fast leaves it out)
pytestmark = pytest.mark.slow

TINY = dict(epochs=1, limit_train=512, limit_test=256, batch_size=64, threads=1)
# The long tests run on one storage each, so that every `make test` covers all three;
# `make stress` (QUEUE_ALL_BROKERS=1) runs each of them on every storage.
ALL_BROKERS = os.environ.get("QUEUE_ALL_BROKERS") == "1"


def on(name: str):
    """Run the test on broker ``name`` (on all three with QUEUE_ALL_BROKERS=1)."""
    return pytest.mark.parametrize("broker", list(BROKERS) if ALL_BROKERS else [name],
                                   indirect=True)  # fmt: skip


@pytest.fixture(params=list(BROKERS))
def broker(request, runs_dir, monkeypatch) -> str:
    monkeypatch.setenv(taskq.QUEUE_URL_ENV, broker_url(request.param, runs_dir))
    runs_dir.mkdir(parents=True, exist_ok=True)
    try:
        flush()
    except Exception as e:  # noqa: BLE001 - whatever the client raises: no server here
        pytest.skip(f"no {request.param} server at 127.0.0.1 ({type(e).__name__}: {e})")
    yield request.param
    with contextlib.suppress(Exception):
        flush()


@pytest.fixture()
def workers(runs_dir, broker):
    w = Workers(runs_dir)
    yield w
    w.stop()


def _epochs(run) -> list[int]:
    return [m["epoch"] for m in run.metrics() if m.get("kind") == "epoch"]


@on("redis")
def test_twenty_trainings_from_five_visitors_with_two_workers(runs_dir, workers, monkeypatch):
    """All complete, each exactly once, and the caps hold at every sample: never more than
    the 2 workers' slots running, never more than a visitor's quota active."""
    monkeypatch.setenv(hosting.PUBLIC_ENV, "1")
    monkeypatch.setenv("ENGINE_MAX_JOBS_PER_VISITOR", "4")
    monkeypatch.setenv("ENGINE_MAX_QUEUE", "20")
    workers.start()
    workers.start()
    visitors = [hosting.Visitor(id=f"visitor-{i:02d}-token", is_admin=False) for i in range(5)]
    for v in visitors:  # seen, as a page visit records them: their runs do not expire
        hosting.touch(runs_dir, v.id)
    runs = []
    for k in range(4):
        for v in visitors:
            runs.append(jobs.submit(preset("fast", **TINY, seed=k), by=v))
    with pytest.raises(hosting.HostingError, match="already have 4"):
        jobs.submit(preset("fast", **TINY), by=visitors[0])
    most_running, samples = 0, 0
    while not all(r.state().is_finished() for r in runs):
        states = [r.status() for r in runs]
        assert all("owner" in s for s in states), [s for s in states if "owner" not in s]
        running = sum(s["state"] == "running" for s in states)
        assert running <= 2, f"{running} running with 2 worker slots"
        for v in visitors:
            active = sum(s["owner"] == v.id and s["state"] in ("queued", "running")
                         for s in states)  # fmt: skip
            assert active <= 4
        most_running, samples = max(most_running, running), samples + 1
        time.sleep(0.02)
        assert samples < 20_000, "the trainings did not finish"
    assert [r.state() for r in runs] == [RunState.COMPLETE] * 20
    for r in runs:
        assert r.status()["attempt"] == 1 and _epochs(r) == [1]
        assert r.log_path.read_text().count("Done!") == 1  # trained once
    assert most_running == 2  # both workers took work
    assert {r.status()["owner"] for r in runs} == {v.id for v in visitors}


# More seeds: QUEUE_KILL_SEEDS=0,1,2,3 pytest tests/reliability/test_queue.py -k sigkill
SEEDS = [int(s) for s in os.environ.get("QUEUE_KILL_SEEDS", "0").split(",")]


@on("postgresql")
@pytest.mark.parametrize("seed", SEEDS)
def test_sigkill_of_workers_in_ten_random_places(runs_dir, workers, seed):
    """SIGKILL the process training a run, 10 times at random moments (loading, mid-epoch,
    saving); every 5th kill takes a whole worker (its consumer and processes) and a new one
    is started. Every training ends complete, with each epoch recorded exactly once."""
    rng = random.Random(seed)
    pool = [workers.start(), workers.start()]
    cfg = dict(epochs=4, limit_train=4096, limit_test=256, batch_size=64, threads=1, log_every=4)
    runs = [jobs.submit(preset("fast", **cfg, seed=i), run_id=f"r{i}") for i in range(8)]
    kills = 0
    while kills < 10:
        live = wait_for(lambda: [r for r in runs if r.state() == RunState.RUNNING]
                     or all(r.state().is_finished() for r in runs), 60)  # fmt: skip
        if live is True:
            break  # everything finished before 10 kills: the assertions below still hold
        time.sleep(rng.uniform(0.0, 1.5))
        run = rng.choice(live)
        st = run.status()
        if st.get("state") != "running":
            continue
        if kills % 5 == 4:
            victim = next((p for p in pool if p.pid in _parents(st["pid"])), None)
            if victim is None:
                continue
            workers.kill_group(victim)
            pool.remove(victim)
            pool.append(workers.start())
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(st["pid"], signal.SIGKILL)
        kills += 1
    assert kills == 10, "the trainings finished before 10 kills: make them longer"
    wait_for(lambda: all(r.state().is_finished() for r in runs), 240, 0.2)
    requeues = 0
    for r in runs:
        st = r.status()
        assert st["state"] == "complete", st
        assert _epochs(r) == [1, 2, 3, 4], r.id
        assert read_checkpoint(r.checkpoint_path)["epoch"] == 4
        assert not list(r.path.glob(".*.tmp"))
        requeues += int(st.get("requeues") or 0)
    assert requeues >= 5  # the kills were felt, and each came back


def _parents(pid: int) -> set[int]:
    """``pid`` and its ancestors."""
    out = {pid}
    with contextlib.suppress(OSError, ValueError, IndexError):
        while pid > 1:
            with open(f"/proc/{pid}/stat") as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
            out.add(pid)
    return out


def test_a_broker_that_lost_its_tasks_gets_them_again(runs_dir, broker, monkeypatch):
    """A Redis restart (it keeps nothing on disk here) loses the queued tasks; the run files
    keep them, and ``maintain`` sends them again; a worker then trains them."""
    if broker == "sqlite":
        pytest.skip("the embedded queue is a file in the runs folder: it loses nothing alone")
    run = jobs.submit(preset("fast", **TINY), run_id="kept")
    assert taskq.pending("cpu")
    flush()  # the broker forgets
    monkeypatch.setattr(taskq, "LOST_AFTER_S", 0.0)
    assert tasks.maintain(runs_dir)["resent"] == ["kept"]
    assert [n for n, _ in taskq.pending("cpu")] == ["train"]
    w = Workers(runs_dir)
    try:
        w.start()
        wait_for(lambda: run.state().is_finished(), 60)
    finally:
        w.stop()
    assert run.state() == RunState.COMPLETE and run.status()["attempt"] == 2


@pytest.mark.parametrize("url", ["redis://127.0.0.1:1/0", "postgresql://postgres@127.0.0.1:1/x"])
def test_an_unreachable_broker_says_so_and_creates_nothing(runs_dir, monkeypatch, url):
    monkeypatch.setenv(taskq.QUEUE_URL_ENV, url)
    with pytest.raises(taskq.QueueUnavailable, match="the training queue is unreachable"):
        jobs.submit(preset("fast", **TINY), run_id="never")
    assert not (runs_dir / "never").exists()
    assert jobs.ensure_local_worker(runs_dir) is None  # a broker: the web host starts none


@on("sqlite")
def test_a_sweeps_trials_run_under_the_same_limit_as_trainings(runs_dir, workers):
    """A sweep of 8 trials (2 at once) and 3 trainings on 2 workers: at every sample, the
    trials and trainings running together never exceed the 2 workers' slots; all finish."""
    from engine import sweep
    from engine.sweep import SweepSpec

    workers.start()
    workers.start()
    space = {"activation": ("relu", "tanh"), "batch_size": (32, 64), "dropout": (0.0, 0.25)}
    base = sweep.default_base(limit_train=2048, limit_test=500, epochs=1)
    name = sweep.create(SweepSpec(base=base, space=space), "under-the-limit")
    trials.start(name, 2)
    runs = [jobs.submit(preset("fast", **TINY, seed=i)) for i in range(3)]
    most = samples = 0
    while True:
        rep = sweep.read_report(name)
        running = rep.count("running")
        trainings = sum(r.state() == RunState.RUNNING for r in runs)
        assert running + trainings <= 2, (running, trainings)
        assert running <= 2  # the sweep's own parallelism
        most, samples = max(most, running + trainings), samples + 1
        done = rep.count("complete") == 8 and all(r.state().is_finished() for r in runs)
        if done:
            break
        assert samples < 10_000, "the sweep and trainings did not finish"
        time.sleep(0.05)
    assert [r.state() for r in runs] == [RunState.COMPLETE] * 3
    assert len(rep.rows) == 8  # each grid point once
    assert most == 2
