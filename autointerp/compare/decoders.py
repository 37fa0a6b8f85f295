"""Decoder-direction matching of two checkpoints that write into the same space.

Two checkpoints' decoder directions are comparable when they belong to the same subject
model and have the same decoder width (d_in for SAEs); otherwise the comparison says why it
was skipped. The weights are loaded from the checkpoint path in the newest run's manifest
(``inputs.sae_path``) and must still hash to the checkpoint's ``sae_sha256``.

Only the latents compared semantically (those with an explanation on each side) are
matched, so that the two matchings choose among the same candidates and their agreement
(the share of latents given the same partner by both) means something; by chance it is
about ``1 / n`` for ``n`` candidates. A signed unit ``d_sae + i`` (latent ``i`` firing
negative) writes ``-W_dec[i]``.

Baseline: ``A`` matched against ``B``'s directions with every coordinate shuffled
independently across latents (:func:`~autointerp.compare.match.shuffled_columns`): the same
coordinate statistics, no learned directions. A random-weights checkpoint
(``random:<checkpoint>``) is such a draw, so it should land on this baseline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from autointerp.compare.match import Matching, match, shuffled_columns, unit_rows
from autointerp.compare.sources import Checkpoint
from autointerp.errors import AutointerpError

__all__ = [
    "DecoderMatch",
    "Decoders",
    "decoder_match",
    "load_decoders",
    "model_reason",
    "skip_reason",
]


@dataclass(frozen=True)
class Decoders:
    """Unit-norm decoder directions of a checkpoint's explained latents, or why not."""

    vectors: np.ndarray | None
    """[n_latents, d_out], rows in the order of ``Checkpoint.latents``."""
    width: int | None
    reason: str | None = None


@dataclass(frozen=True)
class DecoderMatch:
    matching: Matching
    """Rows / columns index the two checkpoints' explained latents."""
    baseline: Matching
    """``A`` against ``B`` with shuffled coordinates."""


def load_decoders(ckpt: Checkpoint) -> Decoders:
    """Decoder directions of ``ckpt``'s explained latents (see the module docstring)."""
    from autointerp.saes import load_sae

    if not ckpt.sae_path:
        return Decoders(None, None, f"{ckpt.sha}: no run manifest names its checkpoint path")
    try:
        sae = load_sae(ckpt.sae_path)
    except AutointerpError as exc:
        return Decoders(None, None, f"{ckpt.sha}: cannot load {ckpt.sae_path}: {exc}")
    if sae.info.sha256 != ckpt.sha:
        return Decoders(
            None,
            None,
            f"{ckpt.sha}: {ckpt.sae_path} now hashes to {sae.info.sha256}; the explanations "
            "were made for other weights",
        )
    if len(ckpt.latents) and int(ckpt.latents.max()) >= sae.n_units:
        return Decoders(None, None, f"{ckpt.sha}: latent {ckpt.latents.max()} >= {sae.n_units}")
    w_dec = sae.decoder_directions().detach().float().cpu().numpy()
    rows = np.where(ckpt.latents >= sae.d_sae, ckpt.latents - sae.d_sae, ckpt.latents)
    signs = np.where(ckpt.latents >= sae.d_sae, -1.0, 1.0).astype(np.float32)
    return Decoders(unit_rows(w_dec[rows] * signs[:, None]), int(w_dec.shape[1]))


def model_reason(a: Checkpoint, b: Checkpoint) -> str | None:
    """Why ``a`` and ``b`` cannot share a decoder space whatever their weights, or None."""
    if a.model != b.model:
        return f"different subject models ({a.model} vs {b.model}): decoder spaces differ"
    return None


def skip_reason(da: Decoders, db: Decoders) -> str | None:
    """Why the loaded decoders ``da`` and ``db`` cannot be compared, or None."""
    if da.reason or db.reason:
        return "; ".join(r for r in (da.reason, db.reason) if r)
    if da.width != db.width:
        return f"different decoder widths ({da.width} vs {db.width})"
    return None


def decoder_match(
    da: Decoders, db: Decoders, *, exact_max: int, top_k: int, seed: int
) -> DecoderMatch:
    """Match ``da`` and ``db`` (both loaded, same width) and their shuffled baseline."""
    assert da.vectors is not None and db.vectors is not None
    matching = match(da.vectors, db.vectors, exact_max=exact_max, top_k=top_k)
    null = shuffled_columns(db.vectors, seed=seed)
    baseline = match(da.vectors, null, exact_max=exact_max, top_k=top_k)
    return DecoderMatch(matching, baseline)
