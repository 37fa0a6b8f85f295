"""The rows of Neuronpedia's tables for one run (see autointerp/interop/neuronpedia.py for
the layout): each dict has the fields of the matching dataclass in Neuronpedia's
utils/neuronpedia-utils/neuronpedia_utils/db_models (the converters write ``obj.__dict__``)
and the columns of the Prisma model of the same name."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import pandas as pd

from autointerp.interop.base import RunData, rows_of

__all__ = ["CREATOR_ID", "SCORE_TYPES", "NeuronpediaRows"]

CREATOR_ID = "clkht01d40000jv08hvalcvly"
"""The 'bot' user every Neuronpedia instance seeds (prisma/seed.ts), its exporters' default
creator/author id."""
SCORE_TYPES = {
    "detection": ("eleuther_recall", "balanced_accuracy"),
    "fuzz": ("eleuther_fuzz", "balanced_accuracy"),
    "embedding": ("eleuther_embedding", "auroc"),
}
"""Our scorer -> Neuronpedia's score type and the metric it stores (its autointerp server
stores balanced accuracy for fuzz/detection and AUROC for embedding). Other scorers become
``autointerp_<scorer>`` with their primary metric."""


def _id(*parts: object) -> str:
    """A deterministic cuid-shaped id (25 characters, starting with 'c')."""
    return "c" + hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:24]


def _num(x: Any) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def _llm_name(run: RunData) -> str:
    """``backend:model@url`` -> ``model`` (the name Neuronpedia's model tables use)."""
    name = run.llm.split(":", 1)[-1].split("@", 1)[0]
    return name or "unknown"


class NeuronpediaRows:
    """The rows of one run, under one model id and source id."""

    def __init__(self, run: RunData, model_id: str, source_id: str, set_name: str) -> None:
        self.run, self.model_id, self.source_id, self.set_name = run, model_id, source_id, set_name
        self.created = run.created_at
        self.where = {"modelId": model_id, "layer": source_id}

    def _explainer(self, source: str) -> tuple[str, str | None]:
        """An explanation's Neuronpedia type name and explanation model (None: no LLM)."""
        kind, _, name = str(source).partition(":")
        if kind == "generated":
            return f"autointerp_{name}", None if name == "stats" else _llm_name(self.run)
        return "autointerp_user", None

    def config_rows(self) -> dict[str, list[dict[str, Any]]]:
        types = sorted({self._explainer(s)[0] for s in self.run.ok_explanations()["source"]})
        models = sorted(
            {m for s in self.run.ok_explanations()["source"] if (m := self._explainer(s)[1])}
        )
        scorers = sorted(set(self.run.scores["scorer"]) - set(SCORE_TYPES))
        common = {"creatorName": "autointerp", "createdAt": self.created, "featured": False}
        return {
            "explanation_type": [
                {
                    "name": t,
                    "displayName": t,
                    "description": f"autointerp explainer {t.removeprefix('autointerp_')}",
                    "isAttention": False,
                    "settings": None,
                    "url": None,
                    "creatorId": CREATOR_ID,
                    "updatedAt": self.created,
                    **common,
                }
                for t in types
            ],
            "explanation_model_type": [
                {"name": m, "displayName": m, "description": m, "openRouterModelId": None}
                | {"url": None, "updatedAt": self.created, **common}
                for m in models
            ],
            "explanation_score_type": [
                {
                    "name": f"autointerp_{s}",
                    "displayName": f"autointerp {s}",
                    "description": f"autointerp's {s} scorer",
                    "isAttention": False,
                    "scoreDescription": None,
                    "scorerModel": None,
                    "settings": None,
                    "url": None,
                    "creatorId": CREATOR_ID,
                    "updatedAt": self.created,
                    **common,
                }
                for s in scorers
            ],
            "explanation_score_model": [
                {"name": m, "displayName": m, "description": m, "openRouterModelId": None}
                | {"url": None, "updatedAt": self.created, **common}
                for m in ([_llm_name(self.run)] if len(self.run.scores) else [])
            ],
        }

    def model_row(self) -> dict[str, Any]:
        return {
            "id": self.model_id,
            "instruct": "instruct" in self.run.model.lower(),
            "creatorId": CREATOR_ID,
            "displayNameShort": self.model_id,
            "displayName": self.run.model,
            "tlensId": None,
            "dimension": None,
            "visibility": "PUBLIC",
            "defaultSourceSetName": self.set_name,
            "defaultSourceId": self.source_id,
            "inferenceEnabled": False,
            "layers": 0,
            "neuronsPerLayer": 0,
            "createdAt": self.created,
            "owner": "",
            "updatedAt": self.created,
            "website": None,
        }

    def sourceset_row(self) -> dict[str, Any]:
        return {
            "modelId": self.model_id,
            "name": self.set_name,
            "creatorId": CREATOR_ID,
            "hasDashboards": True,
            "visibility": "PUBLIC",
            "description": f"autointerp run {self.run.run_id} (checkpoint {self.run.sae_sha256})",
            "type": "",
            "creatorName": "autointerp",
            "urls": [],
            "creatorEmail": None,
            "releaseName": None,
            "defaultOfModelId": None,
            "defaultRange": 1,
            "defaultShowBreaks": True,
            "showDfa": False,
            "showCorrelated": False,
            "showHeadAttribution": False,
            "showUmap": False,
            "createdAt": self.created,
        }

    def source_row(self) -> dict[str, Any]:
        corpus = self.run.config.get("corpus") or {}
        return {
            "id": self.source_id,
            "modelId": self.model_id,
            "setName": self.set_name,
            "creatorId": CREATOR_ID,
            "hasDashboards": True,
            "inferenceEnabled": False,
            "inferenceHosts": [],
            "saelensRelease": None,
            "saelensSaeId": None,
            "hfRepoId": None,
            "hfFolderId": None,
            "visibility": "PUBLIC",
            "defaultOfModelId": None,
            "hasUmap": False,
            "hasUmapLogSparsity": False,
            "hasUmapClusters": False,
            "num_prompts": self.run.inputs.get("n_windows"),
            "num_tokens_in_prompt": corpus.get("ctx_len"),
            "dataset": corpus.get("path"),
            "notes": f"hook {self.run.hook_name}; autointerp run {self.run.run_id}",
            "createdAt": self.created,
        }

    def feature_rows(self) -> list[dict[str, Any]]:
        empty: dict[str, Any] = {
            k: []
            for k in [
                "vector",
                "topkCosSimIndices",
                "topkCosSimValues",
                "neuron_alignment_indices",
                "neuron_alignment_values",
                "neuron_alignment_l1",
                "correlated_neurons_indices",
                "correlated_neurons_pearson",
                "correlated_neurons_l1",
                "correlated_features_indices",
                "correlated_features_pearson",
                "correlated_features_l1",
                "neg_str",
                "neg_values",
                "pos_str",
                "pos_values",
                "freq_hist_data_bar_heights",
                "freq_hist_data_bar_values",
                "logits_hist_data_bar_heights",
                "logits_hist_data_bar_values",
                "decoder_weights_dist",
            ]
        }
        return [
            {
                **self.where,
                "index": str(int(row["latent"])),
                "creatorId": CREATOR_ID,
                "createdAt": self.created,
                "maxActApprox": _num(row["max_act"]) or 0.0,
                "hasVector": False,
                "vectorLabel": None,
                "vectorDefaultSteerStrength": 10,
                "hookName": self.run.hook_name,
                "frac_nonzero": _num(row["density"]) or 0.0,
                "sourceSetName": self.set_name,
                **empty,
            }
            for row in rows_of(self.run.latents.sort_values("latent"))
        ]

    def activation_rows(self) -> list[dict[str, Any]]:
        ex = self.run.examples[self.run.examples["role"].isin(["explain", "score"])]
        ex = ex.sort_values(["latent", "max_act"], ascending=[True, False])
        rows = []
        for row in rows_of(ex.drop_duplicates(["latent", "window"])):
            values = [float(v) for v in row["acts"]]
            peak = max(range(len(values)), key=values.__getitem__) if values else 0
            rows.append(
                {
                    "id": _id(self.run.run_id, "activation", row["latent"], row["window"]),
                    "tokens": [str(t) for t in row["tokens"]],
                    "index": str(int(row["latent"])),
                    "layer": self.source_id,
                    "modelId": self.model_id,
                    "maxValue": values[peak] if values else 0.0,
                    "maxValueTokenIndex": peak,
                    "minValue": min(values, default=0.0),
                    "values": values,
                    "creatorId": CREATOR_ID,
                    "dataSource": "autointerp",
                    "dataIndex": str(int(row["window"])),
                    "dfaValues": [],
                    "dfaTargetIndex": None,
                    "dfaMaxValue": None,
                    "createdAt": self.created,
                    "lossValues": [],
                    "logitContributions": None,
                    "binMin": None,
                    "binMax": None,
                    "binContains": None,
                    "qualifyingTokenIndex": None,
                    "zIndices": None,
                    "zValues": [],
                }
            )
        return rows

    def explanation_rows(self) -> list[dict[str, Any]]:
        rows = []
        for row in rows_of(self.run.ok_explanations()):
            type_name, model_name = self._explainer(row["source"])
            rows.append(
                {
                    "id": _id(self.run.run_id, "explanation", row["latent"], row["explanation_id"]),
                    **self.where,
                    "index": str(int(row["latent"])),
                    "description": str(row["explanation"]),
                    "authorId": CREATOR_ID,
                    "embedding": None,
                    "triggeredById": None,
                    "typeName": type_name,
                    "explanationModelName": model_name,
                    "notes": f"autointerp run {self.run.run_id}, "
                    f"explanation {row['explanation_id']}",
                    "createdAt": self.created,
                }
            )
        return rows

    def _breakdown(self) -> dict[tuple[int, int, str], list[dict[str, Any]]]:
        """Per scored (latent, explanation, scorer) of detection and fuzz, the items in the
        ``jsonDetails`` shape Neuronpedia stores for its eleuther scores."""
        out: dict[tuple[int, int, str], list[dict[str, Any]]] = {}
        for scorer in ("detection", "fuzz"):
            for row in rows_of(self.run.scored_items(scorer)):
                p = _num(row["p_yes"])
                predicted = None if pd.isna(row["predicted"]) else bool(row["predicted"])
                out.setdefault((row["latent"], row["explanation_id"], scorer), []).append(
                    {
                        "text": "".join(row["tokens"]),
                        "distance": int(row["quantile"]),
                        "ground_truth": bool(row["label"]),
                        "prediction": predicted,
                        "highlighted": scorer == "fuzz",
                        "correct": None if predicted is None else predicted == bool(row["label"]),
                        "probability": p,
                        "conditional_probability": p,
                        "activations": row["acts"],
                        "str_tokens": row["tokens"],
                    }
                )
        return out

    def score_rows(self) -> list[dict[str, Any]]:
        from autointerp.primary_metrics import primary_metrics
        from autointerp.store.schema import SCORED

        ok = self.run.ok_explanations()[["latent", "explanation_id"]]
        scores = self.run.scores[self.run.scores["status"].isin(SCORED)].merge(ok)
        metrics = primary_metrics()
        breakdown = self._breakdown()
        rows = []
        for row in rows_of(scores.sort_values(["latent", "explanation_id", "scorer"])):
            type_name, metric = SCORE_TYPES.get(
                row["scorer"], (f"autointerp_{row['scorer']}", metrics.get(row["scorer"], "auroc"))
            )
            value = _num(row[metric])
            if value is None:
                continue
            key = (row["latent"], row["explanation_id"], row["scorer"])
            details = breakdown.get(key)
            rows.append(
                {
                    "id": _id(
                        self.run.run_id,
                        "score",
                        row["latent"],
                        row["explanation_id"],
                        row["scorer"],
                    ),
                    "initiatedByUserId": CREATOR_ID,
                    "value": value,
                    "explanationId": _id(
                        self.run.run_id, "explanation", row["latent"], row["explanation_id"]
                    ),
                    "explanationScoreTypeName": type_name,
                    "explanationScoreModelName": _llm_name(self.run),
                    "jsonDetails": json.dumps(details, ensure_ascii=False) if details else "",
                    "createdAt": self.created,
                }
            )
        return rows
