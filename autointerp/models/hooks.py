"""Hook points: map TransformerLens-style names (``blocks.6.hook_resid_post``) onto the
modules of a transformers model, capture activations there, and stop the forward pass
right after the deepest one needed."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from autointerp.errors import ModelError

__all__ = ["HookPoint", "capture", "decoder_layers", "parse_hook_name", "run_to_hooks"]

Site = Literal["resid_pre", "resid_post", "mlp_out", "attn_out"]

_HOOK_RE = re.compile(
    r"^(?:blocks|layers|model\.layers|transformer\.h|gpt_neox\.layers)\.(\d+)"
    r"\.(hook_resid_pre|hook_resid_post|hook_mlp_out|hook_attn_out)$"
)
_SITES: dict[str, Site] = {
    "hook_resid_pre": "resid_pre",
    "hook_resid_post": "resid_post",
    "hook_mlp_out": "mlp_out",
    "hook_attn_out": "attn_out",
}


@dataclass(frozen=True)
class HookPoint:
    """A place in the model whose activations an SAE reads."""

    layer: int
    site: Site

    @property
    def name(self) -> str:
        return f"blocks.{self.layer}.hook_{self.site}"

    @property
    def depth(self) -> tuple[int, int]:
        """Order in the forward pass (resid_pre < attn_out < mlp_out = resid_post)."""
        order = {"resid_pre": 0, "attn_out": 1, "mlp_out": 2, "resid_post": 3}
        return (self.layer, order[self.site])


def parse_hook_name(name: str) -> HookPoint:
    match = _HOOK_RE.match(name.strip())
    if not match:
        raise ModelError(
            f"hook point {name!r} is not supported; expected blocks.<L>.hook_resid_pre, "
            "hook_resid_post, hook_mlp_out or hook_attn_out"
        )
    return HookPoint(layer=int(match.group(1)), site=_SITES[match.group(2)])


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The list of transformer blocks of a transformers causal LM."""
    for path in ("model.layers", "transformer.h", "gpt_neox.layers", "model.decoder.layers"):
        obj: Any = model
        for part in path.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                break
        if isinstance(obj, nn.ModuleList):
            return obj
    raise ModelError(f"cannot find the transformer blocks of {type(model).__name__}")


def _module_for(model: nn.Module, hook: HookPoint) -> tuple[nn.Module, bool]:
    """(module, read_input): the module whose output (or input) is the hook's activation."""
    layers = decoder_layers(model)
    if not 0 <= hook.layer < len(layers):
        raise ModelError(
            f"hook point {hook.name!r} needs layer {hook.layer}, but the model has "
            f"{len(layers)} layers (0..{len(layers) - 1})"
        )
    block = layers[hook.layer]
    if hook.site == "resid_pre":
        return block, True
    if hook.site == "resid_post":
        return block, False
    attr = {"mlp_out": ("mlp",), "attn_out": ("self_attn", "attn", "attention")}[hook.site]
    for name in attr:
        if hasattr(block, name):
            return getattr(block, name), False
    raise ModelError(f"layer {hook.layer} of {type(model).__name__} has no {hook.site} module")


class _StopForward(Exception):
    pass


def _first_tensor(value: Any) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)) and value and isinstance(value[0], torch.Tensor):
        return value[0]
    raise ModelError(f"hooked module returned {type(value).__name__}, not a tensor")


@contextmanager
def capture(
    model: nn.Module, hooks: Sequence[HookPoint], *, stop: bool = True
) -> Iterator[dict[HookPoint, torch.Tensor]]:
    """Within the block, each forward pass stores the hooks' activations in the yielded
    dict; with ``stop``, the pass is cut right after the deepest hook (catch it with
    :func:`run_to_hooks`)."""
    store: dict[HookPoint, torch.Tensor] = {}
    deepest = max(hooks, key=lambda h: h.depth)
    handles = []
    for hook in hooks:
        module, read_input = _module_for(model, hook)
        halt = stop and hook == deepest

        if read_input:

            def pre(
                _m: nn.Module, args: Any, kwargs: Any, h: HookPoint = hook, s: bool = halt
            ) -> None:
                store[h] = _first_tensor(args if args else kwargs.get("hidden_states"))
                if s:
                    raise _StopForward

            handles.append(module.register_forward_pre_hook(pre, with_kwargs=True))
        else:

            def post(_m: nn.Module, _a: Any, out: Any, h: HookPoint = hook, s: bool = halt) -> None:
                store[h] = _first_tensor(out)
                if s:
                    raise _StopForward

            handles.append(module.register_forward_hook(post))
    try:
        yield store
    finally:
        for handle in handles:
            handle.remove()


def run_to_hooks(
    model: nn.Module, input_ids: torch.Tensor, hooks: Sequence[HookPoint]
) -> dict[HookPoint, torch.Tensor]:
    """One forward pass of the base model (no LM head), cut after the deepest hook."""
    base = getattr(model, "base_model", model)
    with capture(model, hooks) as store, suppress(_StopForward):
        base(input_ids=input_ids, use_cache=False)
    missing = [h.name for h in hooks if h not in store]
    if missing:
        raise ModelError(f"hook point(s) {missing} were never reached in the forward pass")
    return dict(store)
