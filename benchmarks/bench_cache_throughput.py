"""Caching throughput against the bare forward pass truncated at the same layer.

Loads the demo SAE and the model it was trained on (SmolLM2-135M-Instruct), cuts the stdlib
corpus into windows, then alternates, round after round over the same windows:

* bare: the forward pass cut after the hook's layer (``run_to_hooks``), nothing else;
* caching: ``cache_activations`` (that forward pass + SAE encode + ``LatentStats.update``);

which of the two goes first swaps every round. It prints each round's tok/s, the medians and
the median of the per-round ratios (caching / bare; the target is >= 0.9). ``--profile`` adds
one pass that times forward, SAE encode and statistics separately.

    python benchmarks/bench_cache_throughput.py [--tokens 16384] [--rounds 5] [--profile]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from autointerp.cache import bind, cache_activations
from autointerp.cache.stats import LatentStats
from autointerp.config import CacheConfig
from autointerp.corpus import load_windows
from autointerp.models.hooks import run_to_hooks
from autointerp.models.loader import SubjectModel, load_subject_model
from autointerp.saes import load_sae
from autointerp.saes.base import SparseCoder

TARGET = 0.9


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sae", default="demo")
    ap.add_argument("--tokens", type=int, default=16_384, help="Tokens per round.")
    ap.add_argument("--ctx-len", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--profile", action="store_true", help="Also time each part once.")
    args = ap.parse_args()
    sae = load_sae(args.sae)
    subject = load_subject_model(sae.info.model_name or "smollm2", device="cpu")
    tokens = load_windows(
        "stdlib", subject.tokenizer, n_tokens=args.tokens, ctx_len=args.ctx_len
    ).tokens
    cfg = CacheConfig(device="cpu")
    print(
        f"{subject.name}, {sae.info.hook_name}, {sae.n_units} latents; {tokens.size:,} tokens "
        f"({len(tokens)} windows of {args.ctx_len}), batch {cfg.batch_size}, "
        f"{torch.get_num_threads()} threads"
    )
    bare, cached = alternate(subject, sae, tokens, cfg, args.rounds)
    report(tokens.size, bare, cached)
    if args.profile:
        profile(subject, sae, tokens, cfg)


def bare_forward(subject: SubjectModel, sae: SparseCoder, tokens: np.ndarray, batch: int) -> None:
    hook = bind(subject, sae)
    with torch.no_grad():
        for start in range(0, len(tokens), batch):
            chunk = torch.as_tensor(tokens[start : start + batch], dtype=torch.long)
            run_to_hooks(subject.model, chunk.to(subject.device), [hook])


def alternate(
    subject: SubjectModel, sae: SparseCoder, tokens: np.ndarray, cfg: CacheConfig, rounds: int
) -> tuple[list[float], list[float]]:
    """Seconds per round of the bare forward pass and of caching, run alternately (which one
    goes first swaps every round, so that a drift in the machine's load does not favour one)."""
    bare_forward(subject, sae, tokens[: cfg.batch_size], cfg.batch_size)  # warm-up
    bare: list[float] = []
    cached: list[float] = []

    def run_bare() -> None:
        bare_forward(subject, sae, tokens, cfg.batch_size)

    def run_caching() -> None:
        cache_activations(subject, sae, tokens, cfg, seed=0, progress=False)

    for i in range(rounds):
        order = [(run_bare, bare), (run_caching, cached)]
        for run, times in order if i % 2 == 0 else order[::-1]:
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        print(
            f"  round {len(bare)}: bare {tokens.size / bare[-1]:6.0f} tok/s   caching "
            f"{tokens.size / cached[-1]:6.0f} tok/s   ratio {bare[-1] / cached[-1]:.3f}"
        )
    return bare, cached


def report(n_tokens: int, bare: list[float], cached: list[float]) -> float:
    ratio = statistics.median(b / c for b, c in zip(bare, cached, strict=True))
    verdict = "meets" if ratio >= TARGET else "MISSES"
    print(f"truncated forward alone : {n_tokens / statistics.median(bare):6.0f} tok/s (median)")
    print(f"caching (fwd+SAE+stats) : {n_tokens / statistics.median(cached):6.0f} tok/s (median)")
    rounds = f"median of {len(bare)} rounds"
    print(f"ratio caching / bare    : {ratio:6.3f} ({rounds})  {verdict} >= {TARGET}")
    return ratio


@torch.no_grad()
def profile(subject: SubjectModel, sae: SparseCoder, tokens: np.ndarray, cfg: CacheConfig) -> None:
    """One pass with forward, SAE encode and statistics timed separately."""
    hook = bind(subject, sae)
    stats = LatentStats.empty(sae.n_units, cfg.top_k, cfg.reservoir, seed=0)
    spent = {"forward": 0.0, "encode": 0.0, "stats": 0.0}
    for start in range(0, len(tokens), cfg.batch_size):
        chunk = torch.as_tensor(tokens[start : start + cfg.batch_size], dtype=torch.long)
        t0 = time.perf_counter()
        acts = run_to_hooks(subject.model, chunk, [hook])[hook]
        t1 = time.perf_counter()
        latents = sae.encode_units(acts[:, 1:].float())
        t2 = time.perf_counter()
        stats.update(latents, torch.arange(start, start + len(chunk)), chunk[:, 1:])
        t3 = time.perf_counter()
        for part, seconds in zip(spent, (t1 - t0, t2 - t1, t3 - t2), strict=True):
            spent[part] += seconds
    total = sum(spent.values())
    print("profile (one pass):")
    for part, seconds in spent.items():
        print(f"  {part:<8} {seconds:7.2f} s  {100 * seconds / total:5.1f} %")


if __name__ == "__main__":
    main()
