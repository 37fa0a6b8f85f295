"""The comparison commands: ``compare`` and ``search-explanations``; thin calls into
:mod:`autointerp.compare`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from autointerp.cli.options import DEFAULT_OUT

__all__ = ["COMMANDS", "add_commands"]

DEFAULT_COMPARE_OUT = "autointerp-compare"


def _embedder_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--store",
        default=DEFAULT_OUT,
        help=f"Store (output directory of 'autointerp run') to read (default: {DEFAULT_OUT}).",
    )
    p.add_argument(
        "--embedder",
        default="minilm",
        help="Explanation embedder: 'minilm' (default, offline), 'st:<name or path>' (a "
        "sentence-transformers model, offline) or 'openai:<model>' (with --embed-url).",
    )
    p.add_argument("--embed-url", help="Base URL of an OpenAI-compatible embeddings endpoint.")
    p.add_argument(
        "--embed-api-key-env",
        default="OPENAI_API_KEY",
        help="Env variable holding the endpoint's API key (default: OPENAI_API_KEY).",
    )
    p.add_argument(
        "--embed-cache",
        help="Folder caching embeddings across calls (default: the autointerp cache dir).",
    )
    p.add_argument("--no-embed-cache", action="store_true", help="Do not cache embeddings.")


def add_commands(sub: Any) -> None:
    """Add ``compare`` and ``search-explanations`` to the top-level subparsers."""
    cmp = sub.add_parser(
        "compare",
        help="Compare checkpoints by the meaning of their latents' explanations.",
        description="Embed every explanation of two or more checkpoints, match their latents "
        "one-to-one (and each latent's best match), and compare the matched similarities "
        "with a baseline; where two checkpoints share a decoder space, also match decoder "
        "directions. Writes pairs.parquet, summary.json and PNG plots under --out.",
    )
    cmp.add_argument(
        "checkpoints",
        nargs="*",
        metavar="CKPT",
        help="Checkpoints: a sae_sha256 prefix or a run id (see 'autointerp scores'); the "
        "same one twice compares it with itself.",
    )
    cmp.add_argument(
        "--all", action="store_true", help="Every checkpoint with explanations in the store."
    )
    _embedder_options(cmp)
    cmp.add_argument(
        "--out",
        default=DEFAULT_COMPARE_OUT,
        help=f"Folder for the outputs (default: {DEFAULT_COMPARE_OUT}).",
    )
    cmp.add_argument(
        "--close-threshold",
        type=float,
        default=0.7,
        help="Similarity at which a best match counts as a close counterpart (default 0.7).",
    )
    cmp.add_argument("--no-decoders", action="store_true", help="Skip decoder matching.")
    cmp.add_argument(
        "--exact-max",
        type=int,
        default=4096,
        help="Largest side matched exactly (Hungarian); larger ones use top-k candidates.",
    )
    cmp.add_argument("--top-k", type=int, default=32, help="Candidates per latent beyond that.")
    cmp.add_argument("--seed", type=int, default=0, help="Seed of the random baselines.")

    search = sub.add_parser(
        "search-explanations",
        help="Find latents whose explanations match a text query.",
        description="Rank the latents of every checkpoint in the store (or those given) by "
        "the similarity of their explanation to the query.",
    )
    search.add_argument("query", help="What to look for, in words.")
    _embedder_options(search)
    search.add_argument(
        "--checkpoint",
        action="append",
        help="Only this checkpoint (sae_sha256 prefix or run id); repeatable.",
    )
    search.add_argument("--limit", type=int, default=20, help="Rows to show (default 20).")
    search.add_argument("--min-similarity", type=float, help="Only rows at least this similar.")
    search.add_argument("--format", choices=("table", "csv", "json"), default="table")


def _embedder(args: argparse.Namespace) -> Any:
    from autointerp.compare import EmbedderOptions, cached, make_embedder
    from autointerp.paths import cache_dir

    opts = EmbedderOptions(base_url=args.embed_url, api_key_env=args.embed_api_key_env)
    embedder = make_embedder(args.embedder, opts)
    if args.no_embed_cache:
        return embedder
    return cached(embedder, args.embed_cache or cache_dir("embeddings"))


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def _print_pair(p: dict[str, Any]) -> None:
    a, b = p["a"], p["b"]
    print(
        f"{a['checkpoint'][:8]} {a['hook_name']} ({a['n_latents']} latents)  vs  "
        f"{b['checkpoint'][:8]} {b['hook_name']} ({b['n_latents']} latents)"
    )
    ks = p["ks"]
    print(
        f"  explanations, matched one-to-one ({p['matching']}): mean {_num(p['matched']['mean'])}"
        f" | baseline {_num(p['baseline']['mean'])} | random pairs "
        f"{_num(p['random_pairs']['mean'])}" + (f" | KS p={ks['pvalue']:.2g}" if ks else "")
    )
    close = p["share_close"]
    print(
        f"  close counterpart (>= {close['threshold']}): A->B {_pct(close['a_to_b'])}, "
        f"B->A {_pct(close['b_to_a'])} | baseline {_pct(close['baseline'])}"
    )
    dec = p["decoders"]
    if dec["status"] == "ok":
        print(
            f"  decoders: matched cosine {_num(dec['matched_cosine']['mean'])} | baseline "
            f"{_num(dec['baseline_cosine']['mean'])} | same partner as the explanations: "
            f"{_pct(dec['agreement'])} (chance {_pct(dec['agreement_chance'])})"
        )
    else:
        print(f"  decoders: skipped ({dec['reason']})")


def _cmd_compare(args: argparse.Namespace) -> int:
    from autointerp.compare import CompareOptions, all_checkpoint_specs, compare, write_report
    from autointerp.errors import UserInputError

    specs = list(args.checkpoints)
    if args.all:
        specs += all_checkpoint_specs(args.store)
    if len(specs) < 2:
        raise UserInputError(
            "compare: name at least 2 checkpoints (sae_sha256 prefixes or run ids), or --all"
        )
    options = CompareOptions(
        close_threshold=args.close_threshold,
        exact_max=args.exact_max,
        top_k=args.top_k,
        decoders=not args.no_decoders,
        seed=args.seed,
    )
    comparison = compare(
        args.store,
        specs,
        _embedder(args),
        options,
        log=lambda msg: print(msg, file=sys.stderr),
    )
    files = write_report(comparison, args.out)
    for i, pair in enumerate(comparison.summary()["pairs"]):
        if i:
            print()
        _print_pair(pair)
    print(f"\nwrote {', '.join(str(p) for p in files.values())}")
    return 0


def _cmd_search(args: argparse.Namespace) -> int:
    from autointerp.compare import search_explanations

    df = search_explanations(
        args.store,
        args.query,
        _embedder(args),
        checkpoints=args.checkpoint,
        limit=args.limit,
        min_similarity=args.min_similarity,
    )
    if args.format == "csv":
        df.to_csv(sys.stdout, index=False)
    elif args.format == "json":
        print(df.to_json(orient="records", indent=2))
    elif len(df):
        df = df.assign(checkpoint=df["checkpoint"].str[:16], similarity=df["similarity"].round(3))
        print(df.to_string(index=False))
    else:
        print("no matching explanations")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "compare": _cmd_compare,
    "search-explanations": _cmd_search,
}
