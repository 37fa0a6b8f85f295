#!/usr/bin/env bash
# GPU readiness: caching in bf16 on CUDA and the in-process vLLM engine with the shipped
# SmolLM2; throughput and agreement with the CPU run (see scripts/gpu_check.py).
#   scripts/gpu_check.sh [--tokens N] [--vllm-python PATH] [--allow-cpu]
# Uses .venv (make install); on a machine without CUDA it says so and exits 2.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || { echo "no $PY: run 'make install' first" >&2; exit 1; }
exec "$PY" scripts/gpu_check.py "$@"
