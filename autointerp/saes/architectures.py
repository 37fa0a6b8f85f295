"""The activation functions that tell SAE architectures apart (one class each)."""

from __future__ import annotations

import torch

from autointerp.errors import CheckpointError
from autointerp.saes.base import ARCHITECTURES, SaeInfo, SparseCoder

__all__ = ["JumpReLUSAE", "StandardSAE", "TopKSAE"]


@ARCHITECTURES.register("standard")
class StandardSAE(SparseCoder):
    """ReLU SAE (SAELens ``standard``)."""

    architecture = "standard"

    def activate(self, pre: torch.Tensor) -> torch.Tensor:
        return torch.relu(pre)


@ARCHITECTURES.register("jumprelu")
class JumpReLUSAE(SparseCoder):
    """ReLU gated by a learned per-latent threshold: ``relu(pre) * (pre > threshold)``."""

    architecture = "jumprelu"
    extra_params = ("threshold",)
    threshold: torch.Tensor

    def activate(self, pre: torch.Tensor) -> torch.Tensor:
        return torch.relu(pre) * (pre > self.threshold).to(pre.dtype)


@ARCHITECTURES.register("topk")
class TopKSAE(SparseCoder):
    """Keeps the ``k`` largest pre-activations (then ReLU); optionally scores latents by
    ``pre * ||W_dec||`` (``rescale_acts_by_decoder_norm``), as SAELens does."""

    architecture = "topk"

    def __init__(self, info: SaeInfo, weights: dict[str, torch.Tensor]) -> None:
        super().__init__(info, weights)
        if info.k is None or not 0 < info.k <= info.d_sae:
            raise CheckpointError(f"{info.path}: topk needs 0 < k <= d_sae, got k={info.k}")
        self.k = info.k
        self.rescale = bool(info.extra.get("rescale_acts_by_decoder_norm", False))

    def activate(self, pre: torch.Tensor) -> torch.Tensor:
        if self.rescale:
            pre = pre * self.W_dec.norm(dim=-1)
        values, indices = pre.topk(self.k, dim=-1, sorted=False)
        return torch.zeros_like(pre).scatter_(-1, indices, values.relu())

    def decode(self, acts: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        if self.rescale:
            acts = acts / self.W_dec.norm(dim=-1)
        return super().decode(acts, x)
