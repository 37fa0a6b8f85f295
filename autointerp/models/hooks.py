"""Hook points: where an SAE (or transcoder) reads a transformers causal LM.

A :class:`HookPoint` is one of two kinds; its ``name`` is the canonical spelling.

* A TransformerLens site of decoder block L (``layer=L``, ``path=None``)::

    blocks.L.hook_resid_pre       input of block L
    blocks.L.hook_resid_mid       residual after attention, before the MLP's norm;
    blocks.L.hook_mlp_in          the same tensor (neither exists with a parallel residual)
    blocks.L.hook_resid_post      output of block L
    blocks.L.hook_attn_out        attention output added to the residual (Gemma 2: post-norm)
    blocks.L.hook_mlp_out         MLP output added to the residual (Gemma 2: post-norm)
    blocks.L.ln2.hook_normalized  input of the MLP module (what transcoders read)
    blocks.L.attn.hook_z          per-head outputs, flattened: input of the output projection
    blocks.L.mlp.hook_post        MLP neurons after the activation: input of the down projection
    blocks.L.attn.hook_z:head=H   one head's slice [H * d_head, (H + 1) * d_head) of attn.hook_z
                                  (a SAELens SAE with ``hook_head_index=H``)
    hook_embed                    the token embedding, as TransformerLens gives it: the input
                                  embedding module's output (Gemma's scales itself by
                                  sqrt(d_model), the factor TransformerLens folds into W_E)

  ``layers.L.``, ``model.layers.L.``, ``transformer.h.L.`` and ``gpt_neox.layers.L.`` are
  accepted for ``blocks.L.``. Sites other than resid_pre/resid_post need the model type's
  block layout (:mod:`autointerp.models.layouts`).
* A module path, as EleutherAI sparsify names hookpoints (``site="module"``, ``layer=None``):
  ``layers.6``, ``layers.6.mlp``, ``h.3.attn``, relative to the base model or to the full
  model; a leading ``model.``, ``transformer.`` or ``gpt_neox.`` is dropped. The activation
  is the module's output (its first tensor); ``layers.6.mlp:input`` (``read_input=True``) is
  its input instead, as sparsify transcoders read.

:func:`run_to_hooks` captures several hook points in one forward pass and cuts the pass as
soon as every one has fired; :func:`hook_width` gives the width at a hook from the config
and module shapes, without running the model.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from autointerp.errors import ModelError
from autointerp.models.layouts import (
    base_model,
    decoder_layers,
    hidden_size,
    layout_of,
    module_width,
    registered_model_types,
)

__all__ = ["HookPoint", "decoder_layers", "hook_width", "parse_hook_name", "run_to_hooks"]

Site = Literal[
    "resid_pre",
    "resid_mid",
    "resid_post",
    "mlp_in",
    "attn_out",
    "mlp_out",
    "ln2_normalized",
    "attn_z",
    "mlp_post",
    "embed",
    "module",
]
_TL_SUFFIX: dict[Site, str] = {
    "resid_pre": "hook_resid_pre",
    "resid_mid": "hook_resid_mid",
    "resid_post": "hook_resid_post",
    "mlp_in": "hook_mlp_in",
    "attn_out": "hook_attn_out",
    "mlp_out": "hook_mlp_out",
    "ln2_normalized": "ln2.hook_normalized",
    "attn_z": "attn.hook_z",
    "mlp_post": "mlp.hook_post",
}
_SUFFIX_SITE = {suffix: site for site, suffix in _TL_SUFFIX.items()}
_TL_RE = re.compile(r"^(blocks|layers|model\.layers|transformer\.h|gpt_neox\.layers)\.(\d+)\.(.+)$")
_PATH_RE = re.compile(r"^\w+(\.\w+)*$")
_HEAD_RE = re.compile(r"head=(\d+)")
EMBED = "hook_embed"
_BASE_PREFIXES = ("model.", "transformer.", "gpt_neox.")


@dataclass(frozen=True)
class HookPoint:
    """A place in the model whose activations an SAE reads (see the module docstring)."""

    layer: int | None
    """Decoder block of a TransformerLens site; None for a module path."""
    site: Site
    path: str | None = None
    """Module path (site ``"module"`` only), e.g. ``layers.6.mlp``."""
    read_input: bool = False
    """Module path only: capture the module's input instead of its output."""
    head: int | None = None
    """attn_z only: keep this head's slice (SAELens ``hook_head_index``)."""

    def __post_init__(self) -> None:
        if self.site == "module":
            ok = self.layer is None and bool(self.path)
        elif self.site == "embed":
            ok = self.layer is None and self.path is None and not self.read_input
        else:
            ok = self.layer is not None and self.layer >= 0 and self.path is None
            ok = ok and not self.read_input
        if self.head is not None:
            ok = ok and self.site == "attn_z" and self.head >= 0
        if not ok:
            raise ModelError(f"inconsistent hook point {self!r}")

    @classmethod
    def module(cls, path: str, *, read_input: bool = False) -> HookPoint:
        return cls(None, "module", path, read_input)

    @property
    def name(self) -> str:
        if self.path is not None:
            return self.path + (":input" if self.read_input else "")
        if self.site == "embed":
            return EMBED
        head = f":head={self.head}" if self.head is not None else ""
        return f"blocks.{self.layer}.{_TL_SUFFIX[self.site]}{head}"


