"""Refinement (``--refine``): re-explain the latents whose first explanation scores low on a
validation split, with other explainers, and keep the best candidate.

Three disjoint example sets per latent: the explain examples are split in alternating halves
(``best_of_n.split_explain``): every explainer writes from the first half, and the second half
(positives) with the record's negatives is the **validation** set that
``explain.selection_scorer`` scores candidates on. The held-out ``record.score`` examples,
on which the final scorers report, are never seen by the explainers or by the selection, so
nothing is tuned on the test examples.

1. The configured explainer writes the first candidate; it is scored on the validation set.
2. Latents whose validation value is below ``explain.refine_below`` (or whose first candidate
   is unusable) get one candidate from each of ``explain.refine_with`` (e.g. contrastive,
   output-centric, best-of-n), each scored on the validation set.
3. The highest validation value wins (ties go to the first candidate).

The kept explanation's ``raw`` is JSON ``{"refine": {...}}`` with every candidate (explainer,
text, status, validation value) and the first and the chosen value; the run summary reports
the validation gain over the refined latents (``refine_report``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from autointerp.config import ExplainConfig
from autointerp.explain.base import EXPLAINERS, ExplainContext, Explainer
from autointerp.explain.best_of_n import _value, split_explain
from autointerp.llm.base import Messages
from autointerp.records import Explanation, LatentRecord
from autointerp.statuses import ExplanationStatus
from scorers.base import SCORERS, ScoringContext

__all__ = ["RefiningExplainer", "refine_report"]


@dataclass
class _Latent:
    record: LatentRecord
    writer: LatentRecord
    validation: LatentRecord
    candidates: list[tuple[str, Explanation]] = field(default_factory=list)
    values: list[float] = field(default_factory=list)


def _usable(e: Explanation) -> bool:
    return e.status == ExplanationStatus.OK and bool(e.text)


class RefiningExplainer(Explainer):
    """Wraps the configured explainer (``base``) with validation-split refinement."""

    name = "refine"

    def __init__(self, cfg: ExplainConfig, base: Explainer) -> None:
        super().__init__(cfg)
        self.base = base
        self.prompt_version = base.prompt_version
        self.others = [EXPLAINERS.get(n)(cfg) for n in cfg.refine_with if n != base.name]
        self.scorer = SCORERS.get(cfg.selection_scorer)()
        self.needs_model = base.needs_model or any(o.needs_model for o in self.others)

    def prompt(self, record: LatentRecord) -> Messages:
        return self.base.prompt(record)

    def explain(self, records: Sequence[LatentRecord], ctx: ExplainContext) -> list[Explanation]:
        if not records:
            return []
        latents = []
        for r in records:
            shown, held = split_explain(r.explain)
            writer = replace(r, explain=shown, score=[])
            latents.append(_Latent(r, writer, replace(r, explain=shown, score=held)))
        self._add(latents, self.base, ctx)
        low = [
            lat
            for lat in latents
            if not math.isfinite(lat.values[0]) or lat.values[0] < self.cfg.refine_below
        ]
        for other in self.others:
            if low:
                self._add(low, other, ctx)
        return [self._pick(lat) for lat in latents]

    def _add(self, latents: list[_Latent], explainer: Explainer, ctx: ExplainContext) -> None:
        """One candidate per latent from ``explainer``, scored on the validation set."""
        drafts = explainer.explain([lat.writer for lat in latents], ctx)
        by_latent = {d.latent: d for d in drafts if d.explanation_id == 0}
        pairs, owners = [], []
        for lat in latents:
            draft = by_latent.get(lat.record.latent) or Explanation(
                lat.record.latent,
                0,
                "",
                f"generated:{explainer.name}",
                status=ExplanationStatus.LLM_ERROR,
                error="no candidate",
            )
            lat.candidates.append((explainer.name, draft))
            lat.values.append(math.nan)
            if _usable(draft) and lat.validation.score:
                pairs.append((lat.validation, draft))
                owners.append(lat)
        if not pairs:
            return
        scoring = ScoringContext(
            ctx.llm,
            replace(ctx.scoring, n_bootstrap=0),
            seed=ctx.seed,
            progress=ctx.progress,
            subject=ctx.subject,
            sae=ctx.sae,
        )
        for lat, result in zip(owners, self.scorer.score(pairs, scoring), strict=True):
            lat.values[-1] = _value(result)[1]

    def _pick(self, lat: _Latent) -> Explanation:
        ranked = [
            i
            for i, (_, d) in enumerate(lat.candidates)
            if _usable(d) and math.isfinite(lat.values[i])
        ]
        chosen = max(ranked, key=lambda i: lat.values[i]) if ranked else 0
        kept = lat.candidates[chosen][1]
        info = {
            "refine": {
                "refined": len(lat.candidates) > 1,
                "chosen": chosen,
                "first_value": _finite(lat.values[0]),
                "chosen_value": _finite(lat.values[chosen]),
                "selection_scorer": self.scorer.name,
                "below": self.cfg.refine_below,
                "n_shown": len(lat.writer.explain),
                "n_validation_positives": len(lat.validation.score),
                "candidates": [
                    {
                        "explainer": name,
                        "text": d.text,
                        "status": d.status,
                        "error": d.error,
                        "reply": d.raw,
                        "validation": _finite(v),
                    }
                    for (name, d), v in zip(lat.candidates, lat.values, strict=True)
                ],
            }
        }
        return replace(
            kept,
            explanation_id=0,
            raw=json.dumps(info),
            prompt_tokens=sum(d.prompt_tokens for _, d in lat.candidates),
            completion_tokens=sum(d.completion_tokens for _, d in lat.candidates),
        )


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def refine_report(explanations: pd.DataFrame) -> str | None:
    """'refine: 5 of 32 latents re-explained (validation detection 0.55 -> 0.71 mean); 3
    changed explainer', from the rows' raw JSON; None when the run did not refine."""
    if "raw_reply" not in explanations.columns:
        return None
    infos: list[dict[str, Any]] = []
    for raw in explanations["raw_reply"].dropna():
        if isinstance(raw, str) and raw.startswith('{"refine"'):
            infos.append(json.loads(raw)["refine"])
    if not infos:
        return None
    refined = [i for i in infos if i["refined"]]
    line = f"refine: {len(refined)} of {len(infos)} latents re-explained"
    pairs = [
        (i["first_value"], i["chosen_value"])
        for i in refined
        if i["first_value"] is not None and i["chosen_value"] is not None
    ]
    if pairs:
        first = sum(p[0] for p in pairs) / len(pairs)
        chosen = sum(p[1] for p in pairs) / len(pairs)
        scorer = refined[0]["selection_scorer"]
        line += f" (validation {scorer} {first:.2f} -> {chosen:.2f} mean over {len(pairs)})"
    changed = sum(1 for i in refined if i["chosen"] != 0)
    return f"{line}; {changed} kept another explainer's candidate"
