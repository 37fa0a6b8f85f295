"""sparsify's ``groupmax`` activation: the latents are split into k equal groups and only the
largest (ReLU'd) pre-activation of each group survives."""

from __future__ import annotations

import torch

from autointerp.errors import CheckpointError
from autointerp.saes.base import ARCHITECTURES, SaeInfo, SparseCoder

__all__ = ["GroupMaxSAE"]


@ARCHITECTURES.register("groupmax")
class GroupMaxSAE(SparseCoder):
    architecture = "groupmax"

    def __init__(self, info: SaeInfo, weights: dict[str, torch.Tensor]) -> None:
        super().__init__(info, weights)
        if info.k is None or info.k <= 0 or info.d_sae % info.k:
            raise CheckpointError(
                f"{info.path}: groupmax needs k > 0 dividing d_sae={info.d_sae}, got k={info.k}"
            )
        self.k = info.k

    def activate(self, pre: torch.Tensor) -> torch.Tensor:
        groups = torch.relu(pre).unflatten(-1, (self.k, -1))
        values, idx = groups.max(dim=-1, keepdim=True)
        return torch.zeros_like(groups).scatter_(-1, idx, values).flatten(-2)
