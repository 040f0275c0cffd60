#!/bin/sh
# Start the dashboard as every Streamlit host does: `streamlit run app.py`, listening on all
# interfaces (a container's published port must reach it). HOST and PORT override.
set -eu
APP_DIR=$(cd "$(dirname "$0")/.." && pwd)
cd "$APP_DIR"
VENV=${VENV:-$APP_DIR/.venv}
exec "$VENV/bin/python" -m streamlit run app.py \
    --server.address "${HOST:-0.0.0.0}" --server.port "${PORT:-8501}" \
    --server.headless true --browser.gatherUsageStats false
