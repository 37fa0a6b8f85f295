"""Results into (and explanations out of) the tools researchers already use.

``export_run`` writes a finished run in another tool's layout; ``import_explanations`` reads
the explanations of such files into an explanations file that ``autointerp run
--explanations`` scores. One module per format, each registered in ``INTEROP_FORMATS``:

* ``neuronpedia``: Neuronpedia's export folders (features, activations, explanations as
  ``batch-<n>.jsonl.gz``; our scores as its explanation scores);
* ``saebench``: SAEBench's autointerp eval output JSON;
* ``delphi``: delphi's ``explanations/`` and ``scores/<scorer>/`` files.

None of these tools is needed to write or read their files.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from autointerp.errors import InteropError
from autointerp.interop.base import InteropFormat, Options, RunData, load_run
from autointerp.interop.delphi import DelphiFormat
from autointerp.interop.neuronpedia import NeuronpediaFormat
from autointerp.interop.saebench import SAEBenchFormat
from autointerp.registry import Registry
from autointerp.store.atomic import atomic_write

__all__ = [
    "INTEROP_FORMATS",
    "InteropFormat",
    "Options",
    "RunData",
    "export_run",
    "import_explanations",
    "load_run",
    "write_explanations",
]

INTEROP_FORMATS: Registry[InteropFormat] = Registry("interop format")
for _format in (NeuronpediaFormat(), SAEBenchFormat(), DelphiFormat()):
    INTEROP_FORMATS.add(_format.name, _format)


def export_run(
    root: Path | str, run: str, fmt: str, to: Path | str, options: Options | None = None
) -> list[Path]:
    """Write run ``run`` (an id or a unique prefix) of the output directory ``root`` in
    format ``fmt`` under the folder ``to``; return the files written. Exporting again
    rewrites the same files."""
    exporter = INTEROP_FORMATS.get(fmt)
    data = load_run(root, run)
    if data.ok_explanations().empty:
        raise InteropError(f"run {data.run_id} under {root} has no usable explanations to export")
    return exporter.export(data, Path(to), options or Options())


def import_explanations(
    path: Path | str, fmt: str, to: Path | str | None = None, options: Options | None = None
) -> pd.DataFrame:
    """The explanations in ``path`` (a file or folder of format ``fmt``): columns
    ``latent``, ``explanation``, ``source``; written to ``to`` (.csv, .tsv or .parquet) when
    given."""
    path = Path(path).expanduser()
    if not path.exists():
        raise InteropError(f"{path} does not exist")
    df = INTEROP_FORMATS.get(fmt).read(path, options or Options())
    if to is not None:
        write_explanations(df, Path(to))
    return df


def write_explanations(df: pd.DataFrame, path: Path) -> Path:
    """An explanations file ``load_explanations`` reads (columns latent, explanation, ...),
    written atomically; the suffix picks CSV, TSV or Parquet."""
    if path.suffix not in (".csv", ".tsv", ".parquet"):
        raise InteropError(f"explanations file {path}: expected a .csv, .tsv or .parquet name")

    def write(tmp: Path) -> None:
        if path.suffix == ".parquet":
            df.to_parquet(tmp, index=False)
        else:
            df.to_csv(tmp, index=False, sep="\t" if path.suffix == ".tsv" else ",")

    atomic_write(path, write)
    return path
