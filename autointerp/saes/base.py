"""The inference-only sparse coder every checkpoint format loads into.

``encode(x) = activate(normalize(x) - b_dec * apply_b_dec_to_input) @ W_enc + b_enc)`` and
``decode(a) = denormalize(a @ W_dec + b_dec)``, where ``activate`` is what distinguishes the
architectures (one small subclass each, registered by name in ``ARCHITECTURES``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from autointerp.errors import CheckpointError
from autointerp.registry import Registry

__all__ = ["ARCHITECTURES", "SaeInfo", "SparseCoder"]

NORMALIZATIONS = ("none", "layer_norm", "constant_norm_rescale")


@dataclass(frozen=True)
class SaeInfo:
    """What was detected about a checkpoint (printed by ``autointerp inspect``)."""

    path: str
    format: str
    architecture: str
    d_in: int
    d_sae: int
    hook_name: str
    model_name: str | None
    dtype: str
    sha256: str
    apply_b_dec_to_input: bool = True
    normalize_activations: str = "none"
    k: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class SparseCoder(nn.Module):
    """Encoder/decoder weights plus the architecture's activation function."""

    architecture: ClassVar[str] = ""
    extra_params: ClassVar[tuple[str, ...]] = ()

    def __init__(self, info: SaeInfo, weights: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self.info = info
        d_in, d_sae = info.d_in, info.d_sae
        expected = {
            "W_enc": (d_in, d_sae),
            "b_enc": (d_sae,),
            "W_dec": (d_sae, d_in),
            "b_dec": (d_in,),
        }
        expected.update({name: (d_sae,) for name in self.extra_params})
        for name, shape in expected.items():
            if name not in weights:
                raise CheckpointError(f"{info.path}: weights have no tensor {name!r}")
            tensor = weights[name]
            if tuple(tensor.shape) != shape:
                raise CheckpointError(
                    f"{info.path}: tensor {name!r} has shape {tuple(tensor.shape)}, expected "
                    f"{shape} for d_in={d_in}, d_sae={d_sae}"
                )
            if not tensor.is_floating_point():
                raise CheckpointError(
                    f"{info.path}: tensor {name!r} has dtype {tensor.dtype}, expected a float"
                )
            if not torch.isfinite(tensor).all():
                raise CheckpointError(f"{info.path}: tensor {name!r} contains NaN or Inf values")
            self.register_buffer(name, tensor.detach().to(torch.float32).contiguous())
        if info.normalize_activations not in NORMALIZATIONS:
            raise CheckpointError(
                f"{info.path}: normalize_activations={info.normalize_activations!r} is not "
                f"supported; expected one of {', '.join(NORMALIZATIONS)}"
            )

    # Buffers, typed for mypy.
    W_enc: torch.Tensor
    b_enc: torch.Tensor
    W_dec: torch.Tensor
    b_dec: torch.Tensor

    @property
    def d_in(self) -> int:
        return self.info.d_in

    @property
    def d_sae(self) -> int:
        return self.info.d_sae

    def activate(self, pre: torch.Tensor) -> torch.Tensor:
        """Pre-activations [..., d_sae] -> latent activations [..., d_sae]."""
        raise NotImplementedError

    def _normalize(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        mode = self.info.normalize_activations
        if mode == "layer_norm":
            mu = x.mean(dim=-1, keepdim=True)
            centered = x - mu
            std = centered.std(dim=-1, keepdim=True)
            return centered / (std + 1e-5), (mu, std)
        if mode == "constant_norm_rescale":
            coeff = (self.d_in**0.5) / x.norm(dim=-1, keepdim=True)
            return x * coeff, (coeff,)
        return x, ()

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        x, _ = self._normalize(x.to(self.W_enc.dtype))
        if self.info.apply_b_dec_to_input:
            x = x - self.b_dec
        return x @ self.W_enc + self.b_enc

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Activations at the hook point [..., d_in] -> latent activations [..., d_sae]."""
        return self.activate(self.pre_activations(x))

    def decode(self, acts: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        """Latent activations -> reconstruction. Input-dependent normalisations need the
        original input ``x`` to undo the scaling."""
        out = acts @ self.W_dec + self.b_dec
        mode = self.info.normalize_activations
        if mode == "none":
            return out
        if x is None:
            raise ValueError(f"decode() needs the input x to undo normalize_activations={mode!r}")
        _, stats = self._normalize(x.to(self.W_enc.dtype))
        if mode == "layer_norm":
            mu, std = stats
            return out * std + mu
        (coeff,) = stats
        return out / coeff


ARCHITECTURES: Registry[type[SparseCoder]] = Registry("SAE architecture")
