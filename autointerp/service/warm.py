"""A worker's loaded inputs kept warm across jobs: the subject model, the checkpoint and the
tokenised corpus of the last ``KEEP`` input sets (a bounded LRU), so a model worker that gets
job after job on the same model does not load it again for each.

An entry is keyed by what the inputs are loaded from (checkpoint, hook, model, device,
dtype, corpus settings) and by the checkpoint files' sizes and modification times: a
checkpoint rewritten on disk is loaded afresh (and then checked against the job's plan)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from autointerp.config import RunConfig
from autointerp.pipeline import Inputs

__all__ = ["KEEP", "clear", "get", "put"]

KEEP = 2
_WARM: OrderedDict[tuple[Any, ...], Inputs] = OrderedDict()
_LOCK = threading.Lock()


def _files(spec: str) -> tuple[tuple[str, int, int], ...]:
    """(name, size, mtime) of the checkpoint's files, when it is a local path."""
    path = Path(spec)
    try:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        return tuple(
            (str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files[:200] if p.exists()
        )
    except OSError:
        return ()


def _key(cfg: RunConfig) -> tuple[Any, ...]:
    return (
        cfg.sae,
        _files(cfg.sae),
        cfg.hook,
        cfg.hook_out,
        cfg.sae_format,
        cfg.model,
        cfg.cache.device,
        cfg.cache.dtype,
        cfg.corpus,
    )


def get(cfg: RunConfig) -> Inputs | None:
    """The warm inputs ``cfg`` would load, or None."""
    key = _key(cfg)
    with _LOCK:
        found = _WARM.get(key)
        if found is not None:
            _WARM.move_to_end(key)
        return found


def put(cfg: RunConfig, inputs: Inputs) -> None:
    with _LOCK:
        _WARM[_key(cfg)] = inputs
        _WARM.move_to_end(_key(cfg))
        while len(_WARM) > KEEP:
            _WARM.popitem(last=False)


def clear() -> None:
    with _LOCK:
        _WARM.clear()
