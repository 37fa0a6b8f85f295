"""The subject model's residual stream at one hook point over the corpus windows."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from autointerp.corpus import TokenWindows, load_windows
from autointerp.models.hooks import parse_hook_name, run_to_hooks
from autointerp.models.loader import SubjectModel, load_subject_model, resolve_device, resolve_dtype

__all__ = ["MODEL", "load_model", "residuals", "token_texts", "windows"]

MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
"""The default subject model (the pipeline's LLMConfig().model and the demo SAE's)."""


def load_model(name: str = MODEL) -> SubjectModel:
    """The model as the pipeline's cache runs it (``cache.dtype=auto``: bf16 with AMX)."""
    device = resolve_device("cpu")
    return load_subject_model(name, device="cpu", dtype=resolve_dtype("auto", device))


def windows(subject: SubjectModel, n_tokens: int, ctx_len: int = 32) -> TokenWindows:
    """The pipeline's windows of the default corpus (``corpus.path = stdlib``)."""
    return load_windows(
        "stdlib",
        subject.tokenizer,
        n_tokens=n_tokens,
        ctx_len=ctx_len,
        max_positions=subject.max_positions,
    )


def token_texts(tokenizer: Any) -> list[str]:
    """Every vocabulary id decoded on its own (leading spaces kept)."""
    return [tokenizer.decode([i]) for i in range(len(tokenizer))]


@torch.inference_mode()
def residuals(
    subject: SubjectModel, tokens: np.ndarray, hook_name: str, batch_size: int = 32
) -> np.ndarray:
    """float32 [n_windows, ctx_len, d_model]: the activation at ``hook_name``."""
    hook = parse_hook_name(hook_name)
    out = []
    for start in range(0, len(tokens), batch_size):
        chunk = torch.as_tensor(tokens[start : start + batch_size], dtype=torch.long)
        acts = run_to_hooks(subject.model, chunk.to(subject.device), [hook])[hook]
        out.append(acts.float().cpu().numpy())
    return np.concatenate(out)
