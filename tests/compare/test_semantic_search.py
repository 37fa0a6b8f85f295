"""Semantic search over the explanations of several checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest

from autointerp.compare import NamedEmbedder, search_explanations
from autointerp.compare.semantic_search import SEARCH_COLUMNS
from autointerp.errors import UserInputError
from tests.compare import SHARED_SHA, N, build_store, memo_minilm

pytestmark = pytest.mark.slow  # MiniLM (sentence-transformers)

DEF = "the keyword def at the start of a Python function definition"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_store(tmp_path_factory.mktemp("store"), "d" * 16, "e" * 16)


@pytest.fixture(scope="module")
def embedder() -> NamedEmbedder:
    return memo_minilm()


def test_the_best_match_of_a_paraphrase_comes_first(store: Path, embedder: NamedEmbedder) -> None:
    df = search_explanations(store, "Python function definitions", embedder, limit=None)
    assert list(df.columns) == SEARCH_COLUMNS
    assert df.loc[0, "explanation"] == DEF and df.loc[0, "similarity"] > 0.7
    assert df["similarity"].is_monotonic_decreasing
    assert len(df) == 3 * N + 20  # every latent of every checkpoint, once
    assert df.loc[len(df) - 1, "similarity"] < 0.2


def test_latents_of_several_checkpoints_with_the_same_meaning_are_all_found(
    store: Path, embedder: NamedEmbedder
) -> None:
    """'cars and driving' explains a latent of demo, SHARED and SMALL."""
    df = search_explanations(store, "automobiles and driving a car", embedder, limit=3)
    assert (df["explanation"] == "cars and driving").all()
    assert df["checkpoint"].tolist() == sorted(["d" * 16, SHARED_SHA, "5a5b000000000002"])
    assert df["similarity"].nunique() == 1 and df.loc[0, "similarity"] > 0.7


def test_filters(store: Path, embedder: NamedEmbedder) -> None:
    only = search_explanations(store, "colours", embedder, checkpoints=["5a5a"], limit=5)
    assert len(only) == 5 and set(only["checkpoint"]) == {SHARED_SHA}
    assert set(only["hook_name"]) == {"blocks.10.hook_resid_post"}
    close = search_explanations(store, "colours such as red", embedder, min_similarity=0.6)
    assert len(close) >= 1 and (close["similarity"] >= 0.6).all()
    by_run = search_explanations(store, "colours", embedder, checkpoints=["run-small"])
    assert set(by_run["run_id"]) == {"run-small"} and len(by_run) == 20


def test_bad_queries(store: Path, embedder: NamedEmbedder) -> None:
    with pytest.raises(UserInputError, match="query"):
        search_explanations(store, "  ", embedder)
    with pytest.raises(UserInputError, match="limit"):
        search_explanations(store, "x", embedder, limit=-1)
