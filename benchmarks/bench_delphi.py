"""autointerp's caching against delphi's ``LatentCache``: same model, checkpoint and tokens.

delphi (``eai-delphi==0.1.3``) runs in its own virtual environment, created on first use
(``--venv``, default ``.venv-delphi``): torch 2.13.0 (CPU), delphi with ``--no-deps``, and
only what ``delphi.latents`` imports, with the same transformers version as this environment.
delphi's declared ``vllm`` dependency is neither installed nor imported: ``delphi.latents``
does not need it (only ``delphi.clients.offline`` does), so nothing is stubbed.

The parent cuts the stdlib corpus into windows and saves them to ``.npy``; then, alternately
and each in a fresh subprocess, delphi's ``LatentCache.run`` (in the delphi environment, the
demo SAE's TopK encoder written out from its safetensors weights) and autointerp's
``cache_activations`` (in this environment) cache those windows. Each child reports the time
of the caching call alone and its peak RSS (``VmHWM``, model loading included). The parent
prints both, the ratios, and checks that both saw the same activations (per-latent firing
counts, BOS position excluded).

By design, not by this set-up: delphi runs the whole model (no cut after the hook's layer,
LM head included) and keeps every non-zero activation, so its memory grows with the tokens;
autointerp cuts the forward pass after the hook's layer and keeps bounded statistics.

    python benchmarks/bench_delphi.py [--tokens 16384] [--rounds 2] [--venv .venv-delphi]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DELPHI = "eai-delphi==0.1.3"
# What `import delphi.latents` needs (cache.py, constructors.py, latents.py, loader.py).
DELPHI_DEPS = [
    "safetensors",
    "numpy",
    "tqdm",
    "jaxtyping",
    "simple_parsing",
    "faiss-cpu",
    "sentence-transformers",
    "blobfile",
    "orjson",
    "asyncer",
]
BATCH = 32


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=16_384)
    ap.add_argument("--ctx-len", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--venv", type=Path, default=ROOT / ".venv-delphi")
    ap.add_argument("--child", choices=["delphi", "autointerp"], help=argparse.SUPPRESS)
    ap.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        spec = json.loads((args.work / "spec.json").read_text())
        result = child_delphi(spec) if args.child == "delphi" else child_autointerp(spec)
        print(json.dumps(result))
        return
    python = ensure_venv(args.venv)
    with tempfile.TemporaryDirectory(prefix="bench-delphi-") as tmp:
        work = Path(tmp)
        spec = prepare(work, args.tokens, args.ctx_len)
        print(
            f"{spec['n_tokens']:,} tokens ({spec['n_windows']} windows of {args.ctx_len}), "
            f"batch {BATCH}, hook {spec['hook_name']} (delphi: {spec['hookpoint']}); "
            f"delphi {version_in(python, 'eai-delphi')} in {args.venv}"
        )
        runs: dict[str, list[dict[str, Any]]] = {"delphi": [], "autointerp": []}
        for _ in range(args.rounds):
            for who, exe in (("delphi", python), ("autointerp", Path(sys.executable))):
                runs[who].append(run_child(exe, who, work))
                r = runs[who][-1]
                print(
                    f"  {who:<10} {r['tok_s']:6.0f} tok/s   peak RSS {r['peak_mb']:6.0f} MB "
                    f"(model loaded {r['loaded_mb']:.0f} MB)"
                )
        vllm = any(r.get("vllm_imported") for r in runs["delphi"])
        print(f"vllm imported by the delphi child: {'yes' if vllm else 'no (nothing stubbed)'}")
        report(runs, work)


def ensure_venv(venv: Path) -> Path:
    """The delphi environment's python, creating the environment when it is missing."""
    python = venv / "bin" / "python"
    ready = venv / ".ready"
    if ready.is_file():
        return python
    print(f"creating {venv} (torch 2.13.0, {DELPHI} --no-deps and what delphi.latents needs)")
    pip = [str(python), "-m", "pip", "install", "--quiet"]
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # The CPU build of torch first: an unpinned torch would pull the CUDA build.
    subprocess.run([*pip, "torch==2.13.0"], check=True)
    subprocess.run([*pip, "--no-deps", DELPHI], check=True)
    subprocess.run([*pip, f"transformers=={version('transformers')}", *DELPHI_DEPS], check=True)
    ready.touch()
    return python


