"""Comparing checkpoints by what their latents mean: the semantic similarity of their
explanations (any checkpoints: other models, layers, sizes), and of their decoder
directions where they share a space; plus semantic search over explanations.

Modules: ``sources`` (checkpoints and their explanations from a store), ``embed``
(embedders by name, on-disk cache), ``match`` (one-to-one and best matching, baselines),
``decoders`` (decoder-direction matching), ``core`` (the pairwise comparison and its
statistics), ``report`` (Parquet, JSON, PNG), ``semantic_search`` (text query -> latents).
"""

from autointerp.compare.core import CompareOptions, Comparison, PairResult, compare
from autointerp.compare.embed import (
    DEFAULT_EMBEDDER,
    EMBEDDERS,
    EmbedderOptions,
    NamedEmbedder,
    cached,
    make_embedder,
)
from autointerp.compare.report import pairs_frame, write_report
from autointerp.compare.semantic_search import search_explanations
from autointerp.compare.sources import Checkpoint, all_checkpoint_specs, load_checkpoints

__all__ = [
    "DEFAULT_EMBEDDER",
    "EMBEDDERS",
    "Checkpoint",
    "CompareOptions",
    "Comparison",
    "EmbedderOptions",
    "NamedEmbedder",
    "PairResult",
    "all_checkpoint_specs",
    "cached",
    "compare",
    "load_checkpoints",
    "make_embedder",
    "pairs_frame",
    "search_explanations",
    "write_report",
]
