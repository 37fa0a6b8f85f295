"""The inside of a transformers decoder block, per model family: which submodule sits where
the TransformerLens sites are (a registry keyed by ``config.model_type``), where the blocks
are, and the width of a module's input or output read off its shapes."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from autointerp.errors import ModelError

__all__ = [
    "BlockLayout",
    "base_model",
    "decoder_layers",
    "hidden_size",
    "layout_of",
    "module_width",
    "register_layout",
    "registered_model_types",
]


@dataclass(frozen=True)
class BlockLayout:
    """Where the TransformerLens sites sit in one decoder block (paths relative to it)."""

    attn: str
    """The attention module: its output is attn_out unless ``attn_post`` is set."""
    mlp: str
    """The MLP module: its input is ln2.hook_normalized, its output mlp_out unless
    ``mlp_post`` is set."""
    ln2: str
    """The norm in front of the MLP: its input is resid_mid."""
    attn_proj: str
    """The attention's output projection: its input is attn.hook_z."""
    mlp_proj: str
    """The MLP's down projection: its input is mlp.hook_post."""
    attn_post: str | None = None
    """A norm after attention (Gemma 2): its output is attn_out."""
    mlp_post: str | None = None
    """A norm after the MLP (Gemma 2): its output is mlp_out."""
    parallel_flag: str | None = None
    """A config flag that, when true, makes attention and MLP both read resid_pre."""


_LAYOUTS: dict[str, BlockLayout] = {}


def register_layout(model_types: tuple[str, ...], layout: BlockLayout) -> None:
    """Map the blocks of these ``config.model_type`` values; a type is registered once."""
    for model_type in model_types:
        if model_type in _LAYOUTS:
            raise ValueError(f"a block layout for {model_type!r} is already registered")
        _LAYOUTS[model_type] = layout


def layout_of(model: nn.Module) -> BlockLayout | None:
    """The block layout of ``model``'s model type, or None when it has none registered."""
    config: Any = getattr(model, "config", None)
    return _LAYOUTS.get(str(getattr(config, "model_type", "")))


def registered_model_types() -> list[str]:
    return sorted(_LAYOUTS)


_LLAMA = BlockLayout(
    "self_attn", "mlp", "post_attention_layernorm", "self_attn.o_proj", "mlp.down_proj"
)
register_layout(("llama", "mistral", "qwen2", "qwen3", "gemma"), _LLAMA)
register_layout(
    ("gemma2", "gemma3_text"),
    BlockLayout(
        "self_attn",
        "mlp",
        "pre_feedforward_layernorm",
        "self_attn.o_proj",
        "mlp.down_proj",
        attn_post="post_attention_layernorm",
        mlp_post="post_feedforward_layernorm",
    ),
)
register_layout(("gpt2",), BlockLayout("attn", "mlp", "ln_2", "attn.c_proj", "mlp.c_proj"))
register_layout(
    ("gpt_neox",),
    BlockLayout(
        "attention",
        "mlp",
        "post_attention_layernorm",
        "attention.dense",
        "mlp.dense_4h_to_h",
        parallel_flag="use_parallel_residual",
    ),
)


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The list of transformer blocks of a transformers causal LM (or of its base model)."""
    for path in ("model.layers", "transformer.h", "gpt_neox.layers", "model.decoder.layers"):
        for candidate in (path, path.partition(".")[2]):
            with suppress(AttributeError):
                found = model.get_submodule(candidate)
                if isinstance(found, nn.ModuleList):
                    return found
    raise ModelError(f"cannot find the transformer blocks of {type(model).__name__}")


def base_model(model: nn.Module) -> nn.Module:
    """The model without its head (``model`` itself when it has no ``base_model``)."""
    base = getattr(model, "base_model", model)
    return base if isinstance(base, nn.Module) else model


def hidden_size(model: nn.Module) -> int:
    config: Any = getattr(model, "config", None)
    return int(config.hidden_size)


def module_width(model: nn.Module, module: nn.Module, read_input: bool, name: str) -> int:
    """Width of ``module``'s input (or output) in ``model``, from its shapes; ``name`` is the
    hook point, for the error message."""
    with suppress(ModelError):
        if any(module is layer for layer in decoder_layers(model)):
            return hidden_size(model)
    if module is base_model(model) and not read_input:
        return hidden_size(model)
    if read_input and any(isinstance(m, nn.Embedding) for m in module.modules()):
        raise ModelError(f"hook point {name!r} reads token ids, not activations")
    if isinstance(module, nn.Embedding):
        return module.embedding_dim
    if (width := _projection_width(module, read_input)) is not None:
        return width
    weight = getattr(module, "weight", None)
    if isinstance(weight, torch.Tensor) and weight.dim() == 1:  # a norm
        return weight.shape[0]
    # a container: its first projection reads the input, its last gives the output
    widths = [_projection_width(m, read_input) for m in module.modules()]
    known = [w for w in widths if w is not None]
    if known:
        return known[0] if read_input else known[-1]
    side = "input" if read_input else "output"
    raise ModelError(f"cannot tell the {side} width of {type(module).__name__} at {name!r}")


def _projection_width(module: nn.Module, read_input: bool) -> int | None:
    if isinstance(module, nn.Linear):
        return module.in_features if read_input else module.out_features
    nx, nf = getattr(module, "nx", None), getattr(module, "nf", None)
    if isinstance(nx, int) and isinstance(nf, int):  # GPT-2's Conv1D: weight is [nx, nf]
        return nx if read_input else nf
    return None
