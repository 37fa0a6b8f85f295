"""GPU readiness check: caching in bfloat16 on CUDA, and the in-process vLLM engine backend,
with the shipped SmolLM2 and demo SAE; throughput figures and agreement with the CPU run.

    scripts/gpu_check.sh [--tokens 150000] [--vllm-python PATH] [--allow-cpu]

Part 1 (this environment): the demo SAE's caching pass (forward + SAE encode + statistics)
on CUDA in bfloat16 and float32, tokens/s; then, on the first windows, the per-token latent
activations on CUDA bf16 against CPU float32: relative error, agreement of which latents fire,
and of each latent's strongest window.
Part 2 (``--vllm-python``: a Python with a CUDA build of vLLM, e.g. a venv made by
``pip install vllm`` next to this checkout): our ``vllm`` backend (the engine in process)
judges detection-style prompts and writes explanations; prompts/s, and P(yes) against the
transformers backend on the same weights.

Without a CUDA device it says so and exits 2 (``--allow-cpu`` runs every step on the CPU to
check the script itself; its figures mean nothing for a GPU). Nothing here runs in
``make test``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
N_AGREE = 64
"""Windows compared between the CUDA and the CPU run."""


def _caching(device: str, n_tokens: int) -> dict[str, Any]:
    import numpy as np
    import torch

    from autointerp.cache import bind, cache_activations
    from autointerp.cache.runner import encode_windows
    from autointerp.config import CacheConfig
    from autointerp.corpus import load_windows
    from autointerp.models.loader import load_subject_model
    from autointerp.models.offline import SMOLLM2
    from autointerp.paths import package_data
    from autointerp.saes.formats import load_sae

    sae = load_sae(package_data("demo_sae"))
    out: dict[str, Any] = {"device": device}
    acts: dict[str, np.ndarray] = {}
    runs = [(device, "bfloat16"), (device, "float32"), ("cpu", "float32")]
    for dev, dtype in dict.fromkeys(runs):
        subject = load_subject_model(SMOLLM2.hub_id, device=dev, dtype=dtype)
        windows = load_windows("stdlib", subject.tokenizer, n_tokens=n_tokens, ctx_len=64)
        hook = bind(subject, sae)
        coder = sae.to(subject.device)
        tokens = windows.tokens
        if dev != "cpu" or device == "cpu":
            cfg = CacheConfig(device=dev, dtype=dtype)
            cache_activations(subject, coder, tokens[:64], cfg, seed=0, progress=False)  # warm
            if dev.startswith("cuda"):
                torch.cuda.synchronize()
            start = time.perf_counter()
            cache_activations(subject, coder, tokens, cfg, seed=0, progress=False)
            if dev.startswith("cuda"):
                torch.cuda.synchronize()
            seconds = time.perf_counter() - start
            out[f"{dev} {dtype} tok/s"] = round(tokens.size / seconds)
        parts = [
            a.numpy()
            for _, a in encode_windows(subject, coder, hook, tokens[:N_AGREE], batch_size=16)
        ]
        acts[f"{dev} {dtype}"] = np.concatenate(parts)
        del subject
    ref = acts["cpu float32"]
    for name, got in acts.items():
        if name == "cpu float32":
            continue
        fires, fires_ref = got > 0, ref > 0
        strongest = got.max(axis=1).argmax(axis=0) == ref.max(axis=1).argmax(axis=0)
        live = ref.max(axis=(0, 1)) > 0
        out[f"{name} vs cpu float32"] = {
            "relative_error": float(np.linalg.norm(got - ref) / max(np.linalg.norm(ref), 1e-12)),
            "firing_jaccard": float((fires & fires_ref).sum() / max((fires | fires_ref).sum(), 1)),
            "same_strongest_window": float(strongest[live].mean()) if live.any() else float("nan"),
        }
    return out


def _vllm(python: str, device: str, n_prompts: int) -> dict[str, Any]:
    from autointerp.config import LLMConfig
    from autointerp.llm.local import LocalLLM
    from autointerp.models.loader import load_subject_model
    from autointerp.models.offline import SMOLLM2, offline_model_dir

    model_dir = offline_model_dir(SMOLLM2.hub_id)
    assert model_dir is not None
    prompts = [
        [
            {"role": "system", "content": "Answer every question with Yes or No."},
            {"role": "user", "content": f"Text: item {i} costs {i * 7} dollars.\nIs it a price?"},
        ]
        for i in range(n_prompts)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "in.json"
        answers = Path(tmp) / "out.json"
        engine_args: dict[str, Any] = {}
        env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
        env.setdefault("VLLM_NO_USAGE_STATS", "1")
        if device == "cpu":  # vLLM's CPU build (--allow-cpu), as tests/llm/test_vllm_engine.py
            engine_args = {"dtype": "bfloat16", "enforce_eager": True}
            engine_args["kv_cache_memory_bytes"] = 512 * 2**20
            env |= {"VLLM_TARGET_DEVICE": "cpu", "VLLM_HOST_IP": "127.0.0.1"}
        spec.write_text(
            json.dumps({"model": str(model_dir), "prompts": prompts, "engine": engine_args})
        )
        subprocess.run(
            [python, str(Path(__file__).with_name("gpu_check_vllm.py")), str(spec), str(answers)],
            check=True,
            env=env,
        )
        engine = json.loads(answers.read_text())
    subject = load_subject_model(SMOLLM2.hub_id, device=device, dtype="float32")
    local = LocalLLM(LLMConfig(), subject)
    start = time.perf_counter()
    mine = local.judge(prompts)
    seconds = time.perf_counter() - start
    deltas = [abs(a - b.p_yes) for a, b in zip(engine["p_yes"], mine, strict=True)]
    return {
        "vllm judge prompts/s": round(n_prompts / engine["judge_seconds"], 1),
        "vllm explanations/s": round(engine["n_generated"] / engine["generate_seconds"], 1),
        f"transformers ({device}) judge prompts/s": round(n_prompts / seconds, 1),
        "max |P(yes) vllm - transformers|": round(max(deltas), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=150_000)
    parser.add_argument("--vllm-python", default="", help="a Python with a CUDA build of vLLM")
    parser.add_argument("--prompts", type=int, default=256)
    parser.add_argument("--allow-cpu", action="store_true", help="check the script on a CPU")
    args = parser.parse_args()
    import torch

    if torch.cuda.is_available():
        device = "cuda"
        print(f"device: {torch.cuda.get_device_name(0)}")
    elif args.allow_cpu:
        device = "cpu"
        print("device: CPU (--allow-cpu: checks the script; the figures are not GPU figures)")
    else:
        print("no CUDA device here: nothing to check (use --allow-cpu to test the script)")
        sys.exit(2)
    report: dict[str, Any] = {"caching": _caching(device, args.tokens)}
    if args.vllm_python:
        report["vllm"] = _vllm(args.vllm_python, device, args.prompts)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
