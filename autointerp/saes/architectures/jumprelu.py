"""JumpReLU (SAELens ``jumprelu``, Gemma Scope, and BatchTopK SAEs saved with their learned
inference threshold): ``relu(pre) * (pre > threshold)``."""

from __future__ import annotations

from typing import ClassVar

import torch

from autointerp.saes.base import ARCHITECTURES, SparseCoder

__all__ = ["JumpReLUSAE"]


@ARCHITECTURES.register("jumprelu")
class JumpReLUSAE(SparseCoder):
    architecture = "jumprelu"
    params: ClassVar[dict[str, tuple[str, ...]]] = {
        **SparseCoder.params,
        "threshold": ("d_sae",),
    }
    threshold: torch.Tensor

    def activate(self, pre: torch.Tensor) -> torch.Tensor:
        return torch.relu(pre) * (pre > self.threshold).to(pre.dtype)
