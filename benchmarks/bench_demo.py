"""Time the demo run stage by stage, and the caching stage against the bare model.

Runs the default configuration (what `autointerp run` does with no options) in this process
and prints each stage's wall time. Then, side by side in the same process, it times the
forward pass truncated at the hook's layer alone against the full caching loop (forward +
SAE encode + statistics) over the same windows, and prints the ratio.

    python benchmarks/bench_demo.py [--out DIR] [--latents live:32] [--cache-only]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace

import torch

from autointerp.cache import bind, cache_activations
from autointerp.config import RunConfig
from autointerp.models.hooks import run_to_hooks
from autointerp.pipeline import prepare, run

# Usage figures go to the README's benchmark section.


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=None)
    ap.add_argument("--latents", default="live:32")
    ap.add_argument("--cache-only", action="store_true", help="Skip the demo run.")
    ap.add_argument("--cache-tokens", type=int, default=32_000, help="Tokens for the comparison.")
    args = ap.parse_args()
    cfg = replace(RunConfig(), latents=args.latents)
    if not args.cache_only:
        demo(cfg, args)
    compare_caching(replace(cfg, corpus=replace(cfg.corpus, n_tokens=args.cache_tokens)))


def demo(cfg: RunConfig, args: argparse.Namespace) -> None:
    out = args.out or tempfile.mkdtemp(prefix="autointerp-bench-")
    start = time.perf_counter()
    result = run(cfg, out, progress=False)
    total = time.perf_counter() - start
    print(f"demo run ({args.latents}, {cfg.corpus.n_tokens:,} tokens): {total:.0f} s in total")
    for stage, seconds in result.timings.items():
        print(f"  {stage:<8} {seconds:7.1f} s")
    n_ok = int((result.explanations["status"] == "ok").sum())
    print(f"  explanations ok: {n_ok}/{len(result.explanations)}; output in {out}")


def compare_caching(cfg: RunConfig) -> None:
    prep = prepare(cfg)
    tokens = prep.windows.tokens
    hook = bind(prep.subject, prep.sae)
    bare_times, cache_times = [], []
    for _ in range(3):  # alternate, keep the best of each (the machine is noisy)
        t0 = time.perf_counter()
        with torch.no_grad():
            for s in range(0, len(tokens), cfg.cache.batch_size):
                batch = torch.as_tensor(tokens[s : s + cfg.cache.batch_size], dtype=torch.long)
                run_to_hooks(prep.subject.model, batch, [hook])
        bare_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        cache_activations(prep.subject, prep.sae, tokens, cfg.cache, seed=0, progress=False)
        cache_times.append(time.perf_counter() - t0)
    bare, cached = min(bare_times), min(cache_times)
    n = tokens.size
    print(f"truncated forward alone : {n / bare:8.0f} tok/s")
    print(f"caching (fwd+SAE+stats) : {n / cached:8.0f} tok/s   ratio {bare / cached:.2f}")


if __name__ == "__main__":
    main()
