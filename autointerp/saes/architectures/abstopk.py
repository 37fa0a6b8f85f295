"""AbsTopK (arXiv 2510.00404): keep the k pre-activations largest in magnitude, with their
sign, so one latent can fire positive or negative. ``signed = True`` makes the pipeline
explain and score each direction as its own unit."""

from __future__ import annotations

import torch

from autointerp.saes.architectures.topk import TopKSAE, scatter_topk
from autointerp.saes.base import ARCHITECTURES

__all__ = ["AbsTopKSAE"]


@ARCHITECTURES.register("abstopk")
class AbsTopKSAE(TopKSAE):
    architecture = "abstopk"
    signed = True

    def activate(self, pre: torch.Tensor) -> torch.Tensor:
        return scatter_topk(pre, self.k, by_magnitude=True)
