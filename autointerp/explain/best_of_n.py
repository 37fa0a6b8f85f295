"""Best-of-n: sample several candidate explanations per latent and keep the best one.

``ExplainConfig.candidate_explainer`` writes ``n_candidates`` candidates per latent at
``candidate_temperature`` (torch's RNG is seeded with the run seed around the sampling, so
the local backend gives the same candidates for the same seed). Identical candidates are
scored once (at temperature 0 the local backend repeats itself). Each distinct candidate is
scored with ``selection_scorer`` and the one with the highest AUROC is kept (correlation or
accuracy for scorers without AUROC); ties go to the earliest candidate.

Selection data. The held-out ``record.score`` examples are what the final scorers measure
the explanation on, so selecting on them would overfit the reported score. Instead the
explain examples are split in two alternating halves (both span the activation range): the
candidate writer sees the even-numbered ones, and candidates are scored on the odd-numbered
ones as positives against ``record.nonactivating`` as negatives. The negatives are the same
pool the detection scorer later uses (a record has only one); the positives never overlap
with the final scoring. With fewer than two explain examples nothing is held back and the
first usable candidate is kept unscored. Selection runs without bootstrap intervals.

The kept Explanation's ``raw`` is JSON with every candidate (text, status, reply, selection
score) and the selection settings; its token counts include all candidates and the selection.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import torch

from autointerp.config import ExplainConfig
from autointerp.errors import ConfigError
from autointerp.explain.base import EXPLAINERS, ExplainContext, Explainer
from autointerp.llm.base import Messages
from autointerp.records import Example, Explanation, LatentRecord, ScoreResult
from autointerp.statuses import ExplanationStatus, ScoreStatus
from scorers.base import SCORERS, ScoringContext

__all__ = ["SELECTION_METRICS", "BestOfNExplainer", "split_explain"]

SELECTION_METRICS = ("auroc", "correlation", "accuracy")
"""The first of these a selection result has (finite) ranks the candidates."""


def split_explain(examples: Sequence[Example]) -> tuple[list[Example], list[Example]]:
    """(shown to the candidate writer, held back for selection): alternating halves."""
    if len(examples) < 2:
        return list(examples), []
    return list(examples[0::2]), list(examples[1::2])


def _writer_record(record: LatentRecord) -> LatentRecord:
    """What the candidate writer gets: the shown half, and no scoring examples at all."""
    return replace(record, explain=split_explain(record.explain)[0], score=[])


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seed torch's RNG (local sampling) without changing the caller's RNG state."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        yield


def _key(text: str) -> str:
    return " ".join(text.lower().split())


def _value(result: ScoreResult) -> tuple[str | None, float]:
    """(metric, value) that ranks a candidate; NaN when its selection gave none."""
    if result.status == ScoreStatus.OK:
        for metric in SELECTION_METRICS:
            value = result.metrics.get(metric)
            if isinstance(value, (int, float)) and math.isfinite(value):
                return metric, float(value)
    return None, math.nan


@dataclass
class _Latent:
    """One latent's candidates and their selection results."""

    record: LatentRecord
    selection: LatentRecord
    drafts: list[Explanation]
    results: dict[int, ScoreResult]
    """Candidate index -> selection result (only for distinct usable candidates)."""
    duplicate_of: dict[int, int]


