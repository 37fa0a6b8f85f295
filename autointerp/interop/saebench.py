"""SAEBench's autointerp eval output (sae_bench/evals/autointerp: ``eval_output.py``'s
``AutoInterpEvalOutput``, written by ``main.py``'s ``run_eval``)::

    <to>/<release>_<sae_id>_eval_results.json     ('/' in the name replaced by '_')

``eval_result_metrics.autointerp`` holds ``autointerp_score`` (the mean over latents of the
share of correct yes/no predictions of the chosen scorer, positives and negatives alike:
SAEBench's own per-latent score) and ``autointerp_std_dev`` (their sample standard
deviation, as ``torch.std``; 0 for a single latent). ``eval_result_unstructured`` maps each
latent to SAEBench's per-latent record: ``latent``, ``explanation``, ``predictions`` and
``correct seqs`` (1-based positions of the items predicted / truly active), ``score``,
``logs``. ``eval_config`` is SAEBench's ``AutoInterpEvalConfig`` filled from the run config;
``eval_id`` is the run id. SAEBench keeps one explanation per latent: the latent's first
usable one. Reading keeps every latent's ``explanation``.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from autointerp import __version__
from autointerp.errors import InteropError
from autointerp.interop.base import (
    InteropFormat,
    Options,
    RunData,
    explanations_frame,
    read_json,
    rows_of,
    write_bytes,
)

__all__ = ["SAEBenchFormat", "result_filename"]


def result_filename(release: str, sae_id: str) -> str:
    """SAEBench's ``general_utils.get_results_filepath`` naming."""
    return f"{release}_{sae_id}_eval_results.json".replace("/", "_")


def _eval_config(run: RunData, n_latents: int) -> dict[str, Any]:
    """SAEBench's AutoInterpEvalConfig fields, from the run config where they correspond."""
    cfg = run.config
    corpus, cache = cfg.get("corpus") or {}, cfg.get("cache") or {}
    sampling, explain = cfg.get("sampling") or {}, cfg.get("explain") or {}
    return {
        "model_name": run.model,
        "n_latents": n_latents,
        "override_latents": None,
        "dead_latent_threshold": float(sampling.get("min_examples", 0)),
        "random_seed": int(cfg.get("seed", 0)),
        "dataset_name": str(corpus.get("path", "")),
        "llm_context_size": int(corpus.get("ctx_len", 0)),
        "llm_batch_size": int(cache.get("batch_size", 0)),
        "llm_dtype": str(run.inputs.get("model_dtype", "")),
        "buffer": 0,
        "no_overlap": True,
        "act_threshold_frac": 0.0,
        "total_tokens": int(corpus.get("n_tokens", 0)),
        "scoring": True,
        "max_tokens_in_explanation": int((cfg.get("llm") or {}).get("max_new_tokens", 0)),
        "use_demos_in_explanation": explain.get("explainer") != "stats",
        "n_top_ex_for_generation": int(sampling.get("n_explain", 0)),
        "n_iw_sampled_ex_for_generation": 0,
        "n_top_ex_for_scoring": int(sampling.get("n_score", 0)),
        "n_random_ex_for_scoring": int(sampling.get("n_nonactivating", 0)),
        "n_iw_sampled_ex_for_scoring": 0,
    }


def _per_latent(run: RunData, scorer: str) -> dict[str, dict[str, Any]]:
    first = run.first_explanations()[["latent", "explanation_id", "explanation"]]
    items = run.scored_items(scorer).merge(first, on=["latent", "explanation_id"])
    items = items[items["predicted"].notna()]
    out: dict[str, dict[str, Any]] = {
        # scoring=False's record in SAEBench: explained, not scored
        str(int(r["latent"])): {
            "latent": int(r["latent"]),
            "explanation": str(r["explanation"]),
            "logs": f"autointerp run {run.run_id}: no {scorer} judgements",
        }
        for r in rows_of(first)
        if r["latent"] not in set(items["latent"])
    }
    for key, unsorted in items.groupby("latent"):
        latent = int(str(key))
        group = unsorted.sort_values("item")
        positions = range(1, len(group) + 1)
        predicted = [i for i, p in zip(positions, group["predicted"], strict=True) if p]
        active = [i for i, a in zip(positions, group["label"], strict=True) if a]
        correct = (group["predicted"].astype(bool) == group["label"].astype(bool)).mean()
        out[str(latent)] = {  # SAEBench's record of a scored latent
            "latent": latent,
            "explanation": str(group["explanation"].iloc[0]),
            "predictions": predicted,
            "correct seqs": active,
            "score": float(correct),
            "logs": f"autointerp run {run.run_id}, scorer {scorer}",
        }
    return out


