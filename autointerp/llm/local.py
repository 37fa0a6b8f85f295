"""The in-process transformers backend (the CPU default).

``generate`` batches prompts of similar length (left padding). ``choose`` (and ``judge``)
sorts the prompts so that those sharing a prefix (same instructions and explanation) sit
together, encodes each batch's longest common token prefix once, and runs only the suffixes
against a copy of its KV cache; the answer distribution is read at each suffix's last
position. ``prompt_logprobs`` runs plain texts (no chat template) in padded batches.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from itertools import pairwise

import torch
from tqdm.auto import tqdm

from autointerp.config import LLMConfig
from autointerp.llm.base import (
    BACKENDS,
    LLM,
    Choice,
    Completion,
    Prompt,
    TextLogprobs,
    option_probabilities,
    option_variants,
)
from autointerp.models.loader import SubjectModel, load_subject_model

__all__ = ["LocalLLM", "common_prefix_len", "prefix_batches"]


def common_prefix_len(seqs: Sequence[Sequence[int]]) -> int:
    if not seqs:
        return 0
    first = seqs[0]
    n = min(len(s) for s in seqs)
    for i in range(n):
        tok = first[i]
        if any(s[i] != tok for s in seqs):
            return i
    return n


def prefix_batches(seqs: Sequence[Sequence[int]], size: int, overhead: int = 32) -> list[list[int]]:
    """Batch lexicographically sorted sequences so that few tokens are encoded in total.

    A batch costs its common prefix once plus every row's remaining suffix (plus ``overhead``
    token-equivalents per forward pass). Sorted sequences form a prefix tree: each interval is
    split where neighbours share the least, recursively, and adjacent pieces are merged back
    (up to ``size`` rows) only when the merge is cheaper. Prompts of one (latent,
    explanation) therefore share a batch and their prefix, while two latents' prompts are not
    mixed when that would re-encode each explanation for every row.
    """
    n = len(seqs)
    lengths = [len(s) for s in seqs]
    adjacent = [common_prefix_len([seqs[i - 1], seqs[i]]) for i in range(1, n)]

    def shared(lo: int, hi: int) -> int:
        return min(adjacent[lo : hi - 1]) if hi - lo > 1 else lengths[lo]

    def cost(lo: int, hi: int) -> int:
        p = shared(lo, hi)
        return p + sum(lengths[lo:hi]) - (hi - lo) * p + overhead

    def split(lo: int, hi: int) -> list[tuple[int, int]]:
        if hi - lo == 1:
            return [(lo, hi)]
        low = min(adjacent[lo : hi - 1])
        cuts = [i for i in range(lo + 1, hi) if adjacent[i - 1] == low]
        if len(cuts) == hi - lo - 1:  # no structure left: plain chunks
            return [(a, min(a + size, hi)) for a in range(lo, hi, size)]
        bounds = [lo, *cuts, hi]
        parts = [piece for a, b in pairwise(bounds) for piece in split(a, b)]
        merged = [parts[0]]
        for a, b in parts[1:]:
            a0, b0 = merged[-1]
            if b - a0 <= size and cost(a0, b) <= cost(a0, b0) + cost(a, b):
                merged[-1] = (a0, b)
            else:
                merged.append((a, b))
        return merged

    return [list(range(a, b)) for a, b in split(0, n)] if n else []


@BACKENDS.register("local")
class LocalLLM(LLM):
    """A causal LM run in this process; log-probabilities are always available."""

    supports_logprobs = True
    prefers_likelihood = True

    def __init__(self, cfg: LLMConfig, subject: SubjectModel | None = None) -> None:
        self.cfg = cfg
        self.subject = subject or load_subject_model(cfg.model, device="auto", dtype="float32")
        self.share_prefix = True
        """Encode each batch's common prompt prefix once (off only for benchmarks)."""
        self.name = f"local:{self.subject.name}"
        tok = self.subject.tokenizer
        self._option_ids: dict[str, list[tuple[str, int]]] = {}
        self._stop_ids = sorted(
            {
                i
                for i in (tok.eos_token_id, tok.convert_tokens_to_ids("<|im_end|>"))
                if isinstance(i, int) and i >= 0
            }
        )

    # ------------------------------------------------------------------ tokenisation
    def encode(self, messages: Prompt) -> list[int]:
        """Token ids of a prompt: a plain ``str`` as is, chat messages through the chat
        template (with the generation prompt)."""
        tok = self.subject.tokenizer
        if isinstance(messages, str):
            text = messages
        elif tok.chat_template:
            text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        else:  # base models: plain concatenation ending with an answer cue
            text = "\n\n".join(m["content"] for m in messages) + "\n"
        return list(tok(text, add_special_tokens=False)["input_ids"])

    # --------------------------------------------------------------------- generate
    @torch.no_grad()
    def generate(
        self,
        prompts: Sequence[Prompt],
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
        desc: str | None = None,
    ) -> list[Completion]:
        model, tok, dev = self.subject.model, self.subject.tokenizer, self.subject.device
        encoded = [self.encode(p) for p in prompts]
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        results: list[Completion | None] = [None] * len(encoded)
        bar = tqdm(total=len(encoded), desc=desc, disable=desc is None, leave=False)
        pad = tok.pad_token_id
        for start in range(0, len(order), self.cfg.batch_size):
            idx = order[start : start + self.cfg.batch_size]
            width = max(len(encoded[i]) for i in idx)
            ids = torch.full((len(idx), width), pad, dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for row, i in enumerate(idx):  # left padding
                ids[row, width - len(encoded[i]) :] = torch.tensor(encoded[i])
                mask[row, width - len(encoded[i]) :] = 1
            sample = temperature > 0
            out = model.generate(
                input_ids=ids.to(dev),
                attention_mask=mask.to(dev),
                max_new_tokens=max_new_tokens,
                do_sample=sample,
                temperature=temperature if sample else None,
                top_p=None,
                top_k=None,
                pad_token_id=pad,
                eos_token_id=self._stop_ids or None,
            )
            for row, i in enumerate(idx):
                new = out[row, width:].tolist()
                n_new = next((j for j, t in enumerate(new) if t in self._stop_ids), len(new))
                text = tok.decode(new[:n_new], skip_special_tokens=True)
                results[i] = Completion(text, len(encoded[i]), min(n_new + 1, len(new)))
            bar.update(len(idx))
        bar.close()
        return [r for r in results if r is not None]

    def _answer_ids(self, options: Sequence[str]) -> list[tuple[str, int]]:
        """(option, token id) for every single-token spelling of every option."""
        out: list[tuple[str, int]] = []
        seen: set[int] = set()
        for option in options:
            if option not in self._option_ids:
                ids = []
                for form in option_variants(option):
                    enc = self.subject.tokenizer(form, add_special_tokens=False)["input_ids"]
                    if len(enc) == 1:
                        ids.append((option, enc[0]))
                self._option_ids[option] = ids
            for opt, tid in self._option_ids[option]:
                if tid not in seen:
                    seen.add(tid)
                    out.append((opt, tid))
        return out

    # ----------------------------------------------------------------------- choose
    @torch.no_grad()
    def choose(
        self, prompts: Sequence[Prompt], options: Sequence[str], *, desc: str | None = None
    ) -> list[Choice]:
        answer_ids = self._answer_ids(options)
        encoded = [self.encode(p) for p in prompts]
        order = sorted(range(len(encoded)), key=lambda i: encoded[i])
        results: list[Choice | None] = [None] * len(encoded)
        bar = tqdm(total=len(encoded), desc=desc, disable=desc is None, leave=False)
        for idx in prefix_batches([encoded[i] for i in order], self.cfg.judge_batch_size):
            rows = [order[j] for j in idx]
            probs = self._next_token_probs([encoded[i] for i in rows])
            for row, i in enumerate(rows):
                pairs = [(opt, float(probs[row, tid])) for opt, tid in answer_ids]
                dist, mass = option_probabilities(pairs, options)
                error = None if mass > 0 else f"no probability on {'/'.join(options)}"
                results[i] = Choice(dist, mass, len(encoded[i]), error)
            bar.update(len(rows))
        bar.close()
        return [r for r in results if r is not None]

    def _next_token_probs(self, seqs: list[list[int]]) -> torch.Tensor:
        """[len(seqs), vocab] next-token probabilities after each sequence, the batch's
        common prefix encoded once."""
        model, dev = self.subject.model, self.subject.device
        prefix_len = (
            min(common_prefix_len(seqs), min(len(s) for s in seqs) - 1) if self.share_prefix else 0
        )
        cache = None
        if prefix_len > 0:
            prefix = torch.tensor([seqs[0][:prefix_len]], device=dev)
            cache = model(input_ids=prefix, use_cache=True).past_key_values
            if len(seqs) > 1:
                cache = copy.deepcopy(cache)
                cache.batch_repeat_interleave(len(seqs))
        suffixes = [s[prefix_len:] for s in seqs]
        width = max(len(s) for s in suffixes)
        pad = self.subject.tokenizer.pad_token_id
        ids = torch.full((len(seqs), width), pad, dtype=torch.long)
        mask = torch.zeros((len(seqs), prefix_len + width), dtype=torch.long)
        mask[:, :prefix_len] = 1
        for row, suffix in enumerate(suffixes):  # right padding: positions stay aligned
            ids[row, : len(suffix)] = torch.tensor(suffix)
            mask[row, prefix_len : prefix_len + len(suffix)] = 1
        base = model.get_decoder() if hasattr(model, "get_decoder") else model.model
        hidden = base(
            input_ids=ids.to(dev),
            attention_mask=mask.to(dev),
            past_key_values=cache,
            use_cache=cache is not None,
        ).last_hidden_state
        last = torch.tensor([len(s) - 1 for s in suffixes], device=dev)
        final = hidden[torch.arange(len(seqs), device=dev), last]
        logits = model.get_output_embeddings()(final).float()
        probs: torch.Tensor = logits.softmax(dim=-1).cpu()
        return probs

    # -------------------------------------------------------------- prompt logprobs
    @torch.no_grad()
    def prompt_logprobs(
        self, texts: Sequence[str], *, top_k: int = 0, desc: str | None = None
    ) -> list[TextLogprobs]:
        model, tok, dev = self.subject.model, self.subject.tokenizer, self.subject.device
        encoded = []
        for text in texts:
            enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
            encoded.append((list(enc["input_ids"]), [int(a) for a, _ in enc["offset_mapping"]]))
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i][0]))
        results: list[TextLogprobs | None] = [None] * len(texts)
        bar = tqdm(total=len(texts), desc=desc, disable=desc is None, leave=False)
        pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        base = model.get_decoder() if hasattr(model, "get_decoder") else model.model
        head = model.get_output_embeddings()
        for idx in _token_budget_batches(
            [len(encoded[i][0]) for i in order], order, self.cfg.judge_batch_size
        ):
            width = max([1] + [len(encoded[i][0]) for i in idx])
            ids = torch.full((len(idx), width), pad, dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for row, i in enumerate(idx):  # right padding
                n = len(encoded[i][0])
                ids[row, :n] = torch.tensor(encoded[i][0], dtype=torch.long)
                mask[row, :n] = 1
            hidden = base(input_ids=ids.to(dev), attention_mask=mask.to(dev)).last_hidden_state
            for row, i in enumerate(idx):
                seq, offsets = encoded[i]
                n = len(seq)
                # one row's logits at a time: [n, vocab] instead of [batch, width, vocab]
                logp = head(hidden[row, : max(n - 1, 0)]).float().log_softmax(dim=-1).cpu()
                target = torch.tensor(seq[1:], dtype=torch.long)
                picked = logp[torch.arange(n - 1), target].tolist() if n > 1 else []
                lp = [math.nan, *picked][:n]
                top: list[dict[str, float]] = [{} for _ in range(n)]
                if top_k > 0 and n > 1:
                    values, indices = logp.topk(top_k, dim=-1)
                    for j in range(1, n):
                        for v, t in zip(
                            values[j - 1].tolist(), indices[j - 1].tolist(), strict=True
                        ):
                            top[j].setdefault(tok.decode([t]), v)  # best spelling first
                pieces = [tok.decode([t]) for t in seq]
                results[i] = TextLogprobs(pieces, offsets, lp, top, n)
            bar.update(len(idx))
        bar.close()
        return [r for r in results if r is not None]


PROMPT_TOKEN_BUDGET = 8192
"""Most tokens (padded) run through the model at once by ``prompt_logprobs``."""


def _token_budget_batches(lengths: list[int], order: list[int], max_rows: int) -> list[list[int]]:
    """Split ``order`` (sorted by length, ``lengths`` aligned with it) into batches of at most
    ``max_rows`` rows and ``PROMPT_TOKEN_BUDGET`` padded tokens (a longer text runs alone)."""
    batches: list[list[int]] = []
    current: list[int] = []
    width = 0
    for i, n in zip(order, lengths, strict=True):
        if current and (
            len(current) >= max_rows or max(width, n) * (len(current) + 1) > PROMPT_TOKEN_BUDGET
        ):
            batches.append(current)
            current, width = [], 0
        current.append(i)
        width = max(width, n)
    if current:
        batches.append(current)
    return batches
