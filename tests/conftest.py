"""Shared fixtures: isolated runs directory, real datasets, the real Greek letters."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
GREEK = ROOT.parent / "shared" / "data" / "greek_train"

# One torch thread per process: these machines have 2 cores and busy-waiting threads of two
# processes slow each other down tens of times.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("ENGINE_OFFLINE", "1")  # tests never try the network
os.environ.setdefault("ENGINE_DATA_DIR", str(ROOT / "data"))
# A server with no default model trains one on its first start; tests start servers on empty
# runs folders all the time, so only the tests of that first start turn it on.
os.environ.setdefault("ENGINE_FIRST_START", "0")
torch.set_num_threads(1)


# `make test` runs two pytest-xdist workers (two lanes on two cores). The tests under SERIAL run
# one after the other on one worker: the browser tests (each is a server, a browser and often a
# worker: together they fill a core, and timing checks need it). Every other test file goes
# whole to whichever worker is free, the serial one too once its browser tests are done.
SERIAL = ("tests/e2e/", "tests/reliability/test_hosted_load.py")


def pytest_xdist_make_scheduler(config, log):
    # xdist's own --dist loadgroup marks groups by renaming node ids, which pytest 9 ignores.
    from xdist.scheduler import LoadScopeScheduling

    class Lanes(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "serial" if nodeid.startswith(SERIAL) else nodeid.split("::", 1)[0]

    config.option.loadscopereorder = False  # the lanes start in the order collection gives
    return Lanes(config, log)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """In two lanes, the serial lane's tests come first for the CPU (nice 0, the other lane's
    10, inherited by the servers, browsers and workers a test starts): its tests mostly wait,
    but a page redrawn late under load is where browser tests turned racy."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        with contextlib.suppress(OSError):  # lowering it again needs root; then it stays
            os.setpriority(os.PRIO_PROCESS, 0, 0 if item.nodeid.startswith(SERIAL) else 10)


MODEL_FIXTURES = {"digit_runs_factory", "digit_app_url", "digit_run"}


def pytest_collection_modifyitems(config, items):
    """The serial lane goes first (it is the longest); in both lanes the modules that need the
    default digit model go last, while it is trained (``pytest_configure``)."""
    needs = {it.module for it in items if MODEL_FIXTURES & set(getattr(it, "fixturenames", ()))}

    def order(it) -> tuple[bool, bool]:
        serial = it.nodeid.startswith(SERIAL)
        return not serial, it.module in needs

    items.sort(key=order)


@pytest.fixture(autouse=True)
def runs_dir(tmp_path, monkeypatch) -> Path:
    """Every test gets its own empty runs directory (and its own embedded queue in it); the
    queue workers a test started there are stopped after it."""
    d = tmp_path / "runs"
    monkeypatch.setenv("ENGINE_RUNS_DIR", str(d))
    yield d
    stop_workers(tmp_path)


@pytest.fixture(scope="session", autouse=True)
def _no_worker_outlives_the_session(tmp_path_factory):
    """Workers started in session-wide runs folders (shared by a module's tests) stop too."""
    yield
    stop_workers(tmp_path_factory.getbasetemp())


def stop_workers(top: Path, timeout: float = 10.0) -> None:
    """Stop every queue worker registered in a runs folder under ``top`` (SIGTERM, then
    SIGKILL to its process group)."""
    import signal
    import time

    from engine.queue import taskq

    pids = [int(w["pid"]) for folder in Path(top).rglob(taskq.WORKERS_DIR)
            for w in taskq.workers(folder.parent) if _is_worker(int(w["pid"]))]  # fmt: skip
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, sig) if sig == signal.SIGKILL else os.kill(pid, sig)
        end = time.time() + timeout
        while time.time() < end and any(_alive(p) for p in pids):
            time.sleep(0.1)