def version_in(python: Path, package: str) -> str:
    code = f"from importlib.metadata import version; print(version({package!r}))"
    out = subprocess.run([python, "-c", code], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def prepare(work: Path, n_tokens: int, ctx_len: int) -> dict[str, Any]:
    """Save the windows (a whole number of batches: delphi drops a partial last batch) and
    what both children need to find the model and the checkpoint."""
    import numpy as np
    from transformers import AutoTokenizer

    from autointerp.corpus import load_windows
    from autointerp.models.hooks import parse_hook_name
    from autointerp.models.offline import offline_model_dir
    from autointerp.saes.formats import resolve_checkpoint
    from autointerp.saes.saelens import saelens_info

    sae_dir = resolve_checkpoint("demo")
    info = saelens_info(sae_dir)
    hook = parse_hook_name(info.hook_name)
    if hook.site != "resid_post" or info.architecture != "topk":
        raise SystemExit(f"expected a TopK SAE on a resid_post hook, got {info}")
    model_dir = offline_model_dir(info.model_name or "smollm2")
    assert model_dir is not None
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    tokens = load_windows("stdlib", tokenizer, n_tokens=n_tokens, ctx_len=ctx_len).tokens
    tokens = tokens[: len(tokens) // BATCH * BATCH]
    np.save(work / "tokens.npy", tokens)
    spec = {
        "model_dir": str(model_dir),
        "sae_dir": str(sae_dir),
        "hook_name": info.hook_name,
        "hookpoint": f"model.layers.{hook.layer}",  # the decoder layer's output, as delphi names it
        "k": info.k,
        "n_windows": len(tokens),
        "n_tokens": int(tokens.size),
        "work": str(work),
    }
    (work / "spec.json").write_text(json.dumps(spec))
    return spec


def run_child(python: Path, who: str, work: Path) -> dict[str, Any]:
    cmd = [str(python), __file__, "--child", who, "--work", str(work)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{who} child failed:\n{proc.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def report(runs: dict[str, list[dict[str, Any]]], work: Path) -> None:
    import numpy as np

    med = {
        who: {key: statistics.median(r[key] for r in rs) for key in ("tok_s", "peak_mb")}
        for who, rs in runs.items()
    }
    ours, theirs = med["autointerp"], med["delphi"]
    for name, m in (("delphi LatentCache", theirs), ("autointerp caching", ours)):
        print(f"{name:<24}: {m['tok_s']:6.0f} tok/s   peak RSS {m['peak_mb']:6.0f} MB (medians)")
    print(
        f"ratios autointerp/delphi: throughput {ours['tok_s'] / theirs['tok_s']:.2f}x, "
        f"peak RSS {ours['peak_mb'] / theirs['peak_mb']:.2f}x ({len(runs['delphi'])} runs each)"
    )
    a = np.load(work / "counts-autointerp.npy")
    b = np.load(work / "counts-delphi.npy")
    diff = np.abs(a - b)
    print(
        f"same activations: {int(a.sum()):,} vs {int(b.sum()):,} firings; per-latent firing "
        f"counts differ for {int((diff > 0).sum())} of {len(a)} latents (max {int(diff.max())})"
    )


def _rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def child_delphi(spec: dict[str, Any]) -> dict[str, Any]:
    """In the delphi environment: delphi's LatentCache with the demo SAE's TopK encoder."""
    import numpy as np
    import torch
    from delphi.latents import LatentCache
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(spec["model_dir"], dtype=torch.float32)
    model.eval().requires_grad_(False)
    saved = load_file(Path(spec["sae_dir"]) / "sae_weights.safetensors")
    weights = {name: tensor.float() for name, tensor in saved.items()}
    k = spec["k"]

    def encode(x: torch.Tensor) -> torch.Tensor:
        # The demo SAE (SAELens topk, b_dec subtracted from the input, no normalisation).
        pre = (x.float() - weights["b_dec"]) @ weights["W_enc"] + weights["b_enc"]
        idx = pre.topk(k, dim=-1, sorted=False).indices
        return torch.zeros_like(pre).scatter_(-1, idx, pre.gather(-1, idx)).relu()

    tokens = torch.from_numpy(np.load(Path(spec["work"]) / "tokens.npy")).long()
    cache = LatentCache(model, {spec["hookpoint"]: encode}, batch_size=BATCH)
    run = lambda: cache.run(tokens.numel(), tokens)  # noqa: E731
    result = _timed(spec, "delphi", run, lambda: _delphi_counts(cache, spec))
    result["vllm_imported"] = "vllm" in sys.modules
    return result


def _delphi_counts(cache: Any, spec: dict[str, Any]) -> Any:
    import torch

    locations = cache.cache.latent_locations[spec["hookpoint"]]  # [n, 3]: window, position, latent
    latents = locations[locations[:, 1] > 0, 2]  # BOS excluded, as autointerp does
    return torch.bincount(latents, minlength=cache.width).numpy()


def child_autointerp(spec: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    from autointerp.cache import cache_activations
    from autointerp.config import CacheConfig
    from autointerp.models.loader import load_subject_model
    from autointerp.saes import load_sae

    sae = load_sae(spec["sae_dir"])
    subject = load_subject_model(spec["model_dir"], device="cpu")
    tokens = np.load(Path(spec["work"]) / "tokens.npy")
    cfg = CacheConfig(device="cpu", batch_size=BATCH)
    box: dict[str, Any] = {}

    def run() -> None:
        box["stats"] = cache_activations(subject, sae, tokens, cfg, seed=0, progress=False)

    def counts() -> Any:
        return box["stats"].fire_count.numpy()

    return _timed(spec, "autointerp", run, counts)


def _timed(
    spec: dict[str, Any], who: str, run: Callable[[], object], counts: Callable[[], Any]
) -> dict[str, Any]:
    """Time ``run()``, save the per-latent firing counts, return the figures."""
    import numpy as np

    loaded = _rss_mb("VmRSS")
    start = time.perf_counter()
    run()
    elapsed = time.perf_counter() - start
    np.save(Path(spec["work"]) / f"counts-{who}.npy", np.asarray(counts(), dtype=np.int64))
    return {
        "tok_s": spec["n_tokens"] / elapsed,
        "seconds": elapsed,
        "loaded_mb": loaded,
        "peak_mb": _rss_mb("VmHWM"),
    }


if __name__ == "__main__":
    main()
