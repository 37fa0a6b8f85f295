"""ReLU SAE (SAELens ``standard``, dictionary_learning ``AutoEncoder``)."""

from __future__ import annotations

import torch

from autointerp.saes.base import ARCHITECTURES, SparseCoder

__all__ = ["StandardSAE"]


@ARCHITECTURES.register("standard")
class StandardSAE(SparseCoder):
    architecture = "standard"

    def activate(self, pre: torch.Tensor) -> torch.Tensor:
        return torch.relu(pre)