@EXPLAINERS.register("best_of_n")
class BestOfNExplainer(Explainer):
    name = "best_of_n"
    prompt_version = "best_of_n.v1"
    """The candidates' own prompt version is recorded in each explanation's ``raw``."""

    def __init__(self, cfg: ExplainConfig) -> None:
        super().__init__(cfg)
        if cfg.n_candidates < 1:
            raise ConfigError(f"explain.n_candidates must be >= 1, got {cfg.n_candidates}")
        if cfg.candidate_explainer == self.name:
            raise ConfigError("explain.candidate_explainer cannot be 'best_of_n' itself")
        self.candidate = EXPLAINERS.get(cfg.candidate_explainer)(cfg)
        self.scorer = SCORERS.get(cfg.selection_scorer)()

    def prompt(self, record: LatentRecord) -> Messages:
        """The candidate writer's prompt (it sees every other explain example)."""
        return self.candidate.prompt(_writer_record(record))

    def explain(self, records: Sequence[LatentRecord], ctx: ExplainContext) -> list[Explanation]:
        if not records:
            return []
        latents = self._candidates(records, ctx)
        self._select(latents, ctx)
        return [self._pick(lat) for lat in latents]

    def _candidates(self, records: Sequence[LatentRecord], ctx: ExplainContext) -> list[_Latent]:
        n = self.cfg.n_candidates
        latents = []
        for record in records:
            shown, held = split_explain(record.explain)
            selection = replace(record, explain=shown, score=held)
            latents.append(_Latent(record, selection, [], {}, {}))
        writer = [_writer_record(lat.record) for lat in latents for _ in range(n)]
        sampling = replace(
            ctx, llm_cfg=replace(ctx.llm_cfg, temperature=self.cfg.candidate_temperature)
        )
        with _seeded(ctx.seed):
            drafts = self.candidate.explain(writer, sampling)
        for i, lat in enumerate(latents):
            lat.drafts = [
                replace(d, explanation_id=j) for j, d in enumerate(drafts[i * n : i * n + n])
            ]
        return latents

    def _select(self, latents: list[_Latent], ctx: ExplainContext) -> None:
        pairs: list[tuple[LatentRecord, Explanation]] = []
        owners: list[tuple[_Latent, int]] = []
        for lat in latents:
            first: dict[str, int] = {}
            for j, draft in enumerate(lat.drafts):
                if draft.status != ExplanationStatus.OK or not draft.text:
                    continue
                if _key(draft.text) in first:
                    lat.duplicate_of[j] = first[_key(draft.text)]
                    continue
                first[_key(draft.text)] = j
                if lat.selection.score:
                    pairs.append((lat.selection, draft))
                    owners.append((lat, j))
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
        for (lat, j), result in zip(owners, self.scorer.score(pairs, scoring), strict=True):
            lat.results[j] = result

    def _pick(self, lat: _Latent) -> Explanation:
        usable = [
            j for j, d in enumerate(lat.drafts) if d.status == ExplanationStatus.OK and d.text
        ]
        values = {j: _value(r)[1] for j, r in lat.results.items()}
        ranked = [j for j in usable if j in values and math.isfinite(values[j])]
        chosen: int | None = None
        if ranked:
            chosen = max(ranked, key=lambda j: values[j])  # max keeps the first of ties
        elif usable:
            chosen = usable[0]
        prompt_tokens = sum(d.prompt_tokens for d in lat.drafts)
        prompt_tokens += sum(r.prompt_tokens for r in lat.results.values())
        completion_tokens = sum(d.completion_tokens for d in lat.drafts)
        completion_tokens += sum(r.completion_tokens for r in lat.results.values())
        kept = Explanation(
            latent=lat.record.latent,
            explanation_id=0,
            text="",
            source=f"generated:{self.name}",
            raw=json.dumps(self._raw(lat, chosen)),
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
        )
        if chosen is not None:
            return replace(kept, text=lat.drafts[chosen].text)
        failed = lat.drafts[0] if lat.drafts else None
        status = failed.status if failed is not None else ExplanationStatus.LLM_ERROR
        reason = failed.error if failed is not None else "no candidates"
        error = f"no usable candidate among {len(lat.drafts)}: {reason}"
        return replace(kept, status=status, error=error)

    def _raw(self, lat: _Latent, chosen: int | None) -> dict[str, Any]:
        candidates = []
        for j, draft in enumerate(lat.drafts):
            result = lat.results.get(j)
            metric, value = _value(result) if result is not None else (None, math.nan)
            candidates.append(
                {
                    "text": draft.text,
                    "status": draft.status,
                    "error": draft.error,
                    "reply": draft.raw,
                    "duplicate_of": lat.duplicate_of.get(j),
                    "selection_metric": metric,
                    "selection_value": value if math.isfinite(value) else None,
                    "selection_status": result.status if result is not None else None,
                    "selection_error": result.error if result is not None else None,
                }
            )
        return {
            "chosen": chosen,
            "candidate_explainer": self.candidate.name,
            "candidate_prompt_version": self.candidate.prompt_version,
            "candidate_temperature": self.cfg.candidate_temperature,
            "selection_scorer": self.scorer.name,
            "selection_prompt_version": self.scorer.prompt_version,
            "n_shown": len(lat.selection.explain),
            "n_selection_positives": len(lat.selection.score),
            "n_selection_negatives": len(lat.selection.nonactivating),
            "candidates": candidates,
        }
