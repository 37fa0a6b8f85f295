"""The identity basis: raw model units (e.g. MLP neurons at ``blocks.L.mlp.hook_post``) read
as latents, optionally top-k sparsified per token. Negative values are clipped to 0 (the
positive direction is the one explained), as delphi and Neuronpedia do for neurons."""

from __future__ import annotations

from typing import ClassVar

import torch

from autointerp.errors import CheckpointError
from autointerp.saes.architectures.topk import scatter_topk
from autointerp.saes.base import ARCHITECTURES, SaeInfo, SparseCoder

__all__ = ["NeuronBasis"]


@ARCHITECTURES.register("neurons")
class NeuronBasis(SparseCoder):
    architecture = "neurons"
    params: ClassVar[dict[str, tuple[str, ...]]] = {}
    optional_params: ClassVar[dict[str, tuple[str, ...]]] = {}

    def __init__(self, info: SaeInfo, weights: dict[str, torch.Tensor]) -> None:
        super().__init__(info, weights)
        if info.d_sae != info.d_in:
            raise CheckpointError(f"{info.path}: a neuron basis needs d_sae == d_in")
        if info.k is not None and not 0 < info.k <= info.d_in:
            raise CheckpointError(f"{info.path}: neurons top-k needs 0 < k <= {info.d_in}")
        self.k = info.k

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(torch.float32)
        return (scatter_topk(x, self.k) if self.k else x).relu()

    def activate(self, pre: torch.Tensor) -> torch.Tensor:
        return pre.relu()

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(torch.float32)

    def decode(self, acts: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        return acts

    def decoder_directions(self) -> torch.Tensor:
        return torch.eye(self.d_in)
