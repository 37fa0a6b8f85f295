"""``autointerp export`` and ``autointerp import``: a run into Neuronpedia's, SAEBench's or
delphi's files, and their explanations back into an explanations file; thin calls into
:mod:`autointerp.interop`."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from autointerp.cli.options import DEFAULT_OUT

__all__ = ["COMMANDS", "add_commands"]


def _formats() -> list[str]:
    from autointerp.interop import INTEROP_FORMATS

    return INTEROP_FORMATS.names()


def _name_options(p: argparse.ArgumentParser, importing: bool) -> None:
    only = " Only rows of this one." if importing else ""
    p.add_argument(
        "--model-id", help="Neuronpedia model id (default: the subject model's name)." + only
    )
    p.add_argument(
        "--source-id",
        help="Neuronpedia source id, its 'layer' column (default: "
        "<layer>-autointerp-<checkpoint hash>)." + only,
    )
    p.add_argument(
        "--hookpoint", help="delphi module name in file names (default: the hook point)." + only
    )


def add_commands(sub: Any) -> None:
    """Add ``export`` and ``import`` to the top-level subparsers."""
    formats = _formats()
    exp = sub.add_parser(
        "export",
        help="Write a run as Neuronpedia, SAEBench or delphi files.",
        description="Write a finished run's explanations and scores in another tool's layout "
        "under --to: Neuronpedia's export folders (features, activations, explanations, "
        "explanation scores as batch-<n>.jsonl.gz), SAEBench's autointerp eval output JSON, "
        "or delphi's explanations/ and scores/<scorer>/ files.",
    )
    exp.add_argument("run", metavar="RUN", help="Run id (or a unique prefix of one).")
    exp.add_argument("--format", required=True, choices=formats, help="The tool's layout.")
    exp.add_argument("--to", required=True, metavar="DIR", help="Folder to write into.")
    exp.add_argument(
        "--out", default=DEFAULT_OUT, help=f"Output directory holding the run ({DEFAULT_OUT})."
    )
    _name_options(exp, importing=False)
    exp.add_argument(
        "--scorer",
        default="detection",
        help="SAEBench: the yes/no scorer whose judgements make autointerp_score (detection).",
    )
    exp.add_argument("--sae-lens-release", help="SAEBench: the checkpoint's SAELens release.")
    exp.add_argument("--sae-lens-id", help="SAEBench: the checkpoint's SAELens SAE id.")

    imp = sub.add_parser(
        "import",
        help="Read Neuronpedia, SAEBench or delphi explanations into an explanations file.",
        description="Read the explanations of another tool's files into a CSV/TSV/Parquet "
        "explanations file (columns latent, explanation, source), which 'autointerp run "
        "--explanations FILE' scores.",
    )
    imp.add_argument("path", metavar="FILE_OR_DIR", help="The tool's file or folder.")
    imp.add_argument("--format", required=True, choices=formats, help="The tool's layout.")
    imp.add_argument(
        "--to",
        default="explanations.csv",
        metavar="FILE",
        help="Explanations file to write: .csv, .tsv or .parquet (default: explanations.csv).",
    )
    _name_options(imp, importing=True)


def _options(args: argparse.Namespace) -> Any:
    from autointerp.interop import Options

    return Options(
        model_id=args.model_id,
        source_id=args.source_id,
        hookpoint=args.hookpoint,
        scorer=getattr(args, "scorer", "detection"),
        sae_lens_release=getattr(args, "sae_lens_release", None),
        sae_lens_id=getattr(args, "sae_lens_id", None),
    )


def _cmd_export(args: argparse.Namespace) -> int:
    from autointerp.interop import export_run

    files = export_run(args.out, args.run, args.format, args.to, _options(args))
    print(f"{len(files)} files written under {args.to}")
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    from autointerp.interop import import_explanations

    df = import_explanations(args.path, args.format, args.to, _options(args))
    print(
        f"{len(df)} explanations of {df['latent'].nunique()} latents written to {args.to}; "
        f"score them with: autointerp run --explanations {args.to} ..."
    )
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "export": _cmd_export,
    "import": _cmd_import,
}
