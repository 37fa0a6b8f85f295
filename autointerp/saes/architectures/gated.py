"""Gated SAE (Rajamanoharan et al. 2024; SAELens ``gated``, dictionary_learning
``GatedAutoEncoder``): a gate ``(x W_enc + b_gate > 0)`` times a magnitude
``relu(x (W_enc * exp(r_mag)) + b_mag)``."""

from __future__ import annotations

from typing import ClassVar

import torch

from autointerp.saes.base import ARCHITECTURES, SparseCoder

__all__ = ["GatedSAE"]


@ARCHITECTURES.register("gated")
class GatedSAE(SparseCoder):
    architecture = "gated"
    params: ClassVar[dict[str, tuple[str, ...]]] = {
        "W_enc": ("d_in", "d_sae"),
        "b_gate": ("d_sae",),
        "b_mag": ("d_sae",),
        "r_mag": ("d_sae",),
        "W_dec": ("d_sae", "d_out"),
        "b_dec": ("d_out",),
    }
    b_gate: torch.Tensor
    b_mag: torch.Tensor
    r_mag: torch.Tensor

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        """The magnitude path's pre-activation (what the latent's value is made of)."""
        return self.sae_input(x) @ (self.W_enc * self.r_mag.exp()) + self.b_mag

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        sae_in = self.sae_input(x)
        gate = (sae_in @ self.W_enc + self.b_gate > 0).to(sae_in.dtype)
        magnitude = torch.relu(sae_in @ (self.W_enc * self.r_mag.exp()) + self.b_mag)
        return gate * magnitude

    def activate(self, pre: torch.Tensor) -> torch.Tensor:  # pragma: no cover - encode overrides
        raise NotImplementedError("gated SAEs compute the gate from the input; use encode()")
