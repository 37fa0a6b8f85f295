# The HTTP API: `autointerp serve` (FastAPI under uvicorn; docs at /docs).
# Build from the repository root:  docker build -f docker/api.Dockerfile -t autointerp-api .
# Not built on the development machines (no Docker engine there); tests/test_deploy_files.py
# parses it.
FROM python:3.11-slim

# The CPU build of torch (a plain `pip install .` would pull the CUDA build, several GB).
ARG TORCH_VERSION=2.13.0
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN pip install "torch==${TORCH_VERSION}" --index-url https://download.pytorch.org/whl/cpu

WORKDIR /opt/autointerp
# Dependencies first (their layer survives code changes): install the project from its
# metadata with empty packages, then drop the project itself and keep its dependencies.
COPY pyproject.toml README.md ./
RUN mkdir autointerp scorers \
    && touch autointerp/__init__.py scorers/__init__.py \
    && pip install . \
    && pip uninstall -y autointerp \
    && rm -rf autointerp scorers build ./*.egg-info
COPY autointerp ./autointerp
COPY scorers ./scorers
RUN pip install --no-deps . && rm -rf build ./*.egg-info
# Routing (AUTOINTERP_ROUTING_FILE may name queue/routing.toml: the API submits tasks too).
COPY queue ./queue

COPY --chmod=755 docker/entrypoint.sh /usr/local/bin/autointerp-entrypoint

# A non-root user; the store and cache paths exist and belong to it, so named volumes
# mounted there start out writable.
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/autointerp \
        autointerp \
    && mkdir -p /data/store /data/cache \
    && chown autointerp:autointerp /data/store /data/cache
ENV AUTOINTERP_STORE=/data/store \
    AUTOINTERP_CACHE_DIR=/data/cache \
    HF_HOME=/data/cache/huggingface
USER autointerp

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]
ENTRYPOINT ["/usr/local/bin/autointerp-entrypoint"]
CMD ["autointerp", "serve", "--host", "0.0.0.0", "--port", "8000"]