def _is_worker(pid: int) -> bool:
    """Only `python -m engine worker` processes (never this one, nor a stand-in)."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return pid != os.getpid() and b"engine" in cmd and b"worker" in cmd


def _alive(pid: int) -> bool:
    from engine.runs.procs import pid_alive

    return pid_alive(pid)


@pytest.fixture(scope="session")
def mnist():
    from engine.data import datasets

    return datasets.load("mnist")


@pytest.fixture(scope="session")
def fashion():
    from engine.data import datasets

    return datasets.load("fashion-mnist")


@pytest.fixture(scope="session")
def greek_dir() -> Path:
    if not GREEK.is_dir():
        pytest.skip(f"the real Greek letters are not at {GREEK} (../shared/data is absent)")
    return GREEK


@pytest.fixture(scope="session")
def greek_files(greek_dir) -> list[tuple[Path, str]]:
    return [(p, p.parent.name) for p in sorted(greek_dir.glob("*/*.png"))]


def _build_digit_model(folder: Path) -> None:
    """Train the default digit model into ``folder`` as `make run` does, in a process of its own."""
    import subprocess
    import sys

    from engine.config import DEFAULT_RUN_ID
    from engine.runs.store import Run, RunState

    cmd = [sys.executable, "-m", "engine", "default-model", "--runs-dir", str(folder)]
    # Both cores when nothing else runs; one beside other tests (two busy-waiting torch threads on
    # a shared core would slow both down many times).
    threads = "1" if os.environ.get("PYTEST_XDIST_WORKER") or os.environ.get(EARLY_ENV) else "2"
    env = {**os.environ, "OMP_NUM_THREADS": threads}
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert Run(folder / DEFAULT_RUN_ID).state() == RunState.COMPLETE


def kept_digit_model() -> Path:
    """The kept runs folder holding the default digit model (tests/kept.py), trained if missing."""
    from kept import kept

    return kept("digit-model", _build_digit_model)


EARLY_ENV = "TESTS_EARLY_DIGIT_MODEL"


def pytest_configure(config):
    """In a full run in lanes (`make test`), the controller starts training the default digit
    model at once, in the background (one thread, nice 10), while the workers start and run the
    tests that do not need it: no lane then waits on the training with its core half idle. The
    fixture waits for it (the kept folder's lock) and reports its error if it failed."""
    from _pytest.config import Config

    lanes = config.pluginmanager.hasplugin("xdist") and config.getoption("numprocesses", None)
    if (
        not lanes
        or hasattr(config, "workerinput")
        or config.args_source != Config.ArgsSource.TESTPATHS
    ):
        return
    import subprocess
    import sys

    code = "import os; os.nice(10); import conftest; conftest.kept_digit_model()"
    env = {**os.environ, EARLY_ENV: "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    (ROOT / "data" / "cache").mkdir(parents=True, exist_ok=True)
    log = open(ROOT / "data" / "cache" / "early-digit-model.log", "w")  # noqa: SIM115
    config._early_model = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT / "tests", env=env, stdout=log, stderr=log,
        start_new_session=True,
    )  # fmt: skip


def pytest_unconfigure(config):
    proc = getattr(config, "_early_model", None)
    if proc is not None and proc.poll() is None:  # an interrupted run: the next one trains anew
        import signal

        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # with the training it started
        proc.wait()


@pytest.fixture(scope="session")
def digit_runs_factory(tmp_path_factory):
    """Make runs directories holding the default digit model, trained once (tests/kept.py).

    The model is the one `make run` gives a new user, trained by the same command
    (``python -m engine default-model``), in a process of its own. Each call copies it into a fresh
    directory, so tests may add or delete runs.
    """
    import shutil

    from engine.config import DEFAULT_RUN_ID
    from engine.runs.store import Run

    run = Run(kept_digit_model() / DEFAULT_RUN_ID)

    def make() -> Path:
        root = tmp_path_factory.mktemp("runs-with-digit-model")
        shutil.copytree(run.path, root / DEFAULT_RUN_ID)
        return root

    return make
