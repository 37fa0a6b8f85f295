"""Peak memory of caching N tokens against 10 N tokens: it must stay flat (within 10 %).

Each size runs in a fresh subprocess that loads the demo SAE and SmolLM2-135M-Instruct the
same way, cuts the stdlib corpus into windows and runs ``cache_activations`` (forward + SAE
encode + statistics). The child reports its peak RSS (``VmHWM``) over the whole process,
model loading included, and separately from the start of caching (the high-water mark is
reset there through ``/proc/self/clear_refs``), next to the RSS with the model loaded.

The checkpoint is memory-mapped, so its pages count in RSS only once read. The forward pass
reads the embedding row of every token it sees, so with lazily mapped weights RSS grows with
the corpus's vocabulary (file-backed pages, up to the 113 MB embedding matrix; anonymous
memory stays flat). The children therefore read every weight once after loading, so that
both start from the same resident model; ``--lazy-weights`` skips that to show the effect.

    python benchmarks/bench_cache_memory.py [--tokens 20000] [--factor 10] [--lazy-weights]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

LIMIT = 1.10


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=20_000, help="The smaller size N.")
    ap.add_argument("--factor", type=int, default=10)
    ap.add_argument("--ctx-len", type=int, default=32)
    ap.add_argument("--lazy-weights", action="store_true", help="Do not pre-read the weights.")
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        print(json.dumps(measure(args.child, args.ctx_len, resident=not args.lazy_weights)))
        return
    results = []
    for n in (args.tokens, args.tokens * args.factor):
        cmd = [sys.executable, __file__, "--child", str(n), "--ctx-len", str(args.ctx_len)]
        cmd += ["--lazy-weights"] if args.lazy_weights else []
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        result = json.loads(out.strip().splitlines()[-1])
        results.append(result)
        r = result
        print(
            f"{r['tokens']:>9,} tokens: peak RSS {r['peak_mb']:5.0f} MB; model loaded "
            f"{r['loaded_mb']:.0f} MB, peak while caching {r['caching_peak_mb']:.0f} MB "
            f"(file-backed at the end {r['file_mb']:.0f} MB); {r['tok_s']:.0f} tok/s"
        )
    small, large = results
    ratio = large["peak_mb"] / small["peak_mb"]
    caching = large["caching_peak_mb"] / small["caching_peak_mb"]
    verdict = "meets" if max(ratio, caching) <= LIMIT else "MISSES"
    print(
        f"peak RSS ratio at {args.factor}x the tokens: {ratio:.3f} (whole process), "
        f"{caching:.3f} (while caching); {verdict} <= {LIMIT}"
    )


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def measure(n_tokens: int, ctx_len: int, *, resident: bool) -> dict[str, float]:
    import torch

    from autointerp.cache import cache_activations
    from autointerp.config import CacheConfig
    from autointerp.corpus import load_windows
    from autointerp.models.loader import load_subject_model
    from autointerp.saes import load_sae

    sae = load_sae("demo")
    subject = load_subject_model(sae.info.model_name or "smollm2", device="cpu")
    if resident:  # read every page of the memory-mapped weights (see the module docstring)
        with torch.no_grad():
            for param in subject.model.parameters():
                param.sum()
    loaded = _status_mb("VmRSS")
    peak_before = _status_mb("VmHWM")
    Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark to the RSS now
    start = time.perf_counter()
    tokens = load_windows("stdlib", subject.tokenizer, n_tokens=n_tokens, ctx_len=ctx_len).tokens
    cache_activations(subject, sae, tokens, CacheConfig(device="cpu"), seed=0, progress=False)
    elapsed = time.perf_counter() - start
    caching_peak = _status_mb("VmHWM")
    return {
        "tokens": int(tokens.size),
        "loaded_mb": loaded,
        "caching_peak_mb": caching_peak,
        "file_mb": _status_mb("RssFile"),
        "peak_mb": max(peak_before, caching_peak),
        "tok_s": tokens.size / elapsed,
    }


if __name__ == "__main__":
    main()
