"""The in-process transformers backend (the CPU default).

``generate`` batches prompts of similar length (left padding). ``judge`` sorts the prompts so
that those sharing a prefix (same instructions and explanation) sit together, encodes each
batch's longest common token prefix once, and runs only the suffixes against a copy of its
KV cache; the answer distribution is read at each suffix's last position.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from itertools import pairwise

import torch
from tqdm.auto import tqdm

from autointerp.config import LLMConfig
from autointerp.llm.base import BACKENDS, LLM, Completion, Judgement, Messages, yes_no_probability
from autointerp.models.loader import SubjectModel, load_subject_model

__all__ = ["LocalLLM", "common_prefix_len", "prefix_batches"]

ANSWER_WORDS = ("Yes", " Yes", "yes", " yes", "No", " No", "no", " no")


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

    def __init__(self, cfg: LLMConfig, subject: SubjectModel | None = None) -> None:
        self.cfg = cfg
        self.subject = subject or load_subject_model(cfg.model, device="auto", dtype="float32")
        self.share_prefix = True
        """Encode each batch's common prompt prefix once (off only for benchmarks)."""
        self.name = f"local:{self.subject.name}"
        tok = self.subject.tokenizer
        self._answer_ids: list[tuple[str, int]] = []
        for word in ANSWER_WORDS:
            ids = tok(word, add_special_tokens=False)["input_ids"]
            if len(ids) == 1:
                self._answer_ids.append((word, ids[0]))
        self._stop_ids = sorted(
            {
                i
                for i in (tok.eos_token_id, tok.convert_tokens_to_ids("<|im_end|>"))
                if isinstance(i, int) and i >= 0
            }
        )

    # ------------------------------------------------------------------ tokenisation
    def encode(self, messages: Messages) -> list[int]:
        tok = self.subject.tokenizer
        if tok.chat_template:
            text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        else:  # base models: plain concatenation ending with an answer cue
            text = "\n\n".join(m["content"] for m in messages) + "\n"
        return list(tok(text, add_special_tokens=False)["input_ids"])

    # --------------------------------------------------------------------- generate
    @torch.no_grad()
    def generate(
        self,
        prompts: Sequence[Messages],
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

    # ------------------------------------------------------------------------ judge
    @torch.no_grad()
    def judge(self, prompts: Sequence[Messages], *, desc: str | None = None) -> list[Judgement]:
        encoded = [self.encode(p) for p in prompts]
        order = sorted(range(len(encoded)), key=lambda i: encoded[i])
        results: list[Judgement | None] = [None] * len(encoded)
        bar = tqdm(total=len(encoded), desc=desc, disable=desc is None, leave=False)
        for idx in prefix_batches([encoded[i] for i in order], self.cfg.judge_batch_size):
            rows = [order[j] for j in idx]
            for i, judgement in zip(
                rows, self._judge_batch([encoded[i] for i in rows]), strict=True
            ):
                results[i] = judgement
            bar.update(len(rows))
        bar.close()
        return [r for r in results if r is not None]

    def _judge_batch(self, seqs: list[list[int]]) -> list[Judgement]:
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
        probs = logits.softmax(dim=-1).cpu()
        out = []
        for row, seq in enumerate(seqs):
            pairs = [(word, float(probs[row, tid])) for word, tid in self._answer_ids]
            p_yes, mass = yes_no_probability(pairs)
            error = None if not math.isnan(p_yes) else "no probability on yes/no"
            out.append(Judgement(p_yes, mass, len(seq), error))
        return out