def parse_hook_name(name: str) -> HookPoint:
    """The hook point a TransformerLens name or a (sparsify) module path stands for."""
    path, sep, side = name.strip().partition(":")
    supported = (
        f"expected blocks.<L>.<site> with site one of {', '.join(_SUFFIX_SITE)} (attn.hook_z "
        f"also as attn.hook_z:head=<H>), {EMBED}, or a module path such as layers.<L>.mlp "
        "(':input' for its input)"
    )
    parts = path.split(".")
    if path == EMBED and not sep:
        return HookPoint(None, "embed")
    if path.startswith("blocks.") or any(p.startswith("hook_") for p in parts):
        tl = _TL_RE.match(path)
        if tl and not sep and tl.group(3) in _SUFFIX_SITE:
            return HookPoint(int(tl.group(2)), _SUFFIX_SITE[tl.group(3)])
        head = _HEAD_RE.fullmatch(side) if sep else None
        if tl and head and tl.group(3) == _TL_SUFFIX["attn_z"]:
            return HookPoint(int(tl.group(2)), "attn_z", head=int(head.group(1)))
        close = difflib.get_close_matches(tl.group(3), list(_SUFFIX_SITE), n=1) if tl else []
        hint = f"; did you mean {tl.group(1)}.{tl.group(2)}.{close[0]}?" if tl and close else ""
        raise ModelError(f"hook point {name!r} is not supported; {supported}{hint}")
    if not _PATH_RE.match(path) or side not in ("", "input", "output") or (sep and not side):
        raise ModelError(f"hook point {name!r} is not supported; {supported}")
    for prefix in _BASE_PREFIXES:
        if path.startswith(prefix):
            path = path[len(prefix) :]
            break
    return HookPoint.module(path, read_input=side == "input")


def _maybe_layers(model: nn.Module) -> nn.ModuleList | None:
    try:
        return decoder_layers(model)
    except ModelError:
        return None


def _roots(model: nn.Module) -> list[nn.Module]:
    """Where module paths are looked up: the base model first, then the full model."""
    base = base_model(model)
    return [base, model] if base is not model else [model]


def _layer_error(model: nn.Module, hook: HookPoint, layer: int, n_layers: int) -> ModelError:
    return ModelError(
        f"hook point {hook.name!r} needs layer {layer}, but {type(model).__name__} has "
        f"{n_layers} layers (0..{n_layers - 1})"
    )


def _tl_target(model: nn.Module, hook: HookPoint, layer: int) -> tuple[nn.Module, bool]:
    layers = decoder_layers(model)
    if layer >= len(layers):
        raise _layer_error(model, hook, layer, len(layers))
    block = layers[layer]
    if hook.site in ("resid_pre", "resid_post"):
        return block, hook.site == "resid_pre"
    layout = layout_of(model)
    if layout is None:
        raise ModelError(
            f"hook point {hook.name!r}: TransformerLens sites other than resid_pre/resid_post "
            f"are mapped for model types {', '.join(registered_model_types())}, not "
            f"{type(model).__name__}; use a module path such as layers.{layer}.mlp instead"
        )
    config = getattr(model, "config", None)
    if hook.site in ("resid_mid", "mlp_in") and getattr(config, layout.parallel_flag or "", False):
        raise ModelError(
            f"hook point {hook.name!r}: {type(model).__name__} uses a parallel residual "
            "(attention and MLP both read resid_pre), so it has no resid_mid / mlp_in"
        )
    path, read_input = {
        "resid_mid": (layout.ln2, True),
        "mlp_in": (layout.ln2, True),
        "ln2_normalized": (layout.mlp, True),
        "attn_out": (layout.attn_post or layout.attn, False),
        "mlp_out": (layout.mlp_post or layout.mlp, False),
        "attn_z": (layout.attn_proj, True),
        "mlp_post": (layout.mlp_proj, True),
    }[hook.site]
    try:
        return block.get_submodule(path), read_input
    except AttributeError:
        raise ModelError(
            f"hook point {hook.name!r}: block {layer} of {type(model).__name__} has no {path!r}"
        ) from None


