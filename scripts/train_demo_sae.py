"""Train the demo SAE shipped in autointerp/data/demo_sae (run once; the demo never trains).

A TopK SAE (4096 latents, k=32) on the residual stream after block 15 of SmolLM2-135M-Instruct,
trained with EleutherAI's sparsify ``Trainer`` on English prose from Python sources (this
Python's standard library plus a few installed packages' docstrings and comments), then
converted to SAELens format (cfg.json + sae_weights.safetensors, fp16) and checked: the
converted file must encode exactly like sparsify's own SparseCoder.

    pip install -e '.[train]'
    python scripts/train_demo_sae.py --out autointerp/data/demo_sae

Runs on a 2-core CPU in roughly half an hour for the default 1.5M tokens.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from autointerp.corpus import iter_documents, python_prose
from autointerp.models.loader import load_subject_model

MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
LAYER = 15
EXTRA_PACKAGES = ("transformers", "torch", "numpy", "pandas", "datasets", "sklearn")


def documents():
    yield from iter_documents("stdlib")
    for name in EXTRA_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            continue
        root = Path(next(iter(spec.submodule_search_locations)))
        for file in sorted(root.rglob("*.py")):
            if "tests" in file.parts or "test" in file.parts:
                continue
            yield from python_prose(file)


def tokenize(tokenizer, n_tokens: int, ctx_len: int) -> np.ndarray:
    body = ctx_len - 1
    stream: list[int] = []
    sep = tokenizer("\n\n", add_special_tokens=False)["input_ids"]
    for doc in documents():
        stream.extend(tokenizer(doc, add_special_tokens=False)["input_ids"] + sep)
        if len(stream) >= n_tokens:
            break
    n = len(stream) // body
    arr = np.asarray(stream[: n * body], dtype=np.int64).reshape(n, body)
    bos = np.full((n, 1), tokenizer.bos_token_id, dtype=np.int64)
    return np.concatenate([bos, arr], axis=1)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--out", default="autointerp/data/demo_sae")
    ap.add_argument("--tokens", type=int, default=1_500_000)
    ap.add_argument("--latents", type=int, default=4096)
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--ctx-len", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import datasets
    import sparsify
    from sparsify import SparseCoder, SparseCoderConfig, TrainConfig, Trainer

    torch.manual_seed(args.seed)
    subject = load_subject_model(MODEL, device="cpu")
    model, tok = subject.model, subject.tokenizer

    t0 = time.time()
    tokens = tokenize(tok, args.tokens, args.ctx_len)
    rng = np.random.default_rng(args.seed)
    rng.shuffle(tokens)
    held_out, train = tokens[:256], tokens[256:]
    print(
        f"tokenised {tokens.size:,} tokens in {time.time() - t0:.0f}s; training on {train.size:,}"
    )

    # Only blocks 0..LAYER matter for the hook: drop the rest to make each pass ~2x faster.
    model.model.layers = model.model.layers[: LAYER + 1]
    model.config.num_hidden_layers = LAYER + 1
    model.lm_head = torch.nn.Identity()  # the fvu loss never looks at logits

    ds = datasets.Dataset.from_dict({"input_ids": train.tolist()})
    ds.set_format("torch")
    work = Path(tempfile.mkdtemp(prefix="demo-sae-"))
    cfg = TrainConfig(
        SparseCoderConfig(num_latents=args.latents, k=args.k),
        batch_size=args.batch_size,
        hookpoints=[f"layers.{LAYER}"],
        exclude_tokens=[tok.bos_token_id],
        auxk_alpha=1 / 32,
        dead_feature_threshold=250_000,
        log_to_wandb=False,
        save_every=10**9,
        save_dir=str(work),
        run_name="demo",
    )
    t0 = time.time()
    Trainer(cfg, ds, model).fit()
    train_s = time.time() - t0
    coder = SparseCoder.load_from_disk(work / "demo" / f"layers.{LAYER}", device="cpu")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    save_saelens(
        coder,
        out,
        args,
        train.size,
        train_s,
        sparsify_version=sparsify.__version__ if hasattr(sparsify, "__version__") else "1.3",
    )
    check(coder, out, model, held_out, tok.bos_token_id)
    shutil.rmtree(work, ignore_errors=True)


def save_saelens(
    coder, out: Path, args, n_train: int, train_s: float, sparsify_version: str
) -> None:
    from safetensors.torch import save_file

    weights = {
        "W_enc": coder.encoder.weight.detach().T.contiguous(),
        "b_enc": coder.encoder.bias.detach().clone(),
        "W_dec": coder.W_dec.detach().contiguous(),
        "b_dec": coder.b_dec.detach().clone(),
    }
    save_file(
        {k: v.to(torch.float16) for k, v in weights.items()}, str(out / "sae_weights.safetensors")
    )
    cfg = {
        "architecture": "topk",
        "d_in": int(coder.d_in),
        "d_sae": int(coder.num_latents),
        "k": int(args.k),
        "dtype": "float32",
        "device": "cpu",
        "apply_b_dec_to_input": True,
        "normalize_activations": "none",
        "reshape_activations": "none",
        "rescale_acts_by_decoder_norm": False,
        "metadata": {
            "model_name": MODEL,
            "hook_name": f"blocks.{LAYER}.hook_resid_post",
            "hook_head_index": None,
            "prepend_bos": True,
            "context_size": args.ctx_len,
            "dataset_path": "python stdlib + docstrings/comments of " + ", ".join(EXTRA_PACKAGES),
            "trained_with": f"eai-sparsify {sparsify_version} Trainer (signum, auxk 1/32)",
            "training_tokens": int(n_train),
            "training_seconds": round(train_s),
            "weights_dtype": "float16",
            "python": sys.version.split()[0],
            "torch": torch.__version__,
        },
    }
    (out / "cfg.json").write_text(json.dumps(cfg, indent=2) + "\n")


@torch.no_grad()
def check(coder, out: Path, model, held_out: np.ndarray, bos: int) -> None:
    """The shipped file must encode like sparsify (up to the fp16 rounding of the weights)."""
    from autointerp.models.hooks import parse_hook_name, run_to_hooks
    from autointerp.saes import load_sae

    sae = load_sae(out)
    hook = parse_hook_name(sae.info.hook_name)
    ids = torch.as_tensor(held_out[:64])
    acts = run_to_hooks(model, ids, [hook])[hook][:, 1:].reshape(-1, sae.d_in)
    coder16 = coder.to(torch.float16).to(torch.float32)  # same rounding as the file
    ref = coder16.encode(acts)
    ours = sae.encode(acts)
    dense_ref = torch.zeros_like(ours).scatter_(-1, ref.top_indices, ref.top_acts)
    err = (dense_ref - ours).abs().max().item()
    recon = sae.decode(ours)
    fvu = ((acts - recon) ** 2).sum() / ((acts - acts.mean(0)) ** 2).sum()
    fired = (ours > 0).any(0).float().mean().item()
    print(f"max |sparsify - autointerp| encode difference: {err:.2e}")
    print(f"held-out FVU: {fvu.item():.3f}; latents firing on {ids.numel():,} tokens: {fired:.1%}")
    assert err < 1e-3, err


if __name__ == "__main__":
    main()
