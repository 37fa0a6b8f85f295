"""Build (or reuse) the ground-truth SAE: probes for the concepts on the real subject model,
written as a SAELens checkpoint with its truth table.

    python benchmarks/groundtruth/build.py [--n-tokens 150000] [--out .bench/quality]

Layout of ``<out>/sae-<key>/``: ``cfg.json`` + ``sae_weights.safetensors`` (SAELens
``standard``, ReLU), ``truth.json`` (per latent: concept, right, wrong, probe metrics) and
``truth.csv``. The residuals are cached as ``<out>/resid-<n_tokens>-<hook>.npy`` (fp16), so a
rebuild with other concepts does not run the model again; a finished checkpoint is reused.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

if __package__ in (None, ""):  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from groundtruth.activations import MODEL, load_model, residuals, token_texts, windows
from groundtruth.concepts import CONCEPTS, Concept, label_windows
from groundtruth.probes import Latent, fit_latents

__all__ = ["DEFAULT_DIR", "HOOK", "build", "read_truth"]

log = logging.getLogger(__name__)

HOOK = "blocks.15.hook_resid_post"
"""The hook point of the shipped demo SAE."""
DEFAULT_DIR = Path(__file__).resolve().parents[2] / ".bench" / "quality"
VERSION = 1  # bump when the labelling rules or the probe fitting change


def _key(concepts: Sequence[Concept], n_tokens: int, n_noise: int, seed: int) -> str:
    spec = json.dumps(
        [VERSION, n_tokens, n_noise, seed, HOOK, [(c.name, c.right, c.wrong) for c in concepts]]
    )
    return hashlib.sha256(spec.encode()).hexdigest()[:12]


def build(
    out: Path = DEFAULT_DIR,
    *,
    n_tokens: int = 150_000,
    concepts: Sequence[Concept] = CONCEPTS,
    n_noise: int = 4,
    seed: int = 0,
) -> Path:
    """The checkpoint folder for these settings (built unless it is already there)."""
    folder = out / f"sae-{_key(concepts, n_tokens, n_noise, seed)}"
    if (folder / "truth.json").is_file():
        return folder
    start = time.perf_counter()
    subject = load_model()
    wins = windows(subject, n_tokens)
    resid_path = out / f"resid-{wins.n_windows * wins.ctx_len}-{HOOK}.npy"
    if resid_path.is_file():
        resid = np.load(resid_path).astype(np.float32)
    else:
        resid = residuals(subject, wins.tokens, HOOK)
        out.mkdir(parents=True, exist_ok=True)
        np.save(resid_path, resid.astype(np.float16))
    labels = label_windows(wins.tokens, token_texts(subject.tokenizer), concepts)
    n_win, ctx, d = resid.shape
    x = resid[:, 1:].reshape(-1, d)  # BOS excluded, as the pipeline's statistics do
    y = labels[:, 1:].reshape(-1, len(concepts))
    train = np.repeat(np.arange(n_win) % 5 != 0, ctx - 1)  # every fifth window held out
    latents = fit_latents(x, y, [c.name for c in concepts], train, n_noise=n_noise, seed=seed)
    _write(folder, latents, concepts, subject.name, wins.ctx_len, n_tokens)
    log.info("built %s in %.0f s", folder, time.perf_counter() - start)
    return folder


def _write(
    folder: Path,
    latents: list[Latent],
    concepts: Sequence[Concept],
    model: str,
    ctx_len: int,
    n_tokens: int,
) -> None:
    tmp = folder.with_name(folder.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    w_enc = np.stack([lat.w for lat in latents], axis=1)
    tensors = {
        "W_enc": torch.tensor(w_enc, dtype=torch.float32),
        "b_enc": torch.tensor([lat.b for lat in latents], dtype=torch.float32),
        "W_dec": torch.tensor(np.stack([lat.direction for lat in latents]), dtype=torch.float32),
        "b_dec": torch.zeros(w_enc.shape[0], dtype=torch.float32),
    }
    save_file(tensors, str(tmp / "sae_weights.safetensors"))
    cfg = {
        "architecture": "standard",
        "d_in": int(w_enc.shape[0]),
        "d_sae": len(latents),
        "dtype": "float32",
        "device": "cpu",
        "apply_b_dec_to_input": False,
        "normalize_activations": "none",
        "metadata": {
            "model_name": MODEL if model == MODEL else model,
            "hook_name": HOOK,
            "hook_head_index": None,
            "prepend_bos": True,
            "context_size": ctx_len,
            "dataset_path": "stdlib",
            "training_tokens": n_tokens,
            "trained_with": "benchmarks/groundtruth: one logistic-regression probe per concept",
        },
    }
    (tmp / "cfg.json").write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")
    by_name = {c.name: c for c in concepts}
    truth = []
    for i, lat in enumerate(latents):
        c = by_name.get(lat.name)
        truth.append(
            {
                "latent": i,
                "concept": lat.name if c else "noise",
                "right": c.right if c else "noise",
                "wrong": list(c.wrong) if c else [],
                "probe": {k: round(v, 4) for k, v in lat.metrics.items()},
            }
        )
    (tmp / "truth.json").write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
    with (tmp / "truth.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["latent", "concept", "right", "wrong"])
        for row in truth:
            writer.writerow([row["latent"], row["concept"], row["right"], " | ".join(row["wrong"])])
    tmp.replace(folder) if not folder.exists() else None
    if tmp.exists():  # a concurrent build finished first
        import shutil

        shutil.rmtree(tmp)


def read_truth(folder: Path) -> list[dict[str, object]]:
    """truth.json of a built checkpoint."""
    data: list[dict[str, object]] = json.loads((folder / "truth.json").read_text("utf-8"))
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-tokens", type=int, default=150_000)
    parser.add_argument("--n-noise", type=int, default=4)
    parser.add_argument("--out", type=Path, default=DEFAULT_DIR)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    folder = build(args.out, n_tokens=args.n_tokens, n_noise=args.n_noise)
    print(f"checkpoint: {folder}")
    print(
        f"{'latent':>6} {'concept':<15} {'auroc':>6} {'f1':>5} {'prec':>5} {'recall':>6} "
        f"{'base':>6} {'density':>7}"
    )
    for row in read_truth(folder):
        p = row["probe"]
        assert isinstance(p, dict)
        print(
            f"{row['latent']:>6} {row['concept']:<15} {p.get('auroc', float('nan')):>6.3f} "
            f"{p.get('f1', float('nan')):>5.2f} {p.get('precision', float('nan')):>5.2f} "
            f"{p.get('recall', float('nan')):>6.2f} {p.get('base_rate', float('nan')):>6.3f} "
            f"{p['density']:>7.3f}"
        )


if __name__ == "__main__":
    main()
