"""The deploy files: the container's install and start steps, run here in a fresh folder.

No container can be built on these machines (no Docker daemon, no base images offline), so the
Dockerfile keeps its steps in deploy/install.sh and deploy/start.sh, and this test runs those
scripts on a fresh copy of the tracked files: the install must succeed and the started app must
answer its health check and serve the page, listening where it is told.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

# the install and start scripts, in fresh folders (make test-fast leaves it out)
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


def _fresh_copy(dest: Path) -> Path:
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    for f in files:
        if (ROOT / f).is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, dest / f)
    return dest


def test_dockerfile_builds_a_cpu_only_non_root_image_with_volumes_and_a_healthcheck():
    text = (ROOT / "Dockerfile").read_text()
    install = (ROOT / "deploy" / "install.sh").read_text()
    assert "deploy/install.sh" in text and 'CMD ["deploy/start.sh"]' in text
    assert "download.pytorch.org/whl/cpu" in install  # no CUDA libraries in the image
    assert re.search(r"^USER (?!root)\w+", text, re.M), "the app must not run as root"
    assert 'VOLUME ["/app/runs", "/app/data"]' in text
    assert re.search(r"HEALTHCHECK .*\n.*/_stcore/health", text)
    start = (ROOT / "deploy" / "start.sh").read_text()
    assert "streamlit run app.py" in start and '"${HOST:-0.0.0.0}"' in start


@pytest.mark.slow
def test_install_and_start_scripts_work_in_a_fresh_folder(tmp_path):
    app = _fresh_copy(tmp_path / "app")
    env = {
        **os.environ,
        # The machine's own environment stands in for the image's: offline, torch is already
        # installed, and apt has nothing to add. The steps themselves are the image's.
        "VENV": str(Path(sys.executable).parents[1]),
        "TORCH_INDEX": "",
        "SKIP_APT": "1",
    }
    done = subprocess.run(
        ["sh", "deploy/install.sh"], cwd=app, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "installed: torch" in done.stdout

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env.update(HOST="127.0.0.1", PORT=str(port), ENGINE_RUNS_DIR=str(tmp_path / "runs"))
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen(["sh", "deploy/start.sh"], cwd=app, env=env, stdout=log, stderr=log)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                health = urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read()
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail((tmp_path / "server.log").read_text()[-2000:])
        assert health.strip() == b"ok"
        page = urllib.request.urlopen(f"{url}/greek", timeout=10).read().decode()
        assert 'id="root"' in page  # Streamlit's app shell, served for a deep link too
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


def test_compose_runs_the_app_redis_and_workers_on_one_shared_volume():
    import yaml

    spec = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = spec["services"]
    assert {"app", "redis", "worker", "gpu-worker"} <= set(services)
    app, worker, gpu = services["app"], services["worker"], services["gpu-worker"]
    assert "command" not in app  # the app only serves pages: the image's start.sh
    assert worker["command"] == gpu["command"] == ["deploy/worker.sh"]
    assert worker["deploy"]["replicas"] >= 2 and worker["environment"]["QUEUE"] == "cpu"
    assert gpu["profiles"] == ["gpu"] and gpu["environment"]["QUEUE"] == "gpu"
    assert gpu["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    for s in (app, worker, gpu):  # one broker, one runs folder, one volume for all
        env = s["environment"]
        assert env["ENGINE_QUEUE_URL"] == "redis://redis:6379/0"
        assert env["ENGINE_RUNS_DIR"].startswith("/shared/") and "shared:/shared" in s["volumes"]
    assert "shared" in spec["volumes"]


def test_worker_script_refuses_to_start_without_a_broker(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "ENGINE_QUEUE_URL"}
    done = subprocess.run(["sh", "deploy/worker.sh"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=30)  # fmt: skip
    assert done.returncode != 0 and "ENGINE_QUEUE_URL" in done.stderr


@pytest.mark.slow
def test_worker_script_on_a_fresh_folder_takes_a_training_from_redis(tmp_path, monkeypatch):
    """deploy/worker.sh on a fresh copy of the repository (a bare VM with the shared runs
    folder mounted) takes a training the app queued in Redis, and stops on SIGTERM."""
    from engine.presets import preset
    from engine.queue import jobs, taskq
    from engine.runs.store import RunState

    url = "redis://127.0.0.1:6379/14"
    monkeypatch.setenv(taskq.QUEUE_URL_ENV, url)
    try:
        for kind in taskq.QUEUES:
            taskq.huey(kind).flush()
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"no Redis at 127.0.0.1 ({type(e).__name__}: {e})")
    app = _fresh_copy(tmp_path / "vm")
    runs = tmp_path / "shared-runs"
    env = {**os.environ, "VENV": str(Path(sys.executable).parents[1]), "ENGINE_QUEUE_URL": url,
           "ENGINE_RUNS_DIR": str(runs), "OMP_NUM_THREADS": "1"}  # fmt: skip
    log = open(tmp_path / "worker.log", "w")
    proc = subprocess.Popen(["sh", "deploy/worker.sh"], cwd=app, env=env, stdout=log,
                            stderr=log, start_new_session=True)  # fmt: skip
    try:
        run = jobs.submit(preset("fast", epochs=1, limit_train=512, limit_test=256, threads=1),
                          runs, run_id="from-the-app")  # fmt: skip
        end = time.time() + 120
        while not run.state().is_finished() and time.time() < end:
            time.sleep(0.2)
        assert run.state() == RunState.COMPLETE, (tmp_path / "worker.log").read_text()[-2000:]
        assert [w["host"] for w in taskq.workers(runs)] == [socket.gethostname()]
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)
        log.close()
        for kind in taskq.QUEUES:
            taskq.huey(kind).flush()
    assert not taskq.workers(runs)  # it left the registry on its way out
