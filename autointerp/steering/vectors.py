"""The steering vector of a unit and the hooks that add vectors to the subject model's
activations (see :mod:`autointerp.steering`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from autointerp.errors import CheckpointError, ConfigError, ModelError
from autointerp.models.hooks import HookPoint, _target, parse_hook_name
from autointerp.models.loader import SubjectModel
from autointerp.saes.base import SparseCoder

__all__ = ["add_vectors", "steer", "steering_hook", "steering_vector"]


def steering_hook(sae: SparseCoder) -> HookPoint:
    """Where the unit's decoder writes: the SAE's hook point, or a transcoder's output one.
    Refused for a transcoder whose checkpoint names no output hook point, and for an SAE on
    one attention head (its decoder writes one head's slice of attn.hook_z)."""
    info = sae.info
    if info.transcoder and not info.hook_name_out:
        raise CheckpointError(
            f"{info.path}: steering (the intervention scorer, output explanations) needs the "
            "hook point this transcoder writes, and its checkpoint names none (no "
            "hook_name_out); give it with --hook-out HOOK or --set hook_out=HOOK (e.g. "
            "blocks.15.hook_mlp_out or layers.15.mlp)"
        )
    hook = parse_hook_name(info.hook_name_out or info.hook_name)
    if hook.head is not None:
        raise ConfigError(
            f"{info.path}: steering an SAE on one attention head ({hook.name}) is not supported"
        )
    return hook


def steering_vector(sae: SparseCoder, unit: int) -> torch.Tensor:
    """[d_out] unit-norm decoder direction of ``unit`` (negated for a signed SAE's negative
    unit); all zeros when the decoder row is zero."""
    if not 0 <= unit < sae.n_units:
        raise ConfigError(f"unit {unit} is out of range: the SAE has {sae.n_units} units")
    latent, sign = sae.unit(unit)
    row = sae.decoder_directions()[latent].detach().float()
    norm = row.norm()
    if norm == 0:
        return torch.zeros_like(row)
    out: torch.Tensor = row / norm
    return -out if sign == "-" else out


def _write_target(model: nn.Module, hook: HookPoint) -> tuple[nn.Module, bool]:
    """(module, on_input): where adding a vector changes the hook point's activation."""
    if hook.site in ("resid_mid", "mlp_in") and hook.layer is not None:
        module, _ = _target(model, HookPoint(hook.layer, "attn_out"))
        return module, False
    return _target(model, hook)


def _shifted(value: Any, delta: Any) -> Any:
    """``value`` (a tensor, or a tuple/list whose first element is one) plus ``delta``."""
    if isinstance(value, torch.Tensor):
        return value + delta(value)
    if isinstance(value, (tuple, list)) and value and isinstance(value[0], torch.Tensor):
        return type(value)([value[0] + delta(value[0]), *value[1:]])
    raise ModelError(f"cannot steer a module that gives {type(value).__name__}")


@contextmanager
def add_vectors(
    subject: SubjectModel, hook: HookPoint, vectors: torch.Tensor, *, start: int = 0
) -> Iterator[None]:
    """Within the block, add ``vectors`` ([d] for every row, or [batch, d] one per row) to
    the activation at ``hook`` at every position from ``start`` on. Positions are counted
    along the (padded) input over successive calls since the block was entered, so cached
    generation steps continue the count. The hook is removed on leaving the block."""
    module, on_input = _write_target(subject.model, hook)
    seen = [0]

    def delta(hidden: torch.Tensor) -> torch.Tensor:
        vec = vectors.to(hidden.device, hidden.dtype)
        vec = vec[:, None, :] if vec.dim() == 2 else vec
        n = hidden.shape[-2]
        positions = torch.arange(seen[0], seen[0] + n, device=hidden.device)
        seen[0] += n
        return vec * (positions >= start).to(hidden.dtype)[:, None]

    if on_input:

        def pre(_m: nn.Module, args: Any, kwargs: Any) -> Any:
            if args:
                return (_shifted(args[0], delta), *args[1:]), kwargs
            return args, {**kwargs, "hidden_states": _shifted(kwargs["hidden_states"], delta)}

        handle = module.register_forward_pre_hook(pre, with_kwargs=True)
    else:

        def post(_m: nn.Module, _args: Any, out: Any) -> Any:
            return _shifted(out, delta)

        handle = module.register_forward_hook(post)
    try:
        yield
    finally:
        handle.remove()


@contextmanager
def steer(
    subject: SubjectModel, sae: SparseCoder, unit: int, alpha: float, *, start: int = 0
) -> Iterator[None]:
    """Steer ``unit`` with strength ``alpha`` inside the block (see the module docstring)."""
    vector = alpha * steering_vector(sae, unit)
    with add_vectors(subject, steering_hook(sae), vector, start=start):
        yield
