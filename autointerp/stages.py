"""The pipeline's stages after loading, as plain functions over a run's loaded inputs
(:class:`autointerp.pipeline.Prepared`): cache -> sample -> build records -> explain -> score.

The steps of :mod:`autointerp.service.steps` call them (for ``autointerp run`` and the
Celery workers alike); benchmarks call them directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypedDict

from autointerp.cache import LatentStats, cache_activations
from autointerp.cache.shards import cached_stats
from autointerp.explain import EXPLAINERS, ExplainContext, needs_model, uses_logit_lens
from autointerp.explain.refine import RefiningExplainer
from autointerp.models.loader import SubjectModel
from autointerp.pipeline import Prepared
from autointerp.records import Explanation, LatentRecord, LatentSample, ScoreResult
from autointerp.sampling import make_records, sample_latent
from autointerp.sampling.build import ActsFor
from autointerp.statuses import SampleStatus, ScoreStatus
from scorers import SCORERS, Scorer, ScoringContext
from scorers.base import settle_status

__all__ = [
    "RunInputs",
    "build_records",
    "compute_stats",
    "explanations_for",
    "run_inputs",
    "score_all",
    "select_samples",
]


class RunInputs(TypedDict):
    """What a run read: the manifest's ``inputs`` (and the job plan's)."""

    sae_path: str
    sae_sha256: str
    sae_identity: str
    """The checkpoint's weights and config, hashed (a planned job's workers check it)."""
    sae_format: str
    architecture: str
    hook_name: str
    model: str
    model_path: str
    model_dtype: str
    corpus: str
    corpus_fingerprint: str
    n_windows: int
    skipped_documents: int
    """Corpus documents left out because they are not text."""
    skipped_examples: list[str]
    llm: str


def compute_stats(prep: Prepared, progress: bool) -> LatentStats:
    """Per-unit statistics: from the on-disk cache when ``cache.reuse`` (resuming any
    finished shards), else in memory."""
    cfg = prep.cfg
    tokens = prep.windows.tokens
    if not cfg.cache.reuse:
        return cache_activations(
            prep.subject, prep.sae, tokens, cfg.cache, seed=cfg.seed, progress=progress
        )
    (stats,) = cached_stats(
        prep.subject,
        [prep.sae],
        tokens,
        prep.windows.fingerprint,
        cfg.cache,
        seed=cfg.seed,
        progress=progress,
    )
    return stats


def select_samples(stats: LatentStats, prep: Prepared) -> list[LatentSample]:
    cfg = prep.cfg
    if prep.user_explanations is not None:
        wanted = sorted(set(prep.user_explanations["latent"]))
        if prep.selection.explicit is not None:
            wanted = [w for w in wanted if w in set(prep.selection.explicit)]
        return [sample_latent(stats, w, cfg.sampling, cfg.seed) for w in wanted]
    if prep.selection.explicit is not None:
        return [sample_latent(stats, w, cfg.sampling, cfg.seed) for w in prep.selection.explicit]
    out: list[LatentSample] = []
    for latent in range(stats.d_sae):  # units
        sample = sample_latent(stats, latent, cfg.sampling, cfg.seed)
        if sample.status == SampleStatus.OK:
            out.append(sample)
            if len(out) == prep.selection.live:
                break
    return out


def build_records(
    prep: Prepared,
    stats: LatentStats,
    samples: list[LatentSample],
    progress: bool,
    acts_for: ActsFor | None = None,
) -> list[LatentRecord]:
    """Per-token activations of the chosen windows (``acts_for``: read from the job's
    replay-once store; else replayed here), the negatives, the examples cut to
    ``sampling.example_len`` (see ``autointerp.sampling.build``)."""
    cfg = prep.cfg
    return make_records(
        prep.subject,
        prep.sae,
        prep.windows.tokens,
        stats,
        samples,
        cfg.sampling,
        cfg.seed,
        decode=_token_decoder(prep.subject),
        batch_size=cfg.cache.batch_size,
        progress=progress,
        acts_for=acts_for,
    )


def _token_decoder(subject: SubjectModel) -> Any:
    cache: dict[int, str] = {}
    tok = subject.tokenizer

    def decode(token_id: int) -> str:
        if token_id not in cache:
            cache[token_id] = tok.decode([token_id])
        return cache[token_id]

    return decode


def explanations_for(
    prep: Prepared,
    records: list[LatentRecord],
    samples: list[LatentSample],
    progress: bool,
    promoted: dict[int, list[str]] | None = None,
) -> list[Explanation]:
    """The explanations of ``records`` (and rows for the latents ``samples`` skipped). The
    subject model and the SAE are touched (loaded, on a lazy worker) only when explaining
    needs them, or the promoted tokens an explainer reads were not computed beforehand."""
    cfg = prep.cfg
    skipped = [
        Explanation(s.latent, 0, "", "none", status=s.status, error=s.detail)
        for s in samples
        if s.status != SampleStatus.OK
    ]
    if prep.user_explanations is not None:
        assert cfg.explanations is not None
        source = f"user:{Path(cfg.explanations).name}"
        ok = {r.latent for r in records}
        rows = prep.user_explanations
        given = [
            Explanation(int(lat), int(eid), str(text), source)
            for lat, eid, text in zip(
                rows["latent"], rows["explanation_id"], rows["explanation"], strict=True
            )
            if int(lat) in ok
        ]
        return given + skipped
    explainer = EXPLAINERS.get(cfg.explain.explainer)(cfg.explain)
    if cfg.explain.refine:
        explainer = RefiningExplainer(cfg.explain, explainer)
    model = needs_model(cfg.explain) or (uses_logit_lens(cfg.explain) and promoted is None)
    ctx = ExplainContext(
        prep.llm,
        cfg.llm,
        seed=cfg.seed,
        progress=progress,
        subject=prep.subject if model else None,
        sae=prep.sae if model else None,
        scoring=cfg.scoring,
        promoted=promoted,
    )
    return explainer.explain(records, ctx) + skipped


def score_all(
    prep: Prepared,
    records: list[LatentRecord],
    explanations: list[Explanation],
    progress: bool,
    scorers: Sequence[str] | None = None,
) -> list[ScoreResult]:
    """Every configured scorer (or only ``scorers``) over the (record, explanation) pairs;
    scorers are independent, so the service runs them as parallel tasks."""
    by_latent = {r.latent: r for r in records}
    pairs = [(by_latent[e.latent], e) for e in explanations if e.latent in by_latent]
    orphans = [e for e in explanations if e.latent not in by_latent]
    results: list[ScoreResult] = []
    names = list(prep.cfg.scoring.scorers if scorers is None else scorers)
    model = any(SCORERS.get(n).needs_model for n in names)  # else never loaded on a worker
    ctx = ScoringContext(
        prep.llm,
        prep.cfg.scoring,
        seed=prep.cfg.seed,
        progress=progress,
        subject=prep.subject if model else None,
        sae=prep.sae if model else None,
    )
    for name in names:
        scorer: Scorer = SCORERS.get(name)()
        results += [settle_status(r) for r in scorer.score(pairs, ctx)]
        results += [
            ScoreResult(
                e.latent,
                e.explanation_id,
                name,
                ScoreStatus.SKIPPED,
                "",
                error=f"latent not scorable ({e.status})",
            )
            for e in orphans
        ]
    return results


def run_inputs(prep: Prepared) -> RunInputs:
    """What a run read (checkpoint, model, corpus, LLM), for its manifest."""
    return {
        "sae_path": prep.sae.info.path,
        "sae_sha256": prep.sae.info.sha256,
        "sae_identity": prep.sae.info.identity,
        "sae_format": prep.sae.info.format,
        "architecture": prep.sae.info.architecture,
        "hook_name": prep.sae.info.hook_name,
        "model": prep.subject.name,
        "model_path": prep.subject.path,
        "model_dtype": str(prep.subject.dtype).removeprefix("torch."),
        "corpus": prep.windows.source,
        "corpus_fingerprint": prep.windows.fingerprint,
        "n_windows": prep.windows.n_windows,
        "skipped_documents": prep.windows.skipped_documents,
        "skipped_examples": list(prep.windows.skipped_examples),
        "llm": prep.llm.name,
    }
