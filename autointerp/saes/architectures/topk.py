"""TopK: keep the ``k`` largest pre-activations per token, then ReLU. With
``rescale_acts_by_decoder_norm`` (SAELens), latents are ranked and reported as
``pre * ||W_dec||`` and the decoder divides that back out."""

from __future__ import annotations

import torch

from autointerp.errors import CheckpointError
from autointerp.saes.base import ARCHITECTURES, SaeInfo, SparseCoder

__all__ = ["TopKSAE", "scatter_topk"]


def scatter_topk(pre: torch.Tensor, k: int, *, by_magnitude: bool = False) -> torch.Tensor:
    """Zeros except the k largest entries of the last dim (by |value| when asked)."""
    key = pre.abs() if by_magnitude else pre
    indices = key.topk(k, dim=-1, sorted=False).indices
    return torch.zeros_like(pre).scatter_(-1, indices, pre.gather(-1, indices))


@ARCHITECTURES.register("topk")
class TopKSAE(SparseCoder):
    architecture = "topk"

    def __init__(self, info: SaeInfo, weights: dict[str, torch.Tensor]) -> None:
        super().__init__(info, weights)
        if info.k is None or not 0 < info.k <= info.d_sae:
            raise CheckpointError(
                f"{info.path}: {self.architecture} needs 0 < k <= d_sae, got k={info.k}"
            )
        self.k = info.k
        self.rescale = bool(info.extra.get("rescale_acts_by_decoder_norm", False))

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        pre = super().pre_activations(x)
        return pre * self.W_dec.norm(dim=-1) if self.rescale else pre

    def activate(self, pre: torch.Tensor) -> torch.Tensor:
        return scatter_topk(pre, self.k).relu()

    def decode(self, acts: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        if self.rescale:
            acts = acts / self.W_dec.norm(dim=-1)
        return super().decode(acts, x)
