"""The commands that work in this process, without the service: ``run``, ``inspect``,
``scores``, ``serve``, ``config`` and ``list``; each a thin call into the library."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from typing import Any

from autointerp.cli.options import (
    DEFAULT_OUT,
    add_checkpoint_options,
    add_run_options,
    config_from_args,
)
from autointerp.config import config_docs
from autointerp.errors import ConfigError
from autointerp.statuses import ExplanationStatus, ScoreStatus

__all__ = ["COMMANDS", "add_commands"]


def add_commands(sub: Any) -> None:
    """Add ``run``, ``inspect``, ``scores``, ``serve``, ``config`` and ``list`` to the
    top-level parser's subparsers."""
    run = sub.add_parser(
        "run",
        help="Explain and score latents (with no options: the offline demo).",
        description=(
            "Cache SAE activations over a corpus, sample examples, explain each latent with an "
            "LLM and score the explanations; write Parquet tables under --out. With no options "
            "it runs the demo: the shipped SmolLM2 SAE, the Python stdlib corpus and the local "
            "SmolLM2 as explainer, on the first 32 live latents."
        ),
    )
    add_run_options(run)

    inspect = sub.add_parser(
        "inspect",
        help="Show what a checkpoint is, without running the model.",
        description="Print a checkpoint's format, architecture, sizes and hook point.",
    )
    inspect.add_argument(
        "checkpoint",
        help="Checkpoint folder or file (SAELens, sparsify, Gemma Scope, OpenAI, "
        "dictionary_learning), a hub id, 'random:<ckpt>', or 'demo'.",
    )
    inspect.add_argument("--hook", help="Override the checkpoint's hook point.")
    add_checkpoint_options(inspect)
    _add_scores(sub)
    _add_serve(sub)
    sub.add_parser("config", help="List every run-config field with its default and meaning.")
    sub.add_parser(
        "list", help="List registered formats, architectures, backends, explainers, scorers."
    )


def _add_scores(sub: Any) -> None:
    scores = sub.add_parser(
        "scores",
        help="Query stored scores.",
        description="Print scores (joined with their explanations) from an output directory.",
    )
    scores.add_argument("--out", default=DEFAULT_OUT, help="Output directory to read.")
    scores.add_argument("--run", help="Only this run id.")
    scores.add_argument(
        "--checkpoint", help="Only this checkpoint: its sae_sha256 or a prefix of it."
    )
    scores.add_argument("--latent", type=int, help="Only this latent.")
    scores.add_argument("--scorer", help="Only this scorer.")
    scores.add_argument(
        "--min-score",
        type=float,
        help="Only rows whose main metric (AUROC; correlation, accuracy or log-prob change "
        "for simulation, intruder, intervention) is >= this.",
    )
    scores.add_argument(
        "--contains", help="Only explanations containing this text (case-insensitive)."
    )
    scores.add_argument(
        "--sort",
        default="key",
        help="Sort by: key (default: run, latent, explanation, scorer), score (the main "
        "metric), latent, run_id, checkpoint, scorer, created_at, or a metric column.",
    )
    scores.add_argument("--desc", action="store_true", help="Sort in descending order.")
    scores.add_argument("--limit", type=int, help="Show at most this many rows.")
    scores.add_argument("--offset", type=int, default=0, help="Skip this many rows first.")
    scores.add_argument("--format", choices=("table", "csv", "json"), default="table")


