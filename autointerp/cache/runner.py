"""Run the subject model over token windows, encode with the SAE at its hook point, and
fold the activations into :class:`LatentStats` (caching), or return the per-token
activations of chosen units on chosen windows (replay, used for the examples).

Everything here works on *units* (``SparseCoder.encode_units``): the latents themselves, or
for signed architectures each latent's positive and negative direction. Several checkpoints
on several hook points are cached in one forward pass (:func:`cache_many`)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from autointerp.cache.stats import LatentStats
from autointerp.config import CacheConfig
from autointerp.errors import ModelError
from autointerp.models.hooks import HookPoint, hook_width, parse_hook_name, run_to_hooks
from autointerp.models.loader import SubjectModel, resolve_batch_size
from autointerp.saes.base import SparseCoder

__all__ = ["bind", "cache_activations", "cache_many", "encode_windows", "replay"]


def bind(subject: SubjectModel, sae: SparseCoder) -> HookPoint:
    """The hook point where ``sae`` reads ``subject``; checks that the two fit together."""
    hook = parse_hook_name(sae.info.hook_name)
    try:
        width = hook_width(subject.model, hook)
    except ModelError as err:
        raise ModelError(f"{sae.info.path}: {err}") from None
    if sae.d_in != width:
        what = "hidden size" if width == subject.d_model else "width"
        raise ModelError(
            f"{sae.info.path}: d_in={sae.d_in} does not match the {what} {width} of "
            f"{subject.name} at {sae.info.hook_name}"
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
    """Yield (window_ids [B], unit activations [B, T-1, n_units]) batch by batch; the BOS
    position is dropped."""
    ids = np.arange(len(tokens)) if window_ids is None else np.asarray(window_ids)
    batch_size = resolve_batch_size(batch_size, subject.device)
    sae = sae.to(subject.device)
    bar = tqdm(total=len(tokens), desc=desc, unit="win", disable=desc is None, leave=False)
    for start in range(0, len(tokens), batch_size):
        chunk = torch.as_tensor(tokens[start : start + batch_size], dtype=torch.long)
        acts = run_to_hooks(subject.model, chunk.to(subject.device), [hook])[hook]
        latents = sae.encode_units(acts[:, 1:].float())
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
    """Stream all windows through model + SAE and return the per-unit statistics."""
    return cache_many(subject, [sae], tokens, cfg, seed=seed, progress=progress)[0]


@torch.no_grad()
def cache_many(
    subject: SubjectModel,
    saes: Sequence[SparseCoder],
    tokens: np.ndarray,
    cfg: CacheConfig,
    *,
    seed: int,
    progress: bool = True,
    first_window: int = 0,
) -> list[LatentStats]:
    """Statistics for several checkpoints (any hook points) from ONE forward pass per batch,
    cut after the last hook any of them needs. ``tokens[i]`` is window ``first_window + i``
    of the corpus (shards pass their offset so their statistics merge exactly)."""
    hooks = [bind(subject, sae) for sae in saes]
    coders = [sae.to(subject.device) for sae in saes]
    stats = [LatentStats.empty(s.n_units, cfg.top_k, cfg.reservoir, seed) for s in saes]
    wanted = list(dict.fromkeys(hooks))
    bar = tqdm(total=len(tokens), desc="caching", unit="win", disable=not progress, leave=False)
    batch_size = resolve_batch_size(cfg.batch_size, subject.device)
    for start in range(0, len(tokens), batch_size):
        chunk = torch.as_tensor(tokens[start : start + batch_size], dtype=torch.long)
        window_ids = torch.arange(first_window + start, first_window + start + len(chunk))
        captured = run_to_hooks(subject.model, chunk.to(subject.device), wanted)
        for coder, hook, stat in zip(coders, hooks, stats, strict=True):
            acts = coder.encode_units(captured[hook][:, 1:].float()).cpu()
            stat.update(acts, window_ids, chunk[:, 1:])
        bar.update(len(chunk))
    bar.close()
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
    """Per-token activations of units ``latents``: [len(window_ids), T-1, len(latents)]."""
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
