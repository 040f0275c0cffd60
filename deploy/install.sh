#!/bin/sh
# Install what the app needs to run: the container image's build step (Dockerfile), usable on
# any Debian-like host too. A test runs it here in a fresh folder (tests/test_deploy.py).
#   VENV         where the virtual environment goes (default: <app>/.venv)
#   TORCH_INDEX  the wheel index for torch/torchvision; default PyTorch's CPU-only index, so no
#                gigabytes of CUDA libraries. Empty: take them from the usual index instead.
#   SKIP_APT=1   do not install the Debian packages of packages.txt
set -eu
APP_DIR=$(cd "$(dirname "$0")/.." && pwd)
cd "$APP_DIR"
VENV=${VENV:-$APP_DIR/.venv}
TORCH_INDEX=${TORCH_INDEX-https://download.pytorch.org/whl/cpu}

if [ "${SKIP_APT:-0}" != 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    # shellcheck disable=SC2046
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        $(grep -v '^#' packages.txt)
    rm -rf /var/lib/apt/lists/*
fi

[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
PIP="$VENV/bin/python -m pip install -q --disable-pip-version-check --no-cache-dir"
if [ -n "$TORCH_INDEX" ]; then
    # torch and torchvision at the versions requirements.txt pins, from the CPU-only index
    $PIP --index-url "$TORCH_INDEX" $(grep -E '^torch(vision)?==' requirements.txt | cut -d' ' -f1)
fi
$PIP -r requirements.txt
"$VENV/bin/python" -c "import torch, streamlit; print('installed: torch', torch.__version__, \
'streamlit', streamlit.__version__)"
