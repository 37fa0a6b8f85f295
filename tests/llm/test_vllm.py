"""The OpenAI-compatible backend against a real vLLM server (CPU build, serving the same
SmolLM2 weights): answers, token usage and log-probabilities, agreement with the in-process
backend, and a small pipeline run explained and scored through the server.

Needs vLLM's own environment (``make test`` installs it into .venv-vllm); without it these
tests are skipped, unless AUTOINTERP_REQUIRE_VLLM=1 (set by ``make test``) makes that a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from autointerp.config import (
    CacheConfig,
    CorpusConfig,
    LLMConfig,
    RunConfig,
    SamplingConfig,
    ScoringConfig,
)
from autointerp.llm.local import LocalLLM
from autointerp.llm.openai_http import OpenAICompatibleLLM
from autointerp.pipeline import run
from autointerp.store import read_table
from tests.servers.vllm import SERVED_NAME, vllm_server

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def vllm_url(smollm2_dir: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    venv = Path(os.environ.get("AUTOINTERP_VLLM_VENV", ROOT / ".venv-vllm"))
    if not (venv / "bin" / "python").exists():
        message = f"vLLM environment {venv} missing; create it with scripts/install_vllm.sh {venv}"
        if os.environ.get("AUTOINTERP_REQUIRE_VLLM") == "1":
            pytest.fail(message)
        pytest.skip(message)
    with vllm_server(venv, smollm2_dir, tmp_path_factory.mktemp("vllm")) as url:
        yield url


def _question(text: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": "Answer every question with Yes or No."},
        {"role": "user", "content": f"Text: {text}\nDoes the text contain a number?"},
    ]


def test_generate_and_judge_through_vllm(vllm_url: str, smollm2) -> None:  # type: ignore[no-untyped-def]
    llm = OpenAICompatibleLLM(LLMConfig(backend="openai", base_url=vllm_url, model=""))
    llm.check()
    assert llm.model == SERVED_NAME and llm.supports_logprobs
    out = llm.generate(
        [[{"role": "user", "content": "What is the capital of France?"}]], max_new_tokens=20
    )
    assert out[0].error is None and "Paris" in out[0].text
    assert out[0].prompt_tokens > 10 and 0 < out[0].completion_tokens <= 20
    prompts = [_question("it cost 45 dollars"), _question("a quiet morning walk")]
    remote = llm.judge(prompts)
    local = LocalLLM(LLMConfig(), smollm2).judge(prompts)
    for r, loc in zip(remote, local, strict=True):
        assert r.error is None and 0 <= r.p_yes <= 1
        # Same weights, both in float32: vLLM's answer distribution matches ours.
        assert r.p_yes == pytest.approx(loc.p_yes, abs=0.02)


def test_pipeline_explains_and_scores_through_vllm(vllm_url: str, tmp_path: Path) -> None:
    cfg = RunConfig(
        cache=CacheConfig(dtype="float32"),
        latents="live:3",
        corpus=CorpusConfig(n_tokens=6400),
        sampling=SamplingConfig(n_explain=6, n_score=5, n_nonactivating=5, min_examples=4),
        scoring=ScoringConfig(n_bootstrap=10),
        llm=LLMConfig(backend="openai", base_url=vllm_url, model="", max_concurrency=4),
    )
    result = run(cfg, tmp_path, progress=False)
    expl = read_table(tmp_path, "explanations")
    scores = read_table(tmp_path, "scores")
    assert len(expl) == 3 and (expl["llm"] == f"openai:{SERVED_NAME}@{vllm_url}").all()
    assert (expl["completion_tokens"] > 0).all() and (expl["raw_reply"].str.len() > 0).all()
    ok = scores[scores["status"] == "ok"]
    assert len(ok) >= 2 and set(ok["method"]) == {"logprob"}
    assert ok["auroc"].between(0, 1).all()
    assert result.run_id in set(scores["run_id"])
