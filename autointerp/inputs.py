"""Parse and validate user inputs that are not files of the SAE or corpus: the latent
selection and a user-supplied explanations file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from autointerp.errors import ConfigError, ExplanationsError

__all__ = ["LatentSelection", "load_explanations", "parse_latents"]


@dataclass(frozen=True)
class LatentSelection:
    """Either explicit latent indices, or 'the first ``live`` latents that can be explained'."""

    explicit: tuple[int, ...] | None = None
    live: int | None = None


def _int(text: str, where: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"{where}: expected 'A:B', 'i,j,k' or 'live:N'") from None


def parse_latents(spec: str, d_sae: int) -> LatentSelection:
    """'A:B' (B exclusive), 'i,j,k', 'i' or 'live:N'; indices must be in [0, d_sae)."""
    text = spec.strip()
    where = f"latents {spec!r}"
    if text.startswith("live:"):
        n = _int(text[5:], where)
        if n <= 0:
            raise ConfigError(f"{where}: live:N needs N >= 1")
        return LatentSelection(live=min(n, d_sae))
    if ":" in text:
        a, b = text.split(":", 1)
        start = _int(a, where) if a.strip() else 0
        stop = _int(b, where) if b.strip() else d_sae
        if not 0 <= start < stop <= d_sae:
            raise ConfigError(
                f"{where} is out of range: the SAE has {d_sae} latents, so A:B needs "
                f"0 <= A < B <= {d_sae}"
            )
        return LatentSelection(explicit=tuple(range(start, stop)))
    values = tuple(_int(x, where) for x in text.split(",") if x.strip())
    if not values:
        raise ConfigError(f"{where}: no latents given")
    bad = [v for v in values if not 0 <= v < d_sae]
    if bad:
        raise ConfigError(f"{where}: {bad} out of range; the SAE has latents 0..{d_sae - 1}")
    return LatentSelection(explicit=tuple(dict.fromkeys(values)))


def load_explanations(path_str: str, d_sae: int) -> pd.DataFrame:
    """Columns latent, explanation_id, explanation; several rows per latent allowed."""
    path = Path(path_str).expanduser()
    if not path.is_file():
        raise ExplanationsError(f"explanations file {path} does not exist")
    try:
        if path.suffix == ".parquet":
            df = pd.read_parquet(path)
        elif path.suffix in (".csv", ".tsv"):
            df = pd.read_csv(path, sep="\t" if path.suffix == ".tsv" else ",")
        else:
            raise ExplanationsError(f"explanations file {path}: expected .csv, .tsv or .parquet")
    except ExplanationsError:
        raise
    except Exception as exc:
        raise ExplanationsError(f"cannot read explanations file {path}: {exc}") from exc
    missing = {"latent", "explanation"} - set(df.columns)
    if missing:
        raise ExplanationsError(
            f"explanations file {path} lacks column(s) {sorted(missing)}; it has {list(df.columns)}"
        )
    if df.empty:
        raise ExplanationsError(f"explanations file {path} has no rows")
    latents = pd.to_numeric(df["latent"], errors="coerce")
    if latents.isna().any() or (latents % 1 != 0).any():
        raise ExplanationsError(f"explanations file {path}: column 'latent' must hold integers")
    latents = latents.astype(int)
    bad = sorted(set(latents[(latents < 0) | (latents >= d_sae)]))
    if bad:
        raise ExplanationsError(
            f"explanations file {path}: latents {bad[:10]} out of range; the SAE has 0..{d_sae - 1}"
        )
    text = df["explanation"].astype("string").fillna("").str.strip()
    if (text == "").any():
        rows = [int(i) + 2 for i in df.index[text == ""][:5]]
        raise ExplanationsError(f"explanations file {path}: empty explanation on line(s) {rows}")
    out = pd.DataFrame({"latent": latents, "explanation": text.astype(str)})
    out["explanation_id"] = out.groupby("latent").cumcount()
    return out.reset_index(drop=True)