def _add_serve(sub: Any) -> None:
    serve = sub.add_parser(
        "serve",
        help="Serve the HTTP API (jobs, checkpoints, latents, scores).",
        description="Run the HTTP API with uvicorn; OpenAPI docs at /docs. Writes (POST) "
        "need 'Authorization: Bearer $AUTOINTERP_API_TOKEN'.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="Interface (default: 127.0.0.1).")
    serve.add_argument("--port", type=int, default=8000, help="Port (default: 8000).")
    serve.add_argument(
        "--store", help="Store directory (default: $AUTOINTERP_STORE or autointerp-store)."
    )


def _cmd_run(args: argparse.Namespace) -> int:
    from autointerp.cli.summary import summary_table
    from autointerp.pipeline import run

    cfg = config_from_args(args)
    if args.no_progress:  # unattended: one line per stage and per finished batch
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        run_log = logging.getLogger("autointerp.run")
        run_log.addHandler(handler)
        run_log.setLevel(logging.INFO)
        run_log.propagate = False
    start = time.perf_counter()
    result = run(cfg, args.out, progress=not args.no_progress)
    elapsed = time.perf_counter() - start
    print(summary_table(result.explanations, result.scores))
    stages = ", ".join(f"{k} {v:.0f}s" for k, v in result.timings.items())
    print(f"\nrun {result.run_id} finished in {elapsed:.0f} s ({stages})")
    if result.llm_requests:
        n_latents = max(1, result.explanations["latent"].nunique())
        print(
            f"LLM requests: {result.llm_requests:,} ({result.llm_requests / n_latents:.1f} per "
            "latent)"
        )
    n_expl = (
        int((result.explanations["status"] == ExplanationStatus.LLM_ERROR).sum())
        if len(result.explanations)
        else 0
    )
    n_scores = (
        int(result.scores["status"].isin([ScoreStatus.PARTIAL, ScoreStatus.FAILED]).sum())
        if len(result.scores)
        else 0
    )
    if n_expl or n_scores:
        print(
            f"{n_expl} explanations and {n_scores} score rows failed after retries; run the "
            "same command again to redo only those"
        )
    if result.skipped_documents:
        print(f"corpus: {result.skipped_documents} documents skipped (not text; see the manifest)")
    print("results:")
    for name, path in result.files.items():
        print(f"  {name:<13} {path}")
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    from autointerp.saes import load_sae, load_saes

    if str(args.checkpoint).startswith("neurons:"):
        raise ConfigError("inspect reads checkpoint files; neurons:<hook> has none")
    fmt = args.sae_format
    saes = load_saes(args.checkpoint, sae_format=fmt)
    if args.hook or args.hook_out:
        saes = [load_sae(args.checkpoint, hook=args.hook, hook_out=args.hook_out, sae_format=fmt)]
    for i, sae in enumerate(saes):
        if i:
            print()
        _print_info(sae)
    return 0


def _print_info(sae: Any) -> None:
    info = sae.info
    rows: list[tuple[str, Any]] = [
        ("path", info.path),
        ("format", info.format),
        ("architecture", info.architecture),
        ("kind", "transcoder" if info.transcoder else "sparse autoencoder"),
        ("d_in", info.d_in),
        ("d_sae", info.d_sae),
    ]
    if info.transcoder:
        rows += [("d_out", sae.d_out), ("hook point (in)", info.hook_name)]
        rows += [("hook point (out)", info.hook_name_out or "(not named: pass --hook-out)")]
    else:
        rows += [("hook point", info.hook_name or "(not named: pass --hook)")]
    rows += [
        ("model", info.model_name or "(not named: pass --model)"),
        ("k", info.k if info.k is not None else "-"),
        ("signed latents", f"yes: {sae.n_units} units (+/-)" if sae.signed else "no"),
        ("apply_b_dec_to_input", info.apply_b_dec_to_input),
        ("normalize_activations", info.normalize_activations),
        ("skip connection", sae.has_skip),
        ("weights dtype", info.dtype),
        ("sha256", info.sha256),
    ]
    if info.normalize_activations in ("expected_average_only_in", "covariance_whitening"):
        rows.append(("note", "this normalisation is applied as identity at inference, as SAELens"))
    rows += list(info.extra.items())
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


def _cmd_scores(args: argparse.Namespace) -> int:
    from autointerp.store.filters import ScoreQuery
    from autointerp.store.search import scores_page

    query = ScoreQuery(
        checkpoint=args.checkpoint,
        run_id=args.run,
        latent=args.latent,
        scorer=args.scorer,
        min_score=args.min_score,
        contains=args.contains,
        sort=args.sort,
        descending=args.desc,
        limit=args.limit,
        offset=args.offset,
    )
    total, df = scores_page(args.out, query)
    if args.format == "csv":
        df.to_csv(sys.stdout, index=False)
    elif args.format == "json":
        print(df.to_json(orient="records", indent=2, date_format="iso"))
    elif len(df):
        print(df.to_string(index=False))
        if len(df) < total:
            first = args.offset + 1
            print(f"\nrows {first}-{first + len(df) - 1} of {total}")
    else:
        print("no scores found" + (f" (offset {args.offset} of {total})" if total else ""))
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    import os

    import uvicorn

    from autointerp.api import create_app
    from autointerp.service.settings import absolute_store, get_settings

    if args.store:
        # The environment too, so that job submission (autointerp.tasks) sees the same store.
        os.environ["AUTOINTERP_STORE"] = absolute_store(args.store)
    app = create_app(get_settings())
    print(
        f"web page: http://{args.host}:{args.port}/ui/  API docs: http://{args.host}:{args.port}/docs"
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


def _cmd_config(_args: argparse.Namespace) -> int:
    for name, default, doc in config_docs():
        print(f"{name} = {default}\n    {doc}")
    return 0


def _cmd_list(_args: argparse.Namespace) -> int:
    from autointerp.explain import EXPLAINERS
    from autointerp.interop import INTEROP_FORMATS
    from autointerp.llm import BACKENDS
    from autointerp.quality import explainer_note, quality_source, scorer_note
    from autointerp.saes import ARCHITECTURES, FORMATS
    from scorers import SCORERS

    registries: list[tuple[str, Any]] = [
        ("checkpoint formats", FORMATS),
        ("SAE architectures", ARCHITECTURES),
        ("LLM backends", BACKENDS),
        ("explainers", EXPLAINERS),
        ("scorers", SCORERS),
        ("export/import formats", INTEROP_FORMATS),
    ]
    for title, reg in registries:
        print(f"{title}: {', '.join(reg.names())}")
    notes = {"explainer": explainer_note, "scorer": scorer_note}
    for kind, reg in (("explainer", EXPLAINERS), ("scorer", SCORERS)):
        measured = [(n, notes[kind](n)) for n in reg.names()]
        if any(note for _, note in measured):
            print(f"\n{kind}s measured by make bench-quality ({quality_source()}):")
            for name, note in measured:
                print(f"  {name:<14} {note or 'not measured'}")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": _cmd_run,
    "inspect": _cmd_inspect,
    "scores": _cmd_scores,
    "serve": _cmd_serve,
    "config": _cmd_config,
    "list": _cmd_list,
}
