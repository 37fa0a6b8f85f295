"""ITDA (Inference-Time Decomposition of Activations, Leask et al. 2025, arXiv 2505.17769): a
dictionary of unit-norm atoms (normalised activations seen in training), no encoder and no
bias. Encoding is plain matching pursuit on the raw activation: ``k`` steps, each picking the
atom whose correlation with the residual is largest *in magnitude*, adding that signed
correlation to the atom's coefficient and subtracting its contribution (the residual is not
re-projected, so this is MP, not OMP). Coefficients can be negative, so ``signed = True``: the
pipeline explains each direction of an atom as its own unit."""

from __future__ import annotations

from typing import ClassVar

import torch

from autointerp.errors import CheckpointError
from autointerp.saes.architectures.matching_pursuit import matching_pursuit
from autointerp.saes.base import ARCHITECTURES, SaeInfo, SparseCoder

__all__ = ["ITDASAE"]


@ARCHITECTURES.register("itda")
class ITDASAE(SparseCoder):
    architecture = "itda"
    signed = True
    params: ClassVar[dict[str, tuple[str, ...]]] = {"W_dec": ("d_sae", "d_out")}
    optional_params: ClassVar[dict[str, tuple[str, ...]]] = {}

    atom_indices: torch.Tensor | None = None
    """[d_sae, 2] (training sequence, token position) each atom was taken from, when known."""

    def __init__(self, info: SaeInfo, weights: dict[str, torch.Tensor]) -> None:
        super().__init__(info, weights)
        if info.k is None or info.k <= 0:
            raise CheckpointError(f"{info.path}: ITDA needs a positive k, got {info.k!r}")
        if info.apply_b_dec_to_input or info.normalize_activations != "none":
            raise CheckpointError(
                f"{info.path}: ITDA reads the raw activation (no bias, no normalisation)"
            )
        self.k = info.k

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        """Correlations with the atoms (the first pursuit step), for diagnostics."""
        return x.to(torch.float32) @ self.W_dec.T

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.to(torch.float32).reshape(-1, x.shape[-1])
        acts = matching_pursuit(
            flat,
            self.W_dec,
            max_iterations=self.k,
            residual_threshold=0.0,
            stop_on_duplicate_support=False,
            signed=True,
        )
        return acts.reshape(*x.shape[:-1], self.d_sae)

    def activate(self, pre: torch.Tensor) -> torch.Tensor:  # pragma: no cover - encode overrides
        raise NotImplementedError("matching pursuit needs the input; use encode()")

    def decode(self, acts: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        return acts.to(torch.float32) @ self.W_dec
