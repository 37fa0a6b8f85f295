"""The options that build a run config, shared by 'run' and 'submit', and the run config
they give (laid over the defaults by :mod:`autointerp.config.build`)."""

from __future__ import annotations

import argparse
import json
from itertools import chain
from pathlib import Path
from typing import Any

from autointerp.config import RunConfig
from autointerp.config.build import build_config, given
from autointerp.errors import ConfigError

__all__ = [
    "DEFAULT_OUT",
    "add_checkpoint_options",
    "add_config_options",
    "add_run_options",
    "config_from_args",
]

DEFAULT_OUT = "autointerp-out"


def add_run_options(parser: argparse.ArgumentParser, *, service: bool = False) -> None:
    """Every option of 'run': the config options, --out and --no-progress. 'submit' takes
    them all too (``service=True``: --out is recorded in the job, --no-progress applies to
    --wait), so the two commands cannot drift apart."""
    add_config_options(parser)
    if service:
        parser.add_argument(
            "--out",
            help="Where the finished job writes its tables, a directory or fsspec URL that the "
            "workers can reach; recorded in the job (default: the service's results location, "
            "AUTOINTERP_RESULTS_URL or the store).",
        )
        parser.add_argument(
            "--no-progress",
            action="store_true",
            help="With --wait: print no progress lines, only the job's final state.",
        )
    else:
        parser.add_argument(
            "--out", default=DEFAULT_OUT, help=f"Output directory (default: {DEFAULT_OUT})."
        )
        parser.add_argument("--no-progress", action="store_true", help="Hide progress bars.")


def add_config_options(run: argparse.ArgumentParser) -> None:
    """The options that build a run config (part of :func:`add_run_options`)."""
    run.add_argument(
        "--sae",
        help="SAE/transcoder checkpoint: a folder or file in any supported format, a hub id "
        "'org/repo/path', 'random:<ckpt>' or 'neurons:<hook>[:k=K]' (default: the demo SAE).",
    )
    run.add_argument("--hook", help="Override the checkpoint's hook point.")
    add_checkpoint_options(run)
    run.add_argument(
        "--model", help="Subject model: local dir or hub id (default: the checkpoint's)."
    )
    run.add_argument("--latents", help="'A:B', 'i,j,k' or 'live:N' (default: live:32).")
    run.add_argument(
        "--corpus", help="'stdlib' (default), a folder of .txt/.md, .jsonl or .parquet."
    )
    run.add_argument("--text-column", help="Text column of JSONL/Parquet corpora (default: text).")
    run.add_argument("--n-tokens", type=int, help="Tokens to cache (default: 150000).")
    run.add_argument("--ctx-len", type=int, help="Tokens per window incl. BOS (default: 32).")
    run.add_argument(
        "--llm",
        help="'local' (default, in-process SmolLM2), 'local:<model>', an OpenAI-compatible base "
        "URL such as http://localhost:8000/v1, or 'openai'.",
    )
    run.add_argument("--llm-model", help="Model name on the LLM server (default: its first model).")
    run.add_argument(
        "--api-key-env", help="Env variable holding the API key (default: OPENAI_API_KEY)."
    )
    run.add_argument(
        "--explanations",
        help="CSV/Parquet with latent,explanation columns: score these instead of explaining.",
    )
    run.add_argument(
        "--explainer",
        help="Explainer (default: grounded): grounded, stats (no LLM), default, contrastive, "
        "token_pairs, output, best_of_n.",
    )
    run.add_argument(
        "--refine",
        action="store_true",
        default=None,
        help="Re-explain latents that score low on a validation split with other explainers "
        "(explain.refine_with) and keep the best candidate; the summary reports the gain.",
    )
    run.add_argument(
        "--scorers",
        help="Comma-separated scorers (default: detection,fuzz): detection, fuzz, embedding, "
        "simulation, surprisal, intruder, intervention (see 'autointerp list').",
    )
    run.add_argument("--seed", type=int, help="Seed (default: 0).")
    run.add_argument("--config", help="JSON file with a full or partial run config.")
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="Override any config field by dotted name, e.g. --set sampling.n_explain=10 "
        "(see 'autointerp config').",
    )


def add_checkpoint_options(parser: argparse.ArgumentParser) -> None:
    """--sae-format and --hook-out (every command that loads a checkpoint)."""
    parser.add_argument(
        "--sae-format",
        "--format",
        dest="sae_format",
        metavar="NAME",
        help="Load the checkpoint as this format (see 'autointerp list') instead of detecting "
        "it from the tensors its files hold (--format is the same option).",
    )
    parser.add_argument(
        "--hook-out",
        help="A transcoder's output hook point (steering and the intervention scorer need it "
        "when the checkpoint names none), e.g. blocks.15.hook_mlp_out.",
    )


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """Defaults <- --config file <- explicit flags <- --set overrides <- --llm/--llm-model
    (:func:`autointerp.config.build.build_config`)."""
    partials = [_read_config_file(args.config)] if args.config else []
    flags = {
        "sae": args.sae,
        "model": args.model,
        "hook": args.hook,
        "hook_out": args.hook_out,
        "sae_format": args.sae_format,
        "latents": args.latents,
        "seed": args.seed,
        "explanations": args.explanations,
        "corpus.path": args.corpus,
        "corpus.text_column": args.text_column,
        "corpus.n_tokens": args.n_tokens,
        "corpus.ctx_len": args.ctx_len,
        "scoring.scorers": args.scorers,
        "explain.explainer": args.explainer,
        "explain.refine": args.refine,
        "llm.api_key_env": args.api_key_env,
    }
    # A generator: each --set is read as it is assigned, so the first mistake is the one named.
    assign = chain(given(flags), (_parse_set(item) for item in args.set))
    return build_config(*partials, assign=assign, llm=args.llm, llm_model=args.llm_model)


def _read_config_file(path: str) -> dict[str, Any]:
    try:
        loaded = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"--config {path}: {exc}") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"--config {path}: expected a JSON object")
    return loaded


def _parse_set(item: str) -> tuple[str, Any]:
    """``KEY=VALUE`` as ``(KEY, VALUE)``, VALUE read as JSON where it is JSON, else text."""
    key, sep, raw = item.partition("=")
    if not sep:
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.strip(), value
