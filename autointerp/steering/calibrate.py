"""Steering strength: the ``alpha`` at which a unit's steering moves the next-token
distribution by a target mean KL (a safeguarded secant search on log KL against log alpha;
several units per batch)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from autointerp.errors import ConfigError
from autointerp.models.loader import SubjectModel
from autointerp.saes.base import SparseCoder
from autointerp.steering.distributions import (
    _kl,
    _steered,
    activation_scale,
    encode_prompts,
    next_token_logprobs,
)
from autointerp.steering.vectors import steering_hook, steering_vector

__all__ = ["Calibration", "calibrate_many", "calibrate_strength"]


@dataclass(frozen=True)
class Calibration:
    """The strength found for one unit."""

    alpha: float
    """L2 norm of the added vector."""
    kl: float
    """Mean KL(clean || steered) of the next-token distribution reached with ``alpha``."""
    iterations: int
    converged: bool
    """True when ``kl`` is within the tolerance of the target."""


def _next_alpha(
    alpha: float, kl: float, lo: tuple[float, float], hi: tuple[float, float] | None, target: float
) -> float:
    """Next strength to try, from the bracket ``lo`` (KL below target) / ``hi`` (above)."""
    if hi is None:  # not bracketed yet: extrapolate KL ~ alpha^2, between x2 and x16
        factor = math.sqrt(target / kl) if kl > 0 else 16.0
        return alpha * min(16.0, max(2.0, factor))
    (a_lo, k_lo), (a_hi, k_hi) = lo, hi
    if a_lo <= 0 or k_lo <= 0:  # only an upper bound: assume KL ~ alpha^2 below it
        guess = a_hi * math.sqrt(target / k_hi)
        return min(max(guess, a_hi / 16), a_hi * 0.9)
    slope = (math.log(k_hi) - math.log(k_lo)) / (math.log(a_hi) - math.log(a_lo))
    if slope <= 0:  # not monotone here: bisect
        return math.sqrt(a_lo * a_hi)
    guess = math.exp(math.log(a_lo) + (math.log(target) - math.log(k_lo)) / slope)
    margin = 0.05 * (a_hi - a_lo)  # stay inside the bracket
    return min(max(guess, a_lo + margin), a_hi - margin)


@torch.no_grad()
def calibrate_many(
    subject: SubjectModel,
    sae: SparseCoder,
    units: Sequence[int],
    prompts: Sequence[str],
    target_kl: float,
    *,
    tol: float = 0.1,
    max_iter: int = 12,
    clean: torch.Tensor | None = None,
) -> list[Calibration]:
    """One :class:`Calibration` per unit: each iteration runs every unfinished unit on every
    prompt in one batch. A unit counts as converged when its KL is within ``tol`` (relative)
    of ``target_kl``; otherwise the alpha whose KL came closest (in log ratio) is returned.
    ``clean``: the clean next-token log-probabilities of ``prompts``, when already known."""
    if target_kl <= 0:
        raise ConfigError(f"scoring.steer_target_kl must be > 0, got {target_kl}")
    ids = encode_prompts(subject, prompts)
    if clean is None:
        clean = next_token_logprobs(subject, ids)
    hook = steering_hook(sae)
    directions = torch.stack([steering_vector(sae, u) for u in units])
    scale = activation_scale(subject, sae, prompts) / 4
    alpha = [scale] * len(units)
    lo: list[tuple[float, float]] = [(0.0, 0.0)] * len(units)
    hi: list[tuple[float, float] | None] = [None] * len(units)
    best: list[tuple[float, float, int]] = [(0.0, 0.0, 0)] * len(units)
    done = [bool(directions[i].abs().sum() == 0) for i in range(len(units))]
    for it in range(1, max_iter + 1):
        todo = [i for i in range(len(units)) if not done[i]]
        if not todo:
            break
        kls: list[float] = []
        for _, steered in _steered(subject, hook, ids, [alpha[i] * directions[i] for i in todo]):
            kls += _kl(clean, steered).mean(dim=1).tolist()  # clean broadcasts over units
        for i, kl in zip(todo, kls, strict=True):
            gap = abs(math.log(max(kl, 1e-12) / target_kl))
            if best[i][2] == 0 or gap < abs(math.log(max(best[i][1], 1e-12) / target_kl)):
                best[i] = (alpha[i], kl, it)
            if abs(kl - target_kl) <= tol * target_kl:
                done[i] = True
                continue
            if kl < target_kl:
                lo[i] = (alpha[i], kl)
            else:
                hi[i] = (alpha[i], kl)
            alpha[i] = _next_alpha(alpha[i], kl, lo[i], hi[i], target_kl)
    return [Calibration(a, kl, it, abs(kl - target_kl) <= tol * target_kl) for a, kl, it in best]


def calibrate_strength(
    subject: SubjectModel,
    sae: SparseCoder,
    unit: int,
    prompts: Sequence[str],
    target_kl: float,
    *,
    tol: float = 0.1,
    max_iter: int = 12,
) -> Calibration:
    """The strength at which steering ``unit`` moves the next-token distribution after
    ``prompts`` by a mean KL of ``target_kl`` (see :func:`calibrate_many`)."""
    return calibrate_many(subject, sae, [unit], prompts, target_kl, tol=tol, max_iter=max_iter)[0]
