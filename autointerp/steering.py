"""Steering: add a unit's decoder direction to the subject model's activations and watch
what changes.

Steering unit ``u`` with strength ``alpha`` adds ``alpha * d_u`` at every position (or from
``start`` on) where the SAE writes: its own hook point (``info.hook_name``), or for a
transcoder the hook point it predicts (``info.hook_name_out``). ``d_u`` is the decoder row
``W_dec[u]`` **normalised to unit length**, so ``alpha`` is the L2 norm of what is added
(compare it with the activations' norm, :func:`activation_scale`); for the negative unit
``d_sae + i`` of a signed SAE it is ``-W_dec[i]`` normalised. A zero decoder row gives a
zero direction (steering it changes nothing).

The vector is added by a forward hook (a forward-pre hook where the hook point is a module's
input) that :func:`add_vectors` always removes, also on errors. ``resid_mid``/``mlp_in``
are read at the input of the MLP's norm, but adding there would not reach the residual
stream, so they are steered at the attention's output instead (``resid_mid = resid_pre +
attn_out``).

Strength is set by :func:`calibrate_strength`: the ``alpha`` at which the mean KL(clean ||
steered) of the next-token distribution at the prompts' last positions reaches a target (a
safeguarded secant search on log KL against log alpha; KL grows like alpha² for small
alpha). :func:`calibrate_many` calibrates several units in one batch per iteration.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import torch
from torch import nn

from autointerp.errors import ConfigError, ModelError
from autointerp.models.hooks import HookPoint, _target, parse_hook_name, run_to_hooks
from autointerp.models.layouts import base_model
from autointerp.models.loader import SubjectModel
from autointerp.saes.base import SparseCoder

__all__ = [
    "Calibration",
    "activation_scale",
    "add_vectors",
    "calibrate_many",
    "calibrate_strength",
    "encode_prompts",
    "generate",
    "generate_pair",
    "logit_lens",
    "neutral_prompts",
    "next_token_kl",
    "next_token_logprobs",
    "prob_changes",
    "steer",
    "steering_hook",
    "steering_vector",
]


@dataclass(frozen=True)
class Calibration:
    """The strength found for one unit."""

    alpha: float
    """L2 norm of the added vector."""
    kl: float
    """Mean KL(clean || steered) of the next-token distribution reached with ``alpha``."""
    iterations: int
    converged: bool
    """True when ``kl`` is within the tolerance of the target."""


def steering_hook(sae: SparseCoder) -> HookPoint:
    """Where the unit's decoder writes: the SAE's hook point, or a transcoder's output one."""
    return parse_hook_name(sae.info.hook_name_out or sae.info.hook_name)


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


# --------------------------------------------------------------------- next-token dists
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


def _next_alpha(
    alpha: float, kl: float, lo: tuple[float, float], hi: tuple[float, float] | None, target: float
) -> float:
    """Next strength to try, from the bracket ``lo`` (KL below target) / ``hi`` (above)."""
    if hi is None:  # not bracketed yet: extrapolate KL ~ alpha^2, between x2 and x16
        factor = math.sqrt(target / kl) if kl > 0 else 16.0
        return alpha * min(16.0, max(2.0, factor))
    (a_lo, k_lo), (a_hi, k_hi) = lo, hi
    if a_lo <= 0 or k_lo <= 0:  # only an upper bound: assume KL ~ alpha^2 below it
        guess = a_hi * math.sqrt(target / k_hi)
        return min(max(guess, a_hi / 16), a_hi * 0.9)
    slope = (math.log(k_hi) - math.log(k_lo)) / (math.log(a_hi) - math.log(a_lo))
    if slope <= 0:  # not monotone here: bisect
        return math.sqrt(a_lo * a_hi)
    guess = math.exp(math.log(a_lo) + (math.log(target) - math.log(k_lo)) / slope)
    margin = 0.05 * (a_hi - a_lo)  # stay inside the bracket
    return min(max(guess, a_lo + margin), a_hi - margin)


@torch.no_grad()
def calibrate_many(
    subject: SubjectModel,
    sae: SparseCoder,
    units: Sequence[int],
    prompts: Sequence[str],
    target_kl: float,
    *,
    tol: float = 0.1,
    max_iter: int = 12,
    clean: torch.Tensor | None = None,
) -> list[Calibration]:
    """One :class:`Calibration` per unit: each iteration runs every unfinished unit on every
    prompt in one batch. A unit counts as converged when its KL is within ``tol`` (relative)
    of ``target_kl``; otherwise the alpha whose KL came closest (in log ratio) is returned.
    ``clean``: the clean next-token log-probabilities of ``prompts``, when already known."""
    if target_kl <= 0:
        raise ConfigError(f"scoring.steer_target_kl must be > 0, got {target_kl}")
    ids = encode_prompts(subject, prompts)
    if clean is None:
        clean = next_token_logprobs(subject, ids)
    hook = steering_hook(sae)
    directions = torch.stack([steering_vector(sae, u) for u in units])
    scale = activation_scale(subject, sae, prompts) / 4
    alpha = [scale] * len(units)
    lo: list[tuple[float, float]] = [(0.0, 0.0)] * len(units)
    hi: list[tuple[float, float] | None] = [None] * len(units)
    best: list[tuple[float, float, int]] = [(0.0, 0.0, 0)] * len(units)
    done = [bool(directions[i].abs().sum() == 0) for i in range(len(units))]
    for it in range(1, max_iter + 1):
        todo = [i for i in range(len(units)) if not done[i]]
        if not todo:
            break
        kls: list[float] = []
        for _, steered in _steered(subject, hook, ids, [alpha[i] * directions[i] for i in todo]):
            kls += _kl(clean, steered).mean(dim=1).tolist()  # clean broadcasts over units
        for i, kl in zip(todo, kls, strict=True):
            gap = abs(math.log(max(kl, 1e-12) / target_kl))
            if best[i][2] == 0 or gap < abs(math.log(max(best[i][1], 1e-12) / target_kl)):
                best[i] = (alpha[i], kl, it)
            if abs(kl - target_kl) <= tol * target_kl:
                done[i] = True
                continue
            if kl < target_kl:
                lo[i] = (alpha[i], kl)
            else:
                hi[i] = (alpha[i], kl)
            alpha[i] = _next_alpha(alpha[i], kl, lo[i], hi[i], target_kl)
    return [Calibration(a, kl, it, abs(kl - target_kl) <= tol * target_kl) for a, kl, it in best]


def calibrate_strength(
    subject: SubjectModel,
    sae: SparseCoder,
    unit: int,
    prompts: Sequence[str],
    target_kl: float,
    *,
    tol: float = 0.1,
    max_iter: int = 12,
) -> Calibration:
    """The strength at which steering ``unit`` moves the next-token distribution after
    ``prompts`` by a mean KL of ``target_kl`` (see :func:`calibrate_many`)."""
    return calibrate_many(subject, sae, [unit], prompts, target_kl, tol=tol, max_iter=max_iter)[0]


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


# -------------------------------------------------------------------------- generation
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


# --------------------------------------------------------------------------- logit lens
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
