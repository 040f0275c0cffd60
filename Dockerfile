# The dashboard in a container: CPU-only PyTorch, a non-root user, runs and data on volumes.
#   docker build -t recognition .
#   docker run -p 8501:8501 -v runs:/app/runs -v data:/app/data -e ENGINE_PUBLIC=1 recognition
# One container runs the embedded queue and its own worker; compose.yaml runs the app, Redis and
# workers apart.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    VENV=/opt/venv \
    ENGINE_RUNS_DIR=/app/runs \
    ENGINE_DATA_DIR=/app/data

WORKDIR /app
# The install step first (cached while only the code changes): deploy/install.sh is also what
# tests/test_deploy.py runs, so the image's steps are tested without a Docker daemon.
COPY requirements.txt packages.txt ./
COPY deploy/install.sh deploy/install.sh
# CPU-only torch by default; compose.yaml's GPU worker builds with TORCH_INDEX="" (CUDA wheels).
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
RUN TORCH_INDEX="$TORCH_INDEX" deploy/install.sh

COPY . .
RUN useradd --create-home --uid 1000 app \
    && mkdir -p /app/runs /app/data \
    && chown -R app:app /app/runs /app/data
USER app

VOLUME ["/app/runs", "/app/data"]
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4)"
CMD ["deploy/start.sh"]
