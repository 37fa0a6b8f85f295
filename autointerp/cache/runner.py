"""Run the subject model over token windows, encode with the SAE at its hook point, and
fold the activations into :class:`LatentStats` (caching), or return the per-token
activations of chosen latents on chosen windows (replay, used for the examples)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from autointerp.cache.stats import LatentStats
from autointerp.config import CacheConfig
from autointerp.errors import ModelError
from autointerp.models.hooks import HookPoint, parse_hook_name, run_to_hooks
from autointerp.models.loader import SubjectModel
from autointerp.saes.base import SparseCoder

__all__ = ["bind", "cache_activations", "encode_windows", "replay"]


def bind(subject: SubjectModel, sae: SparseCoder) -> HookPoint:
    """The hook point where ``sae`` reads ``subject``; checks that the two fit together."""
    hook = parse_hook_name(sae.info.hook_name)
    if hook.layer >= subject.n_layers:
        raise ModelError(
            f"{sae.info.path}: hook point {sae.info.hook_name!r} needs layer {hook.layer}, but "
            f"{subject.name} has {subject.n_layers} layers"
        )
    if sae.d_in != subject.d_model:
        raise ModelError(
            f"{sae.info.path}: d_in={sae.d_in} does not match the hidden size "
            f"{subject.d_model} of {subject.name} at {sae.info.hook_name}"
        )
    return hook


@torch.no_grad()
def encode_windows(
    subject: SubjectModel,
    sae: SparseCoder,
    hook: HookPoint,
    tokens: np.ndarray,
    *,
    batch_size: int,
    desc: str | None = None,
    window_ids: Sequence[int] | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (window_ids [B], latent activations [B, T-1, d_sae]) batch by batch; the BOS
    position is dropped."""
    ids = np.arange(len(tokens)) if window_ids is None else np.asarray(window_ids)
    sae = sae.to(subject.device)
    bar = tqdm(total=len(tokens), desc=desc, unit="win", disable=desc is None, leave=False)
    for start in range(0, len(tokens), batch_size):
        chunk = torch.as_tensor(tokens[start : start + batch_size], dtype=torch.long)
        acts = run_to_hooks(subject.model, chunk.to(subject.device), [hook])[hook]
        latents = sae.encode(acts[:, 1:].float())
        yield torch.as_tensor(ids[start : start + batch_size]), latents.cpu()
        bar.update(len(chunk))
    bar.close()


def cache_activations(
    subject: SubjectModel,
    sae: SparseCoder,
    tokens: np.ndarray,
    cfg: CacheConfig,
    *,
    seed: int,
    progress: bool = True,
) -> LatentStats:
    """Stream all windows through model + SAE and return the per-latent statistics."""
    hook = bind(subject, sae)
    stats = LatentStats.empty(sae.d_sae, cfg.top_k, cfg.reservoir, seed)
    for window_ids, acts in encode_windows(
        subject, sae, hook, tokens, batch_size=cfg.batch_size, desc="caching" if progress else None
    ):
        stats.update(acts, window_ids)
    return stats


def replay(
    subject: SubjectModel,
    sae: SparseCoder,
    tokens: np.ndarray,
    window_ids: np.ndarray,
    latents: Sequence[int],
    *,
    batch_size: int,
    progress: bool = True,
) -> np.ndarray:
    """Per-token activations [len(window_ids), T-1, len(latents)] (float32)."""
    hook = bind(subject, sae)
    cols = torch.as_tensor(list(latents), dtype=torch.long)
    out = np.zeros((len(window_ids), tokens.shape[1] - 1, len(cols)), dtype=np.float32)
    row = 0
    for _, acts in encode_windows(
        subject,
        sae,
        hook,
        tokens[window_ids],
        batch_size=batch_size,
        desc="examples" if progress else None,
    ):
        out[row : row + len(acts)] = acts[:, :, cols].numpy()
        row += len(acts)
    return out
