"""The embedding scorer with the real offline MiniLM on a digit latent built by hand."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from autointerp.config import ScoringConfig
from autointerp.errors import ConfigError
from autointerp.llm.base import LLM, Completion, Prompt
from autointerp.records import Explanation
from scorers import SCORERS
from scorers.embedding import EmbeddingScorer, load_embedder
from scorers.metrics import METRICS
from tests.scorers.digit_latent import RIGHT, WRONG, digit_record, explanation


class NoLLM(LLM):
    """Test double: the embedding scorer must never call its LLM (it has none to call)."""

    name = "none"

    def generate(
        self,
        prompts: Sequence[Prompt],
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
        desc: str | None = None,
    ) -> list[Completion]:
        raise AssertionError("the embedding scorer called the LLM")


@pytest.fixture(scope="module")
def tokenizer(smollm2_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(smollm2_dir)


def _ctx() -> Any:
    from scorers import ScoringContext

    return ScoringContext(NoLLM(), ScoringConfig(n_bootstrap=50), seed=0, progress=False)


def test_registered() -> None:
    assert SCORERS.get("embedding") is EmbeddingScorer


@pytest.mark.slow
def test_right_explanation_beats_wrong(tokenizer: Any) -> None:
    record = digit_record(tokenizer)
    pairs = [(record, explanation(RIGHT, 0, 0)), (record, explanation(WRONG, 0, 1))]
    right, wrong = EmbeddingScorer().score(pairs, _ctx())
    for r in (right, wrong):
        assert (r.status, r.error, r.scorer) == ("ok", None, "embedding")
        assert r.method == "embedding:sentence-transformers/all-MiniLM-L6-v2"
        assert (r.prompt_tokens, r.completion_tokens) == (0, 0)
        assert (r.metrics["n_pos"], r.metrics["n_neg"], r.metrics["n_failed"]) == (10, 10, 0)
        for m in METRICS:
            assert f"{m}_ci_low" in r.metrics and f"{m}_ci_high" in r.metrics
        assert len(r.judgements) == 20
        assert set(r.judgements[0]) == {"window", "label", "p_yes", "predicted", "error"}
        sims = [j["p_yes"] for j in r.judgements]
        assert r.metrics["threshold"] == pytest.approx(float(np.median(sims)))
    assert right.metrics["auroc"] >= 0.9
    assert right.metrics["auroc"] > wrong.metrics["auroc"] + 0.3
    assert [j["window"] for j in right.judgements[:2]] == [0, 1]


@pytest.mark.slow
def test_similarity_is_the_cosine_of_the_embeddings(tokenizer: Any) -> None:
    record = digit_record(tokenizer, n=2)
    (result,) = EmbeddingScorer().score([(record, explanation(RIGHT))], _ctx())
    embed = load_embedder(ScoringConfig().embedding_model)
    vecs = embed([RIGHT, record.score[0].text.strip()])
    assert result.judgements[0]["p_yes"] == pytest.approx(float(vecs[0] @ vecs[1]), abs=1e-5)


@pytest.mark.slow
def test_skipped_without_usable_explanation_or_negatives(tokenizer: Any) -> None:
    record = digit_record(tokenizer, n=3)
    no_neg = dataclasses.replace(record, nonactivating=[])
    bad = Explanation(0, 1, "", "generated:default", status="unparsable", error="x")
    out = EmbeddingScorer().score(
        [(record, bad), (no_neg, explanation(RIGHT)), (record, explanation(RIGHT, 0, 2))], _ctx()
    )
    assert [r.status for r in out] == ["skipped", "skipped", "ok"]
    assert out[0].error == "no usable explanation (unparsable)"
    assert "0 non-activating" in (out[1].error or "")
    assert out[0].metrics == {} and out[0].judgements == []


def test_unknown_model_is_a_config_error_up_front_and_a_failed_row(tokenizer: Any) -> None:
    cfg = ScoringConfig(embedding_model="/nonexistent/embedder")
    with pytest.raises(ConfigError, match="scoring.embedding_model='/nonexistent/embedder'"):
        EmbeddingScorer.check(cfg)
    from scorers import ScoringContext

    ctx = ScoringContext(NoLLM(), cfg, progress=False)
    (result,) = EmbeddingScorer().score([(digit_record(tokenizer, n=2), explanation(RIGHT))], ctx)
    assert result.status == "failed" and "cannot be loaded offline" in (result.error or "")


@pytest.mark.slow
def test_default_check_passes() -> None:
    EmbeddingScorer.check(ScoringConfig())
