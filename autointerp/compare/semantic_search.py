"""Semantic search: the latents, across checkpoints, whose explanations mean what a query
says. The query and every explanation (one per latent, as in a comparison; see
:mod:`autointerp.compare.sources`) are embedded with the same embedder, and latents are
ranked by cosine similarity. Put a :func:`~autointerp.compare.embed.cached` embedder in
front to embed a store's explanations only once across searches.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from autointerp.compare.embed import NamedEmbedder, embed_texts
from autointerp.compare.sources import (
    all_checkpoint_specs,
    load_checkpoints,
    read_explanations,
)
from autointerp.errors import UserInputError

__all__ = ["SEARCH_COLUMNS", "search_explanations"]

SEARCH_COLUMNS = [
    "similarity",
    "checkpoint",
    "model",
    "hook_name",
    "latent",
    "explanation",
    "run_id",
]


def search_explanations(
    store: Path | str,
    query: str,
    embedder: NamedEmbedder,
    *,
    checkpoints: list[str] | None = None,
    limit: int | None = 20,
    min_similarity: float | None = None,
) -> pd.DataFrame:
    """Latents of ``checkpoints`` (sae_sha256 prefixes or run ids; default: every
    checkpoint in ``store``) ranked by the similarity of their explanation to ``query``,
    best first: columns ``SEARCH_COLUMNS``."""
    if not query.strip():
        raise UserInputError("query: expected some text to search for, got ''")
    if limit is not None and limit < 0:
        raise UserInputError(f"limit: expected >= 0, got {limit}")
    df = read_explanations(store)
    specs = checkpoints or all_checkpoint_specs(store, df)
    frames = []
    ckpts = load_checkpoints(store, specs, df)
    texts = [query.strip()] + [t for c in ckpts for t in c.texts]
    emb = embed_texts(embedder, texts)
    sims = emb[1:] @ emb[0]
    start = 0
    seen: set[str] = set()
    for ckpt in ckpts:
        part = sims[start : start + len(ckpt.latents)]
        start += len(ckpt.latents)
        if ckpt.sha in seen:  # the same checkpoint named twice
            continue
        seen.add(ckpt.sha)
        frames.append(
            pd.DataFrame(
                {
                    "similarity": part.astype(np.float64),
                    "checkpoint": ckpt.sha,
                    "model": ckpt.model,
                    "hook_name": ckpt.hook_name,
                    "latent": ckpt.latents,
                    "explanation": list(ckpt.texts),
                    "run_id": ckpt.runs,
                }
            )
        )
    out = pd.concat(frames, ignore_index=True)
    if min_similarity is not None:
        out = out[out["similarity"] >= min_similarity]
    out = out.sort_values(
        ["similarity", "checkpoint", "latent"], ascending=[False, True, True], kind="stable"
    )
    if limit is not None:
        out = out.head(limit)
    return out[SEARCH_COLUMNS].reset_index(drop=True)
