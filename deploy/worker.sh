#!/bin/sh
# Start a queue worker on a bare VM (or in the image): `python -m engine worker`. It takes
# trainings and sweep trials from the broker and writes them to the shared runs folder.
#   ENGINE_QUEUE_URL  the broker every machine shares: redis://HOST:6379/0 or postgresql://...
#                     (required: the embedded SQLite queue is for one machine only)
#   ENGINE_RUNS_DIR   the shared runs folder (NFS, EFS, a ReadWriteMany volume), the same
#                     files the app reads
#   ENGINE_DATA_DIR   the datasets (prepared once by `python -m engine data prepare`)
#   QUEUE             cpu (default) or gpu: a GPU machine takes the trainings that ask for one
#   CONCURRENCY       trainings at once, one process each (default 1: torch uses every core)
#   INSTALL=1         run deploy/install.sh first (a fresh VM; for a GPU VM also TORCH_INDEX=)
set -eu
APP_DIR=$(cd "$(dirname "$0")/.." && pwd)
cd "$APP_DIR"
VENV=${VENV:-$APP_DIR/.venv}
: "${ENGINE_QUEUE_URL:?set ENGINE_QUEUE_URL to the broker the app uses (redis://... or postgresql://...)}"
: "${ENGINE_RUNS_DIR:?set ENGINE_RUNS_DIR to the runs folder the app shares}"
export ENGINE_QUEUE_URL ENGINE_RUNS_DIR
if [ "${INSTALL:-0}" = 1 ]; then
    VENV="$VENV" deploy/install.sh
fi
"$VENV/bin/python" -m engine data prepare >/dev/null
exec "$VENV/bin/python" -m engine worker --queue "${QUEUE:-cpu}" --concurrency "${CONCURRENCY:-1}"
