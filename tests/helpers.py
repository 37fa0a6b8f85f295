"""Builders used by several tests."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file


def write_saelens(
    path: Path,
    *,
    d_in: int,
    d_sae: int,
    architecture: str = "topk",
    k: int | None = 8,
    hook_name: str = "blocks.2.hook_resid_post",
    model_name: str | None = "tiny",
    seed: int = 0,
    weights: dict[str, torch.Tensor] | None = None,
    cfg_extra: dict[str, Any] | None = None,
) -> Path:
    """A SAELens v6-layout checkpoint with random weights (or the given ones)."""
    gen = torch.Generator().manual_seed(seed)
    if weights is None:
        weights = {
            "W_enc": torch.randn(d_in, d_sae, generator=gen) / d_in**0.5,
            "b_enc": torch.randn(d_sae, generator=gen) * 0.1,
            "W_dec": torch.randn(d_sae, d_in, generator=gen) / d_sae**0.5,
            "b_dec": torch.randn(d_in, generator=gen) * 0.1,
        }
        if architecture == "jumprelu":
            weights["threshold"] = torch.rand(d_sae, generator=gen) * 0.2
    path.mkdir(parents=True, exist_ok=True)
    save_file(
        {k_: v.contiguous() for k_, v in weights.items()}, str(path / "sae_weights.safetensors")
    )
    cfg: dict[str, Any] = {
        "architecture": architecture,
        "d_in": d_in,
        "d_sae": d_sae,
        "dtype": "float32",
        "device": "cpu",
        "apply_b_dec_to_input": True,
        "normalize_activations": "none",
        "metadata": {"hook_name": hook_name, "model_name": model_name},
    }
    if k is not None:
        cfg["k"] = k
    cfg.update(cfg_extra or {})
    (path / "cfg.json").write_text(json.dumps(cfg))
    return path


def build_tiny_llama(path: Path, tokenizer_dir: Path) -> Path:
    """A small random LlamaForCausalLM sharing SmolLM2's tokenizer and chat template."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=49152,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=2,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    model.save_pretrained(path)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        src = tokenizer_dir / name
        if src.exists():
            shutil.copy(src, path / name)
    return path