def _path_target(model: nn.Module, hook: HookPoint, path: str) -> nn.Module:
    roots = _roots(model)
    for root in roots:
        with suppress(AttributeError):
            return root.get_submodule(path)
    layers = _maybe_layers(model)
    for root in roots:  # an index past the end of the blocks: say how many there are
        module: Any = root
        for part in path.split("."):
            child = getattr(module, part, None) if isinstance(module, nn.Module) else None
            if child is None and module is layers and part.isdigit():
                raise _layer_error(model, hook, int(part), len(layers))
            module = child
    names = [name for root in roots for name, _ in root.named_modules() if name]
    close = difflib.get_close_matches(path, names, n=3)
    hint = f"; nearest: {', '.join(close)}" if close else ""
    raise ModelError(
        f"hook point {hook.name!r}: {type(model).__name__} has no module {path!r} (module "
        f"paths are relative to the model or its base model){hint}"
    )


def _embedding(model: nn.Module, hook: HookPoint) -> nn.Module:
    getter = getattr(model, "get_input_embeddings", None)
    module = getter() if callable(getter) else None
    if not isinstance(module, nn.Module):
        raise ModelError(f"hook point {hook.name!r}: {type(model).__name__} has no input embedding")
    return module


def _target(model: nn.Module, hook: HookPoint) -> tuple[nn.Module, bool]:
    """(module, read_input): the module whose output (or input) is the hook's activation."""
    if hook.path is not None:
        return _path_target(model, hook, hook.path), hook.read_input
    if hook.site == "embed":
        return _embedding(model, hook), False
    assert hook.layer is not None
    return _tl_target(model, hook, hook.layer)


def hook_width(model: nn.Module, hook: HookPoint) -> int:
    """The feature width at ``hook`` (what an SAE's d_in must be), from config and shapes."""
    module, read_input = _target(model, hook)
    if hook.head is not None:
        return _head_dim(model, hook)
    if hook.site in ("attn_z", "mlp_post", "module"):
        return module_width(model, module, read_input, hook.name)
    return hidden_size(model)


def _head_dim(model: nn.Module, hook: HookPoint) -> int:
    """Width of one head of attn.hook_z; checks that the hook's head exists."""
    config: Any = getattr(model, "config", None)
    n_heads = int(getattr(config, "num_attention_heads", 0) or 0)
    if n_heads <= 0:
        raise ModelError(f"hook point {hook.name!r}: the model config names no attention heads")
    if hook.head is not None and hook.head >= n_heads:
        raise ModelError(
            f"hook point {hook.name!r}: head {hook.head} does not exist; "
            f"{type(model).__name__} has {n_heads} heads (0..{n_heads - 1})"
        )
    return int(getattr(config, "head_dim", None) or hidden_size(model) // n_heads)


class _StopForward(Exception):
    """Raised from a hook once every requested hook point has fired."""


def _first_tensor(value: Any, hook: HookPoint) -> torch.Tensor:
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, (tuple, list)):
        value = next((v for v in value if isinstance(v, torch.Tensor)), value)
    if isinstance(value, torch.Tensor):
        return value
    raise ModelError(f"hook point {hook.name!r}: the module gave {type(value).__name__}")


def run_to_hooks(
    model: nn.Module, input_ids: torch.Tensor, hooks: Sequence[HookPoint]
) -> dict[HookPoint, torch.Tensor]:
    """One forward pass that captures every hook point and is cut as soon as all have fired.

    It runs the base model (no LM head) unless a module path lies outside it. A module called
    more than once before the cut keeps its last activation."""
    targets = {hook: _target(model, hook) for hook in dict.fromkeys(hooks)}
    if not targets:
        return {}
    store: dict[HookPoint, torch.Tensor] = {}
    pending = set(targets)
    head_dims = {h: _head_dim(model, h) for h in targets if h.head is not None}

    def keep(hook: HookPoint, value: Any) -> None:
        acts = _first_tensor(value, hook)
        if hook.head is not None:  # [..., n_heads * d_head] -> this head's [..., d_head]
            d_head = head_dims[hook]
            acts = acts[..., hook.head * d_head : (hook.head + 1) * d_head]
        store[hook] = acts
        pending.discard(hook)
        if not pending:
            raise _StopForward

    handles = []
    for hook, (module, read_input) in targets.items():
        if read_input:

            def pre(_m: nn.Module, args: Any, kwargs: Any, h: HookPoint = hook) -> None:
                first = args[0] if args else kwargs.get("hidden_states")
                keep(h, first if first is not None else list(kwargs.values()))

            handles.append(module.register_forward_pre_hook(pre, with_kwargs=True))
        else:

            def post(_m: nn.Module, _a: Any, out: Any, h: HookPoint = hook) -> None:
                keep(h, out)

            handles.append(module.register_forward_hook(post))
    base = base_model(model)
    inside = {id(m) for m in base.modules()}
    runner = base if all(id(m) in inside for m, _ in targets.values()) else model
    try:
        with suppress(_StopForward):
            runner(input_ids=input_ids, use_cache=False)
    finally:
        for handle in handles:
            handle.remove()
    if pending:
        missing = sorted(h.name for h in pending)
        raise ModelError(f"hook point(s) {missing} were never reached in the forward pass")
    return store
