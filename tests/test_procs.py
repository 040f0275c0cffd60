"""engine.runs.procs, the one home of process handling, and the removal of a dead writer's temp
files."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from engine.presets import preset
from engine.queue import tasks
from engine.runs import procs
from engine.runs.store import RunState, create_run, remove_stale_temp_files


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_pid_alive_sees_this_process_and_not_a_finished_one():
    assert procs.pid_alive(os.getpid())
    assert not procs.pid_alive(_dead_pid())


def test_a_zombie_counts_as_dead():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.time() + 30
    while procs.pid_alive(p.pid) and time.time() < deadline:
        time.sleep(0.05)  # exited, not reaped yet: a zombie
    assert not procs.pid_alive(p.pid)
    p.wait()


def test_worker_env_sets_threads_paths_and_niceness(tmp_path):
    env = procs.worker_env(3, tmp_path)
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "3"
    assert env["ENGINE_RUNS_DIR"] == str(tmp_path.resolve())
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(procs.ROOT)
    assert env[procs.NICE_ENV] == str(procs.NICENESS)
    assert procs.NICE_ENV not in procs.worker_env(1, tmp_path, nice=False)


def test_spawn_detaches_and_reap_collects_the_child(tmp_path):
    log = tmp_path / "log.txt"
    env = procs.worker_env(1, tmp_path)
    child = procs.spawn(["data", "status"], env, log=log)
    assert os.getsid(child.pid) == child.pid != os.getsid(0)  # its own session
    child.wait(timeout=120)
    procs.reap()
    assert child not in procs._children
    assert '"command": "data"' in log.read_text()


def test_spawned_worker_runs_niced(tmp_path):
    code = "import os; from engine.runs.procs import apply_nice; apply_nice(); print(os.nice(0))"
    env = procs.worker_env(1, tmp_path)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert int(out.stdout) == max(procs.NICENESS, os.nice(0))


def test_file_lock_makes_threads_take_turns(tmp_path):
    inside, most = [], [0]

    def hold():
        with procs.file_lock(tmp_path / "x.lock"):
            inside.append(1)
            most[0] = max(most[0], len(inside))
            time.sleep(0.05)
            inside.pop()

    threads = [threading.Thread(target=hold) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] == 1


def test_sigterm_becomes_a_flag_and_the_handler_comes_back():
    before = signal.getsignal(signal.SIGTERM)
    with procs.sigterm_flag() as flag:
        os.kill(os.getpid(), signal.SIGTERM)
        deadline = time.time() + 5
        while not flag.is_set() and time.time() < deadline:
            time.sleep(0.01)
        assert flag.is_set()
    assert signal.getsignal(signal.SIGTERM) == before


def test_a_dead_writers_temp_files_go_when_its_death_is_seen(tmp_path):
    run = create_run(preset("fast"), tmp_path)
    dead = _dead_pid()
    stale = run.path / f".checkpoint.pt.{dead}-abc123.tmp"
    stale_status = run.path / f".status.json.{dead}-xyz.tmp"
    live = run.path / f".metrics.jsonl.{os.getpid()}-def456.tmp"  # a writer still at work
    foreign = run.path / ".notes.tmp"  # not ours: left alone
    for p in (stale, stale_status, live, foreign):
        p.write_bytes(b"half")
    run.set_status(RunState.RUNNING, pid=dead, host=socket.gethostname())
    assert run.status()["state"] == "running" and stale.exists()  # a read changes nothing
    tasks.maintain(tmp_path)  # the queue's housekeeping sees the process is gone ...
    assert run.status()["state"] == "failed"
    assert not stale.exists() and not stale_status.exists()  # ... and its half saves go
    assert live.exists() and foreign.exists()
    live.unlink()
    assert remove_stale_temp_files(run.path) == []


def test_background_processes_import_the_engine_from_this_repository():
    """Their PYTHONPATH is the folder holding engine/ (not engine/ itself, where the queue
    package would shadow the standard library's ``queue``)."""
    assert (procs.ROOT / "engine" / "__init__.py").is_file()
    assert procs.worker_env(1, Path("runs"))["PYTHONPATH"].split(os.pathsep)[0] == str(procs.ROOT)
