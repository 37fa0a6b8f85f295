"""The one sentence-transformers loader: every caller shares one model, loaded once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from autointerp.compare.embed import make_embedder
from autointerp.errors import ConfigError
from autointerp.models import embedder
from autointerp.sampling.embed import minilm_embedder
from scorers.embedding import load_embedder


def test_the_three_callers_share_one_minilm_loaded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from sentence_transformers import SentenceTransformer

    monkeypatch.setattr(embedder, "_models", {})
    loads: list[str] = []

    def counting(path: str, **kw: Any) -> Any:
        loads.append(path)
        return SentenceTransformer(path, **kw)

    monkeypatch.setattr("sentence_transformers.SentenceTransformer", counting)
    texts = ["Python function definitions", "animals such as dogs"]
    vectors = [
        minilm_embedder()(texts),
        make_embedder("minilm")(texts),
        load_embedder("all-MiniLM-L6-v2")(texts),
    ]
    assert len(loads) == 1 and list(embedder._models) == loads
    (model,) = embedder._models.values()
    assert embedder.sentence_model(embedder.MINILM, "test") is model
    for v in vectors[1:]:
        np.testing.assert_allclose(v, vectors[0], atol=1e-6)


def test_a_failed_load_is_not_cached_and_names_who_asked(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-model")
    for _ in range(2):
        with pytest.raises(ConfigError, match="^who cannot be loaded offline"):
            embedder.sentence_model(missing, "who")
    assert missing not in embedder._models
