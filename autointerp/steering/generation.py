"""Continuations with and without steering, and the logit lens of a unit's direction."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from autointerp.models.hooks import HookPoint
from autointerp.models.layouts import base_model
from autointerp.models.loader import SubjectModel
from autointerp.saes.base import SparseCoder
from autointerp.steering.distributions import encode_prompts
from autointerp.steering.vectors import add_vectors, steering_hook, steering_vector

__all__ = ["generate", "generate_pair", "logit_lens"]


@torch.no_grad()
def generate(
    subject: SubjectModel,
    ids: Sequence[Sequence[int]],
    n_tokens: int,
    *,
    hook: HookPoint | None = None,
    vectors: torch.Tensor | None = None,
    seed: int | None = None,
    temperature: float = 1.0,
    batch_size: int = 32,
) -> list[str]:
    """Continuations of ``n_tokens`` tokens (cut at EOS) of each token sequence, greedy
    unless ``seed`` is given (then sampled at ``temperature`` from that seed). With
    ``vectors`` ([len(ids), d]) row i is steered by ``vectors[i]`` at ``hook``."""
    model, tok, dev = subject.model, subject.tokenizer, subject.device
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    stop = {tok.eos_token_id, tok.convert_tokens_to_ids("<|im_end|>")} - {None}
    out: list[str] = []
    for begin in range(0, len(ids), batch_size):
        chunk = ids[begin : begin + batch_size]
        width = max(len(s) for s in chunk)
        batch = torch.full((len(chunk), width), pad, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, seq in enumerate(chunk):  # left padding
            batch[row, width - len(seq) :] = torch.tensor(list(seq), dtype=torch.long)
            mask[row, width - len(seq) :] = 1
        kwargs: dict[str, Any] = {"do_sample": seed is not None, "top_p": None, "top_k": None}
        kwargs["temperature"] = temperature if seed is not None else None
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed + begin)
            if hook is not None and vectors is not None:
                ctx = add_vectors(subject, hook, vectors[begin : begin + len(chunk)])
            else:
                ctx = _nothing()
            with ctx:
                result = model.generate(
                    input_ids=batch.to(dev),
                    attention_mask=mask.to(dev),
                    max_new_tokens=n_tokens,
                    min_new_tokens=n_tokens,
                    pad_token_id=pad,
                    **kwargs,
                )
        for row in range(len(chunk)):
            new = result[row, width:].tolist()
            n_new = next((j for j, t in enumerate(new) if t in stop), len(new))
            out.append(tok.decode(new[:n_new], skip_special_tokens=True))
    return out


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def generate_pair(
    subject: SubjectModel,
    sae: SparseCoder,
    unit: int,
    alpha: float,
    prompts: Sequence[str],
    n_tokens: int,
    *,
    seed: int | None = None,
) -> list[tuple[str, str]]:
    """(clean, steered) continuations of each prompt, from one batch of 2 x len(prompts)
    rows: the same seed, only the steered rows get the vector."""
    ids = encode_prompts(subject, prompts)
    vec = alpha * steering_vector(sae, unit)
    vectors = torch.cat([torch.zeros(len(ids), vec.shape[0]), vec.expand(len(ids), -1)])
    texts = generate(
        subject, [*ids, *ids], n_tokens, hook=steering_hook(sae), vectors=vectors, seed=seed
    )
    return list(zip(texts[: len(ids)], texts[len(ids) :], strict=True))


def _final_norm(model: nn.Module) -> nn.Module | None:
    base = base_model(model)
    for name in ("norm", "ln_f", "final_layer_norm", "final_layernorm"):
        module = getattr(base, name, None)
        if isinstance(module, nn.Module):
            return module
    return None


@torch.no_grad()
def logit_lens(
    subject: SubjectModel, sae: SparseCoder, unit: int, k: int
) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """(promoted, suppressed): the ``k`` tokens whose logits ``unit``'s direction raises
    most and lowers most, as (token text, logit change), through the final norm and the
    unembedding: ``W_U @ (norm(d) - norm(0))``. The final norm is applied, but as a map
    around the origin: its gain (and a LayerNorm's centring) count, its bias does not (it is
    the same for every unit), and its input-dependent scale only rescales every logit alike.
    """
    model = subject.model
    direction = steering_vector(sae, unit)
    w_u = model.get_output_embeddings().weight
    d = direction.to(w_u.device, w_u.dtype)[None, :]
    norm = _final_norm(model)
    if norm is not None:
        d = norm(d) - norm(torch.zeros_like(d))
    logits = (d @ w_u.T)[0].float().cpu()
    tok = subject.tokenizer

    def top(values: torch.Tensor, sign: float) -> list[tuple[str, float]]:
        idx = values.topk(min(k, len(values))).indices.tolist()
        return [(tok.decode([i]), sign * float(values[i])) for i in idx]

    return top(logits, 1.0), top(-logits, -1.0)
