"""Baselines a researcher runs beside any SAE, through the same pipeline:

* ``neurons:HOOK[:k=K]`` -- the model's own units at HOOK (``blocks.6.mlp.hook_post`` for MLP
  neurons), optionally top-k sparsified per token;
* ``random:SPEC[:seed=N]`` -- an SAE of the same architecture and shape as SPEC whose every
  tensor is redrawn from a Gaussian with that tensor's own mean and std (thresholds keep their
  sign), so activation scales stay comparable while the learned directions are gone.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

import torch

from autointerp.errors import CheckpointError, ConfigError
from autointerp.saes.base import ARCHITECTURES, SaeInfo, SparseCoder

__all__ = ["NEURONS", "RANDOM", "neuron_basis", "parse_random", "randomize"]

NEURONS, RANDOM = "neurons:", "random:"


def _split(body: str) -> tuple[str, list[str]]:
    """``inner:key=value:...`` -> (inner, options): trailing ``:``-parts holding ``=``."""
    parts = body.split(":")
    n = len(parts)
    while n > 1 and "=" in parts[n - 1]:
        n -= 1
    return ":".join(parts[:n]), parts[n:]


def _options(parts: list[str], spec: str, allowed: dict[str, int]) -> dict[str, int]:
    """``key=N`` options, each in ``allowed`` with N >= its minimum."""
    out: dict[str, int] = {}
    for part in parts:
        key, sep, value = part.partition("=")
        if (
            not sep
            or key not in allowed
            or not (value.isascii() and value.isdigit())
            or int(value) < allowed[key]
        ):
            expected = " or ".join(f"{a}=<int >= {m}>" for a, m in sorted(allowed.items()))
            raise ConfigError(
                f"checkpoint {spec!r}: option {part!r} is not valid; expected {expected}"
            )
        out[key] = int(value)
    return out


def parse_random(spec: str) -> tuple[str, int]:
    """``random:SPEC[:seed=N]`` -> (SPEC, N); the seed defaults to 0."""
    inner, options = _split(spec.removeprefix(RANDOM))
    if not inner:
        raise ConfigError(f"checkpoint {spec!r}: expected random:<checkpoint>[:seed=N]")
    return inner, _options(options, spec, {"seed": 0}).get("seed", 0)


def _digest(identity: str) -> str:
    """A 16-hex-digit checkpoint hash for a baseline (what provenance columns key on)."""
    return hashlib.sha256(identity.encode()).hexdigest()[:16]


def randomize(sae: SparseCoder, seed: int, *, spec: str) -> SparseCoder:
    gen = torch.Generator().manual_seed(seed)
    weights: dict[str, torch.Tensor] = {}
    for name, tensor in sae.named_buffers():
        std = float(tensor.std()) if tensor.numel() > 1 else 0.0
        new = torch.randn(tensor.shape, generator=gen) * (std or 1e-3) + float(tensor.mean())
        weights[name] = new.abs() if name == "threshold" else new
    info = replace(
        sae.info,
        path=spec,
        format=f"random({sae.info.format})",
        sha256=_digest(f"{RANDOM}{sae.info.sha256}:seed={seed}"),
        extra={**sae.info.extra, "random_seed": seed, "random_of": sae.info.path},
    )
    return type(sae)(info, weights)


def neuron_basis(spec: str, subject: Any) -> SparseCoder:
    """``neurons:HOOK[:k=K]`` on the loaded subject model (its width sets d_in)."""
    from autointerp.models.hooks import hook_width, parse_hook_name

    hook_name, options = _split(spec.removeprefix(NEURONS))
    if not hook_name:
        raise ConfigError(f"checkpoint {spec!r}: expected neurons:<hook point>[:k=K]")
    k = _options(options, spec, {"k": 1}).get("k")
    if subject is None:
        raise CheckpointError(f"{spec}: a neuron baseline needs the subject model (--model)")
    hook = parse_hook_name(hook_name)
    width, hook_name = hook_width(subject.model, hook), hook.name
    info = SaeInfo(
        path=spec,
        format="baseline",
        architecture="neurons",
        d_in=width,
        d_sae=width,
        hook_name=hook_name,
        model_name=subject.name,
        dtype="float32",
        sha256=_digest(f"{NEURONS}{subject.name}:{hook_name}:k={k}"),
        apply_b_dec_to_input=False,
        k=k,
    )
    return ARCHITECTURES.get("neurons")(info, {})
