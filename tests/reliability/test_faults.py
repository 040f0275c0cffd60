"""Faults: jobs killed at random points, a full disk, a NaN loss, a server that dies.
Nothing stored is lost or corrupted; every run ends in a state that says what happened.

`make stress` runs the kill loop longer (STRESS_KILLS)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from engine.presets import preset
from engine.queue import tasks
from engine.runs import store
from engine.runs.runner import execute
from engine.runs.store import RunState, create_run, load_model, read_checkpoint
from engine.training import loop as train_mod

# real processes killed at random moments (make test-fast leaves it out)
pytestmark = pytest.mark.slow

KILLS = int(os.environ.get("STRESS_KILLS", "4"))
ROOT = Path(__file__).resolve().parents[2]


def _epochs(run) -> list[int]:
    return [m["epoch"] for m in run.metrics() if m.get("kind") == "epoch"]


def _progress(run) -> int:
    return len([m for m in run.metrics() if m.get("kind") == "progress"])


def _wait(predicate, timeout: float = 90.0, why=lambda: "") -> None:
    end = time.time() + timeout
    while not predicate():
        assert time.time() < end, f"timed out: {why()}"
        time.sleep(0.05)


def test_sigkill_at_random_points_never_loses_a_checkpoint():
    epochs = KILLS + 3
    cfg = preset("fast", epochs=epochs, limit_train=1024, limit_test=200, log_every=2, threads=1)
    run = create_run(cfg)
    rng = random.Random(int(os.environ.get("STRESS_SEED", "0")))
    kills = 0
    log = run.path.parent / "resume.log"  # what a resume that never trains said
    for _ in range(KILLS):
        before = _progress(run)
        with open(log, "w") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "engine", "resume", str(run.path)],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
        try:  # kill somewhere in the training, saving included: after the first batch report
            # (or the resume ended first: it truncates the killed epoch's records, so on a
            # last epoch their count may never pass what it was before)
            _wait(
                lambda n=before, p=proc: _progress(run) > n or p.poll() is not None,
                why=lambda: log.read_text()[-2000:],
            )
            time.sleep(rng.uniform(0.0, 0.8))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        finally:
            proc.kill()
        assert run.status()["state"] in ("running", "complete")  # as written: reads change nothing
        tasks.maintain()  # the queue's housekeeping notices the dead process (pages only read)
        st = run.status()
        if st["state"] == "complete":
            break
        kills += 1
        assert st["state"] == "failed" and "died" in st["message"], st
        if run.has_checkpoint():
            ckpt = read_checkpoint(run.checkpoint_path)  # never torn
            load_model(run.path)
            assert _epochs(run)[: ckpt["epoch"]] == list(range(1, ckpt["epoch"] + 1))
        assert not list(run.path.glob(".*.tmp"))  # temp files of an interrupted save are gone
    assert kills >= 1
    assert execute(run, echo=lambda s: None) == RunState.COMPLETE
    assert _epochs(run) == list(range(1, epochs + 1))  # each epoch exactly once
    assert read_checkpoint(run.checkpoint_path)["epoch"] == epochs


def test_a_nan_loss_fails_the_run_with_a_message_and_keeps_the_last_checkpoint(monkeypatch):
    real, calls = train_mod._loss, []

    def poisoned(cfg, out, y, **kw):
        calls.append(1)
        loss = real(cfg, out, y, **kw)
        return loss * float("nan") if len(calls) > 6 else loss  # 4 batches per epoch

    monkeypatch.setattr(train_mod, "_loss", poisoned)
    run = create_run(preset("fast", epochs=3, limit_train=512, batch_size=128, limit_test=100))
    assert execute(run, echo=lambda s: None) == RunState.FAILED
    st = run.status()
    assert "nan" in st["message"] and "learning rate" in st["message"]
    assert read_checkpoint(run.checkpoint_path)["epoch"] == 1


@pytest.fixture()
def small_disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True
    )
    if r.returncode:
        pytest.skip(f"cannot mount a small tmpfs here ({r.stderr.decode().strip()})")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_full_disk_while_saving_keeps_the_previous_checkpoint(small_disk, monkeypatch):
    run = create_run(
        preset("seed-mnist-cnn", epochs=3, limit_train=512, limit_test=100), small_disk
    )
    real_save, saves = store.Run.save_checkpoint, []

    def save_then_fill_the_disk(self, state):
        real_save(self, state)
        saves.append(state.epoch)
        if len(saves) == 1:  # leave 16 KB: status fits, the next checkpoint does not
            st = os.statvfs(small_disk)
            free = st.f_bavail * st.f_frsize
            (small_disk / "filler").write_bytes(b"\0" * max(0, free - 16 * 1024))

    monkeypatch.setattr(store.Run, "save_checkpoint", save_then_fill_the_disk)
    good = None
    try:
        assert execute(run, echo=lambda s: None) == RunState.FAILED
    finally:
        good = read_checkpoint(run.checkpoint_path)
    st = run.status()
    assert "No space left" in st["message"] and "epoch 1 is intact" in st["message"], st
    assert good["epoch"] == 1
    load_model(run.path)
    (small_disk / "filler").unlink()  # space again: resume finishes the run
    monkeypatch.setattr(store.Run, "save_checkpoint", real_save)
    assert execute(run, echo=lambda s: None) == RunState.COMPLETE
    assert _epochs(run) == [1, 2, 3]


def test_jobs_survive_the_server_that_started_them(runs_dir):
    # A "server" process submits a job and dies at once, as in a restart mid-job.
    server = textwrap.dedent(
        """
        from engine.queue import jobs, taskq
        from engine.presets import preset
        cfg = preset("fast", epochs=2, limit_train=512, limit_test=100)
        run = jobs.submit(cfg, run_id="orphan")
        print(taskq.workers(run.path.parent)[0]["pid"])  # the worker it started
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", server], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert out.returncode == 0, out.stderr
    pid = int(out.stdout.split()[-1])
    assert os.getsid(pid) != os.getsid(0)  # the worker's own session: not killed with the server
    run = store.open_run("orphan")
    _wait(lambda: run.state().is_finished(), timeout=120)
    assert run.state() == RunState.COMPLETE and _epochs(run) == [1, 2]
