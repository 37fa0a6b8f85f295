"""How much the local backend saves by encoding a shared prompt prefix once.

Scoring one latent with detection sends ~40 prompts that differ only in the example text at
the end. This times ``LocalLLM.judge`` on such a batch with prefix sharing on and off, side
by side in one run, and checks that both give the same P(yes).

    python benchmarks/bench_prefix_sharing.py [--examples 40] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from autointerp.config import LLMConfig
from autointerp.llm.local import LocalLLM
from autointerp.records import Example, Explanation, LatentRecord
from scorers.detection import DetectionScorer


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    llm = LocalLLM(LLMConfig())
    tok = llm.subject.tokenizer
    rng = np.random.default_rng(0)
    words = [
        "the",
        "a",
        "of",
        "river",
        "number",
        "code",
        "value",
        "returns",
        "list",
        "string",
        "file",
        "data",
        "module",
        "class",
    ]

    def example(i: int) -> Example:
        ids = tok(" ".join(rng.choice(words, 24)), add_special_tokens=False)["input_ids"]
        tokens = tuple(tok.decode([t]) for t in ids)
        return Example(i, tokens, (0.0,) * len(tokens), "score")

    examples = [example(i) for i in range(args.examples)]
    half = args.examples // 2
    record = LatentRecord(0, score=examples[:half], nonactivating=examples[half:])
    expl = Explanation(0, 0, "names of Python data structures such as lists and strings", "bench")
    prompts = [item.messages for item in DetectionScorer().items(record, expl, seed=0)]
    total_tokens = sum(len(llm.encode(p)) for p in prompts)
    llm.judge(prompts[:4])  # warm-up
    timings: dict[bool, list[float]] = {True: [], False: []}
    results = {}
    for _ in range(args.repeats):
        for share in (True, False):
            llm.share_prefix = share
            start = time.perf_counter()
            results[share] = llm.judge(prompts)
            timings[share].append(time.perf_counter() - start)
    diff = max(abs(a.p_yes - b.p_yes) for a, b in zip(results[True], results[False], strict=True))
    shared, full = np.median(timings[True]), np.median(timings[False])
    print(f"{len(prompts)} detection prompts, {total_tokens} prompt tokens in total")
    print(f"prefix shared : {shared:6.2f} s  ({total_tokens / shared:7.0f} prompt tok/s)")
    print(f"full prompts  : {full:6.2f} s  ({total_tokens / full:7.0f} prompt tok/s)")
    print(f"speed-up      : {full / shared:.2f}x   (max |dP(yes)| = {diff:.1e})")


if __name__ == "__main__":
    main()