class SAEBenchFormat(InteropFormat):
    name = "saebench"
    description = "SAEBench autointerp eval output (<release>_<sae_id>_eval_results.json)"

    def export(self, run: RunData, to: Path, options: Options) -> list[Path]:
        per_latent = _per_latent(run, options.scorer)
        if not any("score" in r for r in per_latent.values()):
            raise InteropError(
                f"run {run.run_id}: no latent has judgements of scorer {options.scorer!r} "
                "(SAEBench's score needs a yes/no scorer: detection or fuzz; --scorer picks)"
            )
        scores = [r["score"] for r in per_latent.values() if "score" in r]
        mean = sum(scores) / len(scores)
        std = (
            math.sqrt(sum((s - mean) ** 2 for s in scores) / (len(scores) - 1))
            if len(scores) > 1
            else 0.0
        )
        created = datetime.fromisoformat(run.created_at) if run.created_at else datetime.now()
        release = options.sae_lens_release or "autointerp"
        sae_id = options.sae_lens_id or run.sae_sha256
        output = {
            "eval_type_id": "autointerp",
            "eval_config": _eval_config(run, len(per_latent)),
            "eval_id": run.run_id,
            "datetime_epoch_millis": int(created.timestamp() * 1000),
            "eval_result_metrics": {
                "autointerp": {"autointerp_score": mean, "autointerp_std_dev": std}
            },
            "eval_result_details": [],
            "sae_bench_commit_hash": f"none (written by autointerp {__version__})",
            "sae_lens_id": options.sae_lens_id,
            "sae_lens_release_id": options.sae_lens_release,
            "sae_lens_version": None,
            "sae_cfg_dict": {
                "architecture": run.inputs.get("architecture"),
                "hook_name": run.hook_name,
                "model_name": run.model,
                "d_sae": len(run.latents),
                "sae_sha256": run.sae_sha256,
                "format": run.inputs.get("sae_format"),
            },
            "eval_result_unstructured": per_latent,
        }
        text = json.dumps(output, indent=2, ensure_ascii=False, allow_nan=False)
        return [write_bytes(to / result_filename(release, sae_id), text.encode("utf-8"))]

    def read(self, path: Path, options: Options) -> pd.DataFrame:
        files = sorted(path.glob("*_eval_results.json")) if path.is_dir() else [path]
        if not files:
            raise InteropError(f"{path}: no SAEBench result files (*_eval_results.json)")
        if len(files) > 1:
            names = ", ".join(f.name for f in files)
            raise InteropError(f"{path}: several SAEBench result files ({names}); pass one")
        data = read_json(files[0], "SAEBench result file")
        where = f"SAEBench result file {files[0]}"
        if not isinstance(data, dict) or data.get("eval_type_id") != "autointerp":
            got = data.get("eval_type_id") if isinstance(data, dict) else type(data).__name__
            raise InteropError(f"{where}: field 'eval_type_id' must be 'autointerp', got {got!r}")
        per_latent = data.get("eval_result_unstructured")
        if not isinstance(per_latent, dict):
            raise InteropError(f"{where}: field 'eval_result_unstructured' must map latents")
        rows: list[tuple[int, str, str]] = []
        origin = f"saebench:{files[0].name}"
        for key, record in per_latent.items():
            field = f"eval_result_unstructured[{key!r}]"
            if not isinstance(record, dict) or not isinstance(record.get("explanation"), str):
                raise InteropError(f"{where}: {field} lacks a string 'explanation'")
            try:
                latent = int(str(record.get("latent", key)))
            except (TypeError, ValueError):
                raise InteropError(f"{where}: {field}: the latent must be an integer") from None
            if record["explanation"].strip():
                rows.append((latent, record["explanation"], origin))
        return explanations_frame(sorted(rows), files[0])
