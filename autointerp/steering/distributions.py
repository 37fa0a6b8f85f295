"""Next-token distributions of the subject model, clean and steered: neutral prompts, KL,
the activations' scale, and the tokens a unit's steering promotes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import cache
from importlib import resources

import numpy as np
import torch

from autointerp.errors import ConfigError
from autointerp.models.hooks import HookPoint, run_to_hooks
from autointerp.models.layouts import base_model
from autointerp.models.loader import SubjectModel
from autointerp.saes.base import SparseCoder
from autointerp.steering.vectors import add_vectors, steer, steering_hook, steering_vector

__all__ = [
    "activation_scale",
    "encode_prompts",
    "neutral_prompts",
    "next_token_kl",
    "next_token_logprobs",
    "prob_changes",
]


@cache
def _neutral_prompts() -> tuple[str, ...]:
    text = resources.files("autointerp").joinpath("data", "neutral_prompts.txt").read_text("utf-8")
    return tuple(line for line in text.splitlines() if line.strip() and not line.startswith("#"))


def neutral_prompts(n: int) -> list[str]:
    """The first ``n`` of the fixed neutral beginnings in ``autointerp/data/neutral_prompts.txt``
    (all of them when ``n`` is larger); the same for every latent, so clean runs are shared."""
    if n < 1:
        raise ConfigError(f"scoring.steer_prompts must be >= 1, got {n}")
    return list(_neutral_prompts()[:n])


def encode_prompts(subject: SubjectModel, prompts: Sequence[str]) -> list[list[int]]:
    """Token ids of each prompt, starting with BOS as every corpus window does."""
    tok = subject.tokenizer
    bos = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
    out = []
    for text in prompts:
        ids = list(tok(text, add_special_tokens=False)["input_ids"])
        out.append(([bos] if bos is not None else []) + ids)
    return out


@torch.no_grad()
def next_token_logprobs(subject: SubjectModel, ids: Sequence[Sequence[int]]) -> torch.Tensor:
    """[len(ids), vocab] float32 log-probabilities of the token after each sequence."""
    model, dev = subject.model, subject.device
    width = max(len(s) for s in ids)
    pad = subject.tokenizer.pad_token_id or 0
    batch = torch.full((len(ids), width), pad, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for row, seq in enumerate(ids):  # right padding: the last real token is at len - 1
        batch[row, : len(seq)] = torch.tensor(list(seq), dtype=torch.long)
        mask[row, : len(seq)] = 1
    base = model.get_decoder() if hasattr(model, "get_decoder") else base_model(model)
    hidden = base(input_ids=batch.to(dev), attention_mask=mask.to(dev)).last_hidden_state
    last = torch.tensor([len(s) - 1 for s in ids], device=dev)
    final = hidden[torch.arange(len(ids), device=dev), last]
    logits = model.get_output_embeddings()(final).float()
    out: torch.Tensor = logits.log_softmax(dim=-1).cpu()
    return out


def _kl(clean: torch.Tensor, steered: torch.Tensor) -> torch.Tensor:
    """Row-wise KL(clean || steered) from log-probabilities."""
    return (clean.exp() * (clean - steered)).sum(dim=-1)


def next_token_kl(
    subject: SubjectModel, sae: SparseCoder, unit: int, alpha: float, prompts: Sequence[str]
) -> float:
    """Mean KL(clean || steered) of the next-token distribution after each prompt."""
    ids = encode_prompts(subject, prompts)
    clean = next_token_logprobs(subject, ids)
    with steer(subject, sae, unit, alpha):
        steered = next_token_logprobs(subject, ids)
    return float(_kl(clean, steered).mean())


@torch.no_grad()
def activation_scale(subject: SubjectModel, sae: SparseCoder, prompts: Sequence[str]) -> float:
    """Median L2 norm of the activations at the steering hook point (BOS left out)."""
    hook = steering_hook(sae)
    ids = encode_prompts(subject, prompts)
    norms = []
    for seq in ids:
        acts = run_to_hooks(subject.model, torch.tensor([seq], device=subject.device), [hook])
        norms += acts[hook][0, 1:].float().norm(dim=-1).tolist()
    return float(np.median(norms)) if norms else 1.0


def _steered(
    subject: SubjectModel,
    hook: HookPoint,
    ids: Sequence[Sequence[int]],
    vectors: Sequence[torch.Tensor],
    rows_per_pass: int = 128,
) -> Iterator[tuple[range, torch.Tensor]]:
    """Next-token log-probabilities after every sequence of ``ids`` with each of ``vectors``
    added: (indices into ``vectors``, [len(indices), len(ids), vocab]) chunk by chunk, about
    ``rows_per_pass`` rows per forward pass."""
    per_pass = max(1, rows_per_pass // len(ids))
    for begin in range(0, len(vectors), per_pass):
        part = range(begin, min(begin + per_pass, len(vectors)))
        rows = torch.cat([vectors[j].expand(len(ids), -1) for j in part])
        with add_vectors(subject, hook, rows):
            logprobs = next_token_logprobs(subject, [s for _ in part for s in ids])
        yield part, logprobs.view(len(part), len(ids), -1)


@torch.no_grad()
def prob_changes(
    subject: SubjectModel,
    sae: SparseCoder,
    units: Sequence[int],
    alphas: Sequence[float],
    prompts: Sequence[str],
    k: int,
) -> list[list[tuple[str, float]]]:
    """Per unit, the ``k`` tokens whose next-token probability rises most when the unit is
    steered with its ``alpha``, as (token text, score). With ``p`` and ``q`` the steered and
    clean probabilities averaged over ``prompts``, the score is ``p * log(p / q)`` (the
    token's term of KL(steered || clean)): a large relative rise of a token the steered
    model actually predicts, rather than the small absolute shifts of frequent tokens or
    the huge ratios of tokens that stay improbable."""
    ids = encode_prompts(subject, prompts)
    clean = next_token_logprobs(subject, ids).exp().mean(dim=0)
    vectors = [a * steering_vector(sae, u) for u, a in zip(units, alphas, strict=True)]
    tok = subject.tokenizer
    out = []
    for _, logprobs in _steered(subject, steering_hook(sae), ids, vectors):
        steered = logprobs.exp().mean(dim=1)
        score = steered * (steered.clamp_min(1e-12).log() - clean.clamp_min(1e-12).log())
        for row in score:
            idx = row.topk(min(k, len(row))).indices.tolist()
            out.append([(tok.decode([i]), float(row[i])) for i in idx])
    return out
