"""The inference-only sparse coder every checkpoint format loads into.

``encode(x) = activate(pre(x))`` with ``pre(x) = (normalize(x) - b_dec * apply_b_dec_to_input)
@ W_enc + b_enc``, and ``decode(a, x) = denormalize(a @ W_dec + b_dec) (+ x @ W_skip.T)``.
What tells architectures apart is ``activate`` (and for a few, ``pre_activations``): one small
subclass per architecture, registered by name in ``ARCHITECTURES``; adding the next variant is
one file in ``autointerp/saes/architectures/``.

Transcoders read one hook point (``hook_name``) and predict another (``hook_name_out``); their
decoder width is ``d_out``. Signed architectures (AbsTopK) fire in both directions: the
pipeline treats each direction as its own *unit* (``n_units = 2 * d_sae``, units ``d_sae + i``
are latent ``i`` firing negative), so sampling, explaining and scoring work unchanged.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from autointerp.errors import CheckpointError
from autointerp.registry import Registry

__all__ = ["ARCHITECTURES", "NORMALIZATIONS", "SaeInfo", "SparseCoder", "check_tensor"]

NORMALIZATIONS = (
    "none",
    "layer_norm",
    "constant_norm_rescale",
    # SAELens applies nothing at inference for these two (the factor or whitening is folded
    # into the weights when known), so neither do we; `inspect` says so.
    "expected_average_only_in",
    "covariance_whitening",
)


def check_tensor(
    where: str | Path, name: str, tensor: torch.Tensor, shape: tuple[int, ...], dims: str
) -> None:
    """CheckpointError naming ``where`` and ``name`` unless ``tensor`` has ``shape`` (``dims``
    explains where the expected sizes come from), a float dtype and only finite values."""
    if tuple(tensor.shape) != shape:
        raise CheckpointError(
            f"{where}: tensor {name!r} has shape {tuple(tensor.shape)}, expected {shape} ({dims})"
        )
    if not tensor.is_floating_point():
        raise CheckpointError(
            f"{where}: tensor {name!r} has dtype {tensor.dtype}, expected a float"
        )
    if not torch.isfinite(tensor).all():
        raise CheckpointError(f"{where}: tensor {name!r} contains NaN or Inf values")


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
    d_out: int | None = None
    """Decoder width when it differs from d_in (transcoders); None means d_in."""
    hook_name_out: str | None = None
    """Where a transcoder's output goes (None for SAEs, which reconstruct their input; ''
    for a transcoder whose checkpoint does not say: steering then asks for ``hook_out``)."""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def transcoder(self) -> bool:
        return self.hook_name_out is not None

    @property
    def identity(self) -> str:
        """Hash of everything loaded about the checkpoint except where it lies. ``sha256``
        covers the weights file only, while k, the hook point, normalisation and the like
        come from its config: two checkpoints with the same weights and another k encode
        differently, so caches and run ids key on this."""
        fields = dataclasses.asdict(self)
        fields.pop("path")
        text = json.dumps(fields, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


class SparseCoder(nn.Module):
    """Encoder/decoder weights plus the architecture's activation function."""

    architecture: ClassVar[str] = ""
    signed: ClassVar[bool] = False
    """True when latents can fire negative (explained as two units, see the module doc)."""
    params: ClassVar[dict[str, tuple[str, ...]]] = {
        "W_enc": ("d_in", "d_sae"),
        "b_enc": ("d_sae",),
        "W_dec": ("d_sae", "d_out"),
        "b_dec": ("d_out",),
    }
    """Required tensors and their shapes, in terms of d_in, d_sae and d_out."""
    optional_params: ClassVar[dict[str, tuple[str, ...]]] = {"W_skip": ("d_out", "d_in")}

    def __init__(self, info: SaeInfo, weights: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self.info = info
        dims = {"d_in": info.d_in, "d_sae": info.d_sae, "d_out": self.d_out}
        known = {**self.params, **self.optional_params}
        for name, symbolic in known.items():
            if name not in weights:
                if name in self.params:
                    raise CheckpointError(
                        f"{info.path}: weights have no tensor {name!r} (a {self.architecture} "
                        f"checkpoint needs {', '.join(self.params)})"
                    )
                continue
            self._check_and_store(name, weights[name], tuple(dims[d] for d in symbolic), symbolic)
        self.has_skip = "W_skip" in weights
        if info.normalize_activations not in NORMALIZATIONS:
            raise CheckpointError(
                f"{info.path}: normalize_activations={info.normalize_activations!r} is not "
                f"supported; expected one of {', '.join(NORMALIZATIONS)}"
            )
        if info.apply_b_dec_to_input and self.d_out != info.d_in:
            raise CheckpointError(
                f"{info.path}: apply_b_dec_to_input needs d_out == d_in, got d_out={self.d_out}"
            )

    def _check_and_store(
        self, name: str, tensor: torch.Tensor, shape: tuple[int, ...], symbolic: tuple[str, ...]
    ) -> None:
        dims = ", ".join(f"{s}={v}" for s, v in zip(symbolic, shape, strict=True))
        check_tensor(self.info.path, name, tensor, shape, dims)
        self.register_buffer(name, tensor.detach().to(torch.float32).contiguous())

    # Buffers, typed for mypy (present when listed in ``params``).
    W_enc: torch.Tensor
    b_enc: torch.Tensor
    W_dec: torch.Tensor
    b_dec: torch.Tensor
    W_skip: torch.Tensor

    @property
    def d_in(self) -> int:
        return self.info.d_in

    @property
    def d_sae(self) -> int:
        return self.info.d_sae

    @property
    def d_out(self) -> int:
        return self.info.d_out or self.info.d_in

    @property
    def n_units(self) -> int:
        """Explainable units: d_sae, or 2 * d_sae for signed latents (positive, negative)."""
        return self.d_sae * (2 if self.signed else 1)

    def unit(self, index: int) -> tuple[int, str]:
        """Unit index -> (latent, direction '+' or '-')."""
        return (index - self.d_sae, "-") if index >= self.d_sae else (index, "+")

    # ------------------------------------------------------------------ encode / decode
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

    def sae_input(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised input with the decoder bias removed (when the checkpoint asks)."""
        x, _ = self._normalize(x.to(torch.float32))
        if self.info.apply_b_dec_to_input:
            x = x - self.b_dec
        return x

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        return self.sae_input(x) @ self.W_enc + self.b_enc

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Activations at the hook point [..., d_in] -> latent activations [..., d_sae]."""
        return self.activate(self.pre_activations(x))

    def encode_units(self, x: torch.Tensor) -> torch.Tensor:
        """[..., n_units], every value >= 0: signed latents split into (+, -) halves."""
        acts = self.encode(x)
        if not self.signed:
            return acts
        return torch.cat([acts.clamp(min=0), (-acts).clamp(min=0)], dim=-1)

    def decode(self, acts: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        """Latent activations -> reconstruction (for transcoders: the predicted output).
        Input-dependent normalisations and skip connections need the input ``x``."""
        out = self.denormalize(acts @ self.W_dec + self.b_dec, x)
        if self.has_skip:
            if x is None:
                raise ValueError("decode() needs the input x for the skip connection")
            out = out + x.to(torch.float32) @ self.W_skip.T
        return out

    def denormalize(self, out: torch.Tensor, x: torch.Tensor | None) -> torch.Tensor:
        """Undo an input-dependent normalisation on a reconstruction. Transcoders predict a
        different hook's activation, so (as in SAELens) theirs is left as is."""
        mode = self.info.normalize_activations
        if mode not in ("layer_norm", "constant_norm_rescale") or self.info.transcoder:
            return out
        if x is None:
            raise ValueError(f"decode() needs the input x to undo normalize_activations={mode!r}")
        _, stats = self._normalize(x.to(torch.float32))
        if mode == "layer_norm":
            mu, std = stats
            return out * std + mu
        return out / stats[0]

    def decoder_directions(self) -> torch.Tensor:
        """[d_sae, d_out]: what each latent writes (used by steering and comparisons)."""
        return self.W_dec


ARCHITECTURES: Registry[type[SparseCoder]] = Registry("SAE architecture")
