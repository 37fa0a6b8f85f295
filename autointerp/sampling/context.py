"""Cutting the shown example out of a fixed-length corpus window.

Windows hold ``ctx_len - 1`` tokens after the BOS. With ``SamplingConfig.example_len`` = L > 0
an activating example shows L tokens with its peak (first max-activating token) at position
``peak_position`` (``-1``: L // 2), shifted only where the window is too short on one side;
a non-activating one shows L tokens at a random offset seeded by (run seed, window), so every
unit shows the same cut of a shared negative window.
"""

from __future__ import annotations

import numpy as np

from autointerp.config import SamplingConfig

__all__ = ["crop_slice", "negative_start", "peak_start"]


def _length(cfg: SamplingConfig, n_positions: int) -> int:
    return n_positions if cfg.example_len <= 0 else min(cfg.example_len, n_positions)


def peak_start(acts: np.ndarray, cfg: SamplingConfig) -> int:
    """First shown position for an activating example with per-token ``acts``."""
    length = _length(cfg, len(acts))
    if length == len(acts):
        return 0
    before = cfg.peak_position if cfg.peak_position >= 0 else length // 2
    peak = int(np.argmax(acts))
    return int(min(max(peak - before, 0), len(acts) - length))


def negative_start(window: int, n_positions: int, cfg: SamplingConfig, seed: int) -> int:
    """First shown position for a non-activating example of ``window``."""
    length = _length(cfg, n_positions)
    if length == n_positions:
        return 0
    rng = np.random.default_rng([seed, window, 1 << 21])
    return int(rng.integers(0, n_positions - length + 1))


def crop_slice(
    acts: np.ndarray, window: int, activating: bool, cfg: SamplingConfig, seed: int
) -> tuple[int, int]:
    """(start, stop) of the shown slice of a window's positions."""
    length = _length(cfg, len(acts))
    start = peak_start(acts, cfg) if activating else negative_start(window, len(acts), cfg, seed)
    return start, start + length
