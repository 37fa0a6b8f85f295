"""The OpenAI-compatible backend against a real vLLM server (CPU build, serving the same
SmolLM2 weights): answers, token usage and log-probabilities (chat, plain-text completions,
echoed prompt log-probabilities, digit choices), agreement with the in-process backend, and
a small pipeline run explained and scored through the server.

Needs vLLM's own environment (``make test`` installs it into .venv-vllm); without it these
tests are skipped, unless AUTOINTERP_REQUIRE_VLLM=1 (set by ``make test``) makes that a failure.
"""

from __future__ import annotations

import math
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
from autointerp.llm.base import Prompt
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
    venv = venv if venv.is_absolute() else (ROOT / venv)  # subprocesses run elsewhere
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


def test_prompt_logprobs_through_vllm_match_the_local_backend(vllm_url: str, smollm2) -> None:  # type: ignore[no-untyped-def]
    llm = OpenAICompatibleLLM(LLMConfig(backend="openai", base_url=vllm_url, model=""))
    texts = ["The quick brown fox jumps over the lazy dog.", "def f(x):\n    return x + 1", "x"]
    remote = llm.prompt_logprobs(texts, top_k=3)
    local = LocalLLM(LLMConfig(), smollm2).prompt_logprobs(texts, top_k=3)
    for r, loc in zip(remote, local, strict=True):
        assert r.error is None
        assert r.tokens == loc.tokens and r.offsets == loc.offsets
        assert r.prompt_tokens == loc.prompt_tokens
        assert math.isnan(r.logprobs[0])
        # Same weights, both in float32.
        assert r.logprobs[1:] == pytest.approx(loc.logprobs[1:], abs=0.02)
        for top_r, top_loc in zip(r.top, loc.top, strict=True):
            assert len(top_r) == len(top_loc)
            for token in set(top_r) & set(top_loc):
                assert top_r[token] == pytest.approx(top_loc[token], abs=0.02)
            assert len(set(top_r) & set(top_loc)) >= len(top_loc) - 1
    # The texts went to vLLM as one list; one request per text gives the same answers.
    single = OpenAICompatibleLLM(
        LLMConfig(backend="openai", base_url=vllm_url, model="", batch_tokens=0)
    )
    alone = single.prompt_logprobs(texts, top_k=3)
    assert llm.lists is True and llm.requests == single.requests - len(texts) + 1
    for r, a in zip(remote, alone, strict=True):
        assert a.error is None and r.tokens == a.tokens and r.offsets == a.offsets
        assert r.prompt_tokens == a.prompt_tokens
        assert r.logprobs[1:] == pytest.approx(a.logprobs[1:], abs=0.02)


def test_completion_style_generate_and_digit_choices_through_vllm(vllm_url: str, smollm2) -> None:  # type: ignore[no-untyped-def]
    llm = OpenAICompatibleLLM(LLMConfig(backend="openai", base_url=vllm_url, model=""))
    ref = LocalLLM(LLMConfig(), smollm2)
    out = llm.generate(["The capital of France is"], max_new_tokens=8)[0]
    mine = ref.generate(["The capital of France is"], max_new_tokens=8)[0]
    assert out.error is None and "Paris" in out.text
    assert out.prompt_tokens == mine.prompt_tokens == 5 and 0 < out.completion_tokens <= 8
    assert out.text.split()[:2] == mine.text.split()[:2]
    digits = ["1", "2", "3", "4", "5"]
    prompts: list[Prompt] = [
        "On a scale from 1 to 5, how sunny is a clear summer day? Answer: ",
        [{"role": "user", "content": "Pick a number from 1 to 5. Reply with the digit."}],
    ]
    remote = llm.choose(prompts, digits)
    local = ref.choose(prompts, digits)
    for r, loc in zip(remote, local, strict=True):
        assert r.error is None and sum(r.probs.values()) == pytest.approx(1.0)
        # The server reports the top 20 tokens only; digits outside them count as 0.
        for d in digits:
            assert r.probs[d] == pytest.approx(loc.probs[d], abs=0.03)


def test_chat_as_text_lists_equal_single_requests_through_vllm(vllm_url: str) -> None:
    """llm.chat_as_text: judgements and generations sent to vLLM's completions endpoint as
    lists give what one request per prompt gives (same text prompt, greedy)."""
    prompts: list[Prompt] = [
        [{"role": "user", "content": f"Is {w} a colour? Answer yes or no."}]
        for w in ("red", "table", "blue", "seven")
    ]
    listed = OpenAICompatibleLLM(
        LLMConfig(backend="openai", base_url=vllm_url, model="", chat_as_text=True)
    )
    single = OpenAICompatibleLLM(
        LLMConfig(backend="openai", base_url=vllm_url, model="", chat_as_text=True, batch_tokens=0)
    )
    listed.check()
    single.check()
    sent = listed.requests
    together, alone = listed.judge(prompts), single.judge(prompts)
    assert listed.lists is True and listed.requests - sent == 1
    for t, a in zip(together, alone, strict=True):
        assert t.error is None and a.error is None
        assert t.p_yes == pytest.approx(a.p_yes, abs=0.02)
    texts = [o.text for o in listed.generate(prompts, max_new_tokens=6)]
    assert texts == [o.text for o in single.generate(prompts, max_new_tokens=6)]


def test_pipeline_explains_and_scores_through_vllm(vllm_url: str, tmp_path: Path) -> None:
    """The issue's command, `--scorers detection,fuzz,intervention,embedding,simulation`, with
    the served SmolLM2 as explainer and scorer model (steering runs the local subject)."""
    scorers = ("detection", "fuzz", "intervention", "embedding", "simulation")
    cfg = RunConfig(
        cache=CacheConfig(dtype="float32"),
        latents="live:3",
        corpus=CorpusConfig(n_tokens=6400),
        sampling=SamplingConfig(n_explain=6, n_score=5, n_nonactivating=5, min_examples=4),
        scoring=ScoringConfig(n_bootstrap=10, scorers=scorers, steer_prompts=3, steer_tokens=8),
        llm=LLMConfig(backend="openai", base_url=vllm_url, model="", max_concurrency=4),
    )
    result = run(cfg, tmp_path, progress=False)
    expl = read_table(tmp_path, "explanations")
    scores = read_table(tmp_path, "scores")
    assert len(expl) == 3 and (expl["llm"] == f"openai:{SERVED_NAME}@{vllm_url}").all()
    assert (expl["completion_tokens"] > 0).all() and (expl["raw_reply"].str.len() > 0).all()
    assert set(scores["scorer"]) == set(scorers)
    explained = set(expl.loc[expl["status"] == "ok", "latent"])
    for scorer in scorers:
        rows = scores[(scores["scorer"] == scorer) & scores["latent"].isin(explained)]
        assert (rows["status"] == "ok").all(), rows[["latent", "status", "error"]]
    ok = scores[scores["status"] == "ok"]
    assert len(ok[ok["scorer"] == "detection"]) >= 2
    assert set(ok.loc[ok["scorer"].isin(["detection", "fuzz"]), "method"]) == {"logprob"}
    assert ok.loc[ok["scorer"] != "simulation", "auroc"].between(0, 1).all()
    assert ok.loc[ok["scorer"] == "simulation", "correlation"].notna().all()
    assert ok.loc[ok["scorer"] == "intervention", "mean_delta"].notna().all()
    assert result.run_id in set(scores["run_id"])
