"""Matching-pursuit encoder (MP-SAE, arXiv 2506.03093; SAELens ``matching_pursuit``): no
encoder matrix; starting from the centred input, repeatedly pick the decoder row most aligned
with the residual, add its (ReLU'd) coefficient to that latent and subtract its contribution.
Stops per token after ``max_iterations`` steps (default d_in), when the residual norm drops below
``residual_threshold``, or (optionally) when a step adds no new latent."""

from __future__ import annotations

from typing import ClassVar

import torch

from autointerp.saes.base import ARCHITECTURES, SaeInfo, SparseCoder

__all__ = ["MatchingPursuitSAE", "matching_pursuit"]


def matching_pursuit(
    residual: torch.Tensor,
    W_dec: torch.Tensor,
    *,
    max_iterations: int,
    residual_threshold: float,
    stop_on_duplicate_support: bool,
    signed: bool = False,
) -> torch.Tensor:
    """Greedy pursuit over the rows of ``W_dec`` [d_sae, d]; ``residual`` [N, d].

    ``signed`` picks the row with the largest correlation in magnitude and keeps its sign
    (ITDA's ``mp_encode``); otherwise only positive correlations count (MP-SAE)."""
    residual = residual.clone()
    n = residual.shape[0]
    acts = residual.new_zeros(n, W_dec.shape[0])
    active = torch.ones(n, dtype=torch.bool, device=residual.device)
    support = torch.zeros_like(acts, dtype=torch.bool)
    for _ in range(max_iterations):
        correlations = residual @ W_dec.T
        best = (correlations.abs() if signed else correlations.relu()).argmax(dim=-1)
        atoms = W_dec[best]
        if signed:
            coeff = correlations.gather(1, best[:, None]).squeeze(1) * active
        else:
            coeff = (residual * atoms).sum(-1).relu() * active
        acts[torch.arange(n), best] += coeff
        residual -= coeff[:, None] * atoms
        if stop_on_duplicate_support:
            new_support = acts != 0
            active &= ~(new_support == support).all(dim=-1)
            support = new_support
        if residual_threshold > 0:
            active &= residual.norm(dim=-1) >= residual_threshold
        if not active.any():
            break
    return acts


@ARCHITECTURES.register("matching_pursuit")
class MatchingPursuitSAE(SparseCoder):
    architecture = "matching_pursuit"
    params: ClassVar[dict[str, tuple[str, ...]]] = {
        "W_dec": ("d_sae", "d_out"),
        "b_dec": ("d_out",),
    }
    optional_params: ClassVar[dict[str, tuple[str, ...]]] = {}

    def __init__(self, info: SaeInfo, weights: dict[str, torch.Tensor]) -> None:
        super().__init__(info, weights)
        self.max_iterations = int(info.extra.get("max_iterations") or info.d_in)
        self.residual_threshold = float(info.extra.get("residual_threshold", 1e-2))
        self.stop_on_duplicate = bool(info.extra.get("stop_on_duplicate_support", True))

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        """Correlations with the decoder rows (the tied encoder), for diagnostics."""
        return self.sae_input(x) @ self.W_dec.T

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        sae_in = self.sae_input(x)
        flat = sae_in.reshape(-1, sae_in.shape[-1])
        acts = matching_pursuit(
            flat,
            self.W_dec,
            max_iterations=self.max_iterations,
            residual_threshold=self.residual_threshold,
            stop_on_duplicate_support=self.stop_on_duplicate,
        )
        return acts.reshape(*sae_in.shape[:-1], self.d_sae)

    def activate(self, pre: torch.Tensor) -> torch.Tensor:  # pragma: no cover - encode overrides
        raise NotImplementedError("matching pursuit needs the input; use encode()")

    def decode(self, acts: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        """As SAELens: ``b_dec`` is added back only when it was subtracted from the input;
        input normalisation is undone (which needs ``x``)."""
        if self.info.apply_b_dec_to_input:
            return super().decode(acts, x)
        return self.denormalize(acts @ self.W_dec, x)
