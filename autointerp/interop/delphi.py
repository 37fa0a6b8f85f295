"""delphi's result folders, as ``delphi/__main__.py`` writes them and
``delphi/log/result_analysis.py``'s ``load_data`` reads them::

    <to>/run_config.json                          a subset of delphi's RunConfig
    <to>/explanations/<module>_latent<i>.txt      the explanation as a JSON string
    <to>/scores/<scorer>/<module>_latent<i>.txt   a JSON list of delphi ClassifierOutput dicts
    <to>/log/hookpoint_firing_counts.pt           {module: firing count per latent} (torch)

``<module>_latent<i>`` is delphi's ``Latent`` repr; the module is the run's hook point (or
``hookpoint``). Only the yes/no scorers have a delphi counterpart (detection and fuzz); each
item is ``str_tokens``, ``activations``, ``distance`` (the example's quantile, 0 for a
negative), ``activating`` (what the scorer should answer), ``prediction``, ``probability``
(our P(yes)) and ``correct``; a failed judgement has ``prediction`` and ``correct`` null, as
delphi writes them. delphi keeps one explanation per latent: the latent's first usable one.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd

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
from autointerp.store.atomic import atomic_write

__all__ = ["DelphiFormat"]

SCORERS = ("detection", "fuzz")
"""Our scorers whose items are delphi ClassifierOutput lists (delphi's scorers of the same
names)."""
_NAME = re.compile(r"^(?P<module>.+)_latent(?P<index>\d+)$")


def _module(run: RunData, options: Options) -> str:
    return (options.hookpoint or run.hook_name).replace("/", "--")


def _items(run: RunData, scorer: str) -> dict[int, list[dict[str, Any]]]:
    first = run.first_explanations()[["latent", "explanation_id"]]
    items = run.scored_items(scorer).merge(first, on=["latent", "explanation_id"])
    out: dict[int, list[dict[str, Any]]] = {}
    for row in rows_of(items):
        failed = pd.isna(row["predicted"])
        predicted = None if failed else bool(row["predicted"])
        out.setdefault(int(row["latent"]), []).append(
            {
                "str_tokens": row["tokens"],
                "activations": row["acts"],
                "distance": int(row["quantile"]),
                "activating": bool(row["label"]),
                "prediction": predicted,
                "probability": None if pd.isna(row["p_yes"]) else float(row["p_yes"]),
                "correct": None if predicted is None else predicted == bool(row["label"]),
            }
        )
    return out


def _run_config(run: RunData, module: str) -> dict[str, Any]:
    cfg = run.config
    sampling = cfg.get("sampling") or {}
    scorers = [s for s in (cfg.get("scoring") or {}).get("scorers", []) if s in SCORERS]
    return {
        "model": run.model,
        "sparse_model": str(cfg.get("sae", "")),
        "hookpoints": [module],
        "explainer_model": run.llm,
        "explainer": str((cfg.get("explain") or {}).get("explainer", "")),
        "scorers": scorers,
        "name": f"autointerp-{run.run_id}",
        "constructor_cfg": {"min_examples": int(sampling.get("min_examples", 0))},
        "sampler_cfg": {
            "n_examples_train": int(sampling.get("n_explain", 0)),
            "n_examples_test": int(sampling.get("n_score", 0)),
        },
    }


class DelphiFormat(InteropFormat):
    name = "delphi"
    description = "delphi result folders (explanations/, scores/<scorer>/)"

    def export(self, run: RunData, to: Path, options: Options) -> list[Path]:
        import torch

        module = _module(run, options)

        def dump(value: Any) -> bytes:  # orjson.dumps's bytes: compact UTF-8
            return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

        files = [
            write_bytes(
                to / "run_config.json", json.dumps(_run_config(run, module), indent=4).encode()
            )
        ]
        for row in rows_of(run.first_explanations()):
            name = f"{module}_latent{int(row['latent'])}.txt"
            files.append(write_bytes(to / "explanations" / name, dump(str(row["explanation"]))))
        for scorer in SCORERS:
            for latent, items in sorted(_items(run, scorer).items()):
                name = f"{module}_latent{latent}.txt"
                files.append(write_bytes(to / "scores" / scorer / name, dump(items)))
        counts = torch.zeros(len(run.latents), dtype=torch.int64)
        latents = run.latents.sort_values("latent")
        counts[torch.tensor(latents["latent"].to_numpy())] = torch.tensor(
            latents["fire_count"].to_numpy()
        )
        path = to / "log" / "hookpoint_firing_counts.pt"
        atomic_write(path, lambda tmp: torch.save({module: counts}, tmp))
        return [*files, path]

    def read(self, path: Path, options: Options) -> pd.DataFrame:
        folder = path / "explanations" if (path / "explanations").is_dir() else path
        files = [folder] if folder.is_file() else sorted(folder.glob("*.txt"))
        if not files:
            raise InteropError(
                f"{path}: no delphi explanations (explanations/<module>_latent<i>.txt)"
            )
        rows: list[tuple[int, str, str]] = []
        modules: set[str] = set()
        for file in files:
            match = _NAME.match(file.stem)
            if not match:
                raise InteropError(
                    f"{file}: expected a delphi explanation file named <module>_latent<index>.txt"
                )
            module = match["module"]
            if options.hookpoint and module != options.hookpoint.replace("/", "--"):
                continue
            text = read_json(file, "delphi explanation file")
            if not isinstance(text, str):
                raise InteropError(f"{file}: expected a JSON string, got {type(text).__name__}")
            modules.add(module)
            if text.strip():
                rows.append((int(match["index"]), text, f"delphi:{module}"))
        if len(modules) > 1:
            raise InteropError(
                f"{path}: explanations of several modules ({', '.join(sorted(modules))}); "
                "pick one with --hookpoint"
            )
        return explanations_frame(sorted(rows), path)
