"""The pipeline's stages as plain functions: load -> cache -> sample -> explain -> score.

``prepare`` validates every input (checkpoint, model, corpus, latents, explanations file, LLM
endpoint) before any heavy work, so bad input fails fast and writes nothing. Each later stage
is a plain function call into the library. The orchestration lives in one place, the steps
of :mod:`autointerp.service.steps`: Celery tasks run them on workers, and :func:`run`
(``autointerp run``) runs them one after another in this process.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from autointerp.cache import LatentStats, bind, cache_activations
from autointerp.cache.shards import cached_stats
from autointerp.config import RunConfig
from autointerp.corpus import TokenWindows, load_windows
from autointerp.errors import CheckpointError, ConfigError
from autointerp.explain import EXPLAINERS, ExplainContext, needs_model, uses_logit_lens
from autointerp.explain.refine import RefiningExplainer
from autointerp.inputs import LatentSelection, load_explanations, parse_latents
from autointerp.llm import LLM, make_llm
from autointerp.llm.local import LocalLLM
from autointerp.llm.pricing import price_for
from autointerp.models.loader import SubjectModel, canonical_model_name, load_subject_model
from autointerp.models.offline import SMOLLM2
from autointerp.records import Explanation, LatentRecord
from autointerp.saes import SparseCoder, load_sae
from autointerp.saes.baselines import NEURONS
from autointerp.sampling import LatentSample, make_records, sample_latent
from autointerp.sampling.build import ActsFor
from autointerp.sampling.embed import check_embedder
from scorers import SCORERS, Scorer, ScoreResult, ScoringContext
from scorers.base import settle_status

__all__ = ["Inputs", "Prepared", "RunResult", "load_inputs", "make_run_llm", "prepare", "run"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Inputs:
    """The heavy inputs: the checkpoint, the subject model (bound to its hook) and the
    tokenised corpus."""

    sae: SparseCoder
    subject: SubjectModel
    windows: TokenWindows


@dataclass
class Prepared:
    """A run's loaded inputs. The heavy ones (``sae``, ``subject``, ``windows``) and the LLM
    may be loaded on first use (``lazy``): a service worker that only explains or scores
    through an HTTP LLM never loads the model or the checkpoint."""

    cfg: RunConfig
    selection: LatentSelection
    user_explanations: pd.DataFrame | None
    run_id: str
    _inputs: Inputs | None = None
    _llm: LLM | None = None
    _load_inputs: Callable[[], Inputs] | None = None
    _load_llm: Callable[[Prepared], LLM] | None = None

    @property
    def inputs(self) -> Inputs:
        if self._inputs is None:
            assert self._load_inputs is not None
            self._inputs = self._load_inputs()
        return self._inputs

    @property
    def inputs_loaded(self) -> bool:
        return self._inputs is not None

    @property
    def sae(self) -> SparseCoder:
        return self.inputs.sae

    @property
    def subject(self) -> SubjectModel:
        return self.inputs.subject

    @property
    def windows(self) -> TokenWindows:
        return self.inputs.windows

    @property
    def llm(self) -> LLM:
        if self._llm is None:
            assert self._load_llm is not None
            self._llm = self._load_llm(self)
        return self._llm


@dataclass
class RunResult:
    run_id: str
    out: Path
    files: dict[str, Path]
    explanations: pd.DataFrame
    scores: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)
    skipped_documents: int = 0
    """Corpus documents left out because they are not text (binary, wrong encoding)."""
    llm_requests: int = 0
    """HTTP requests this run sent to its LLM (attempts included; 0 for in-process LLMs)."""


def prepare(cfg: RunConfig, *, llm: LLM | None = None, inputs: Inputs | None = None) -> Prepared:
    """Load and validate every input (``inputs``: already loaded, e.g. kept warm by a
    worker); nothing is written."""
    _check_sampling(cfg)
    for name in cfg.scoring.scorers:
        SCORERS.get(name).check(cfg.scoring)
    EXPLAINERS.get(cfg.explain.explainer)(cfg.explain)  # validates the explainer's options
    inputs = inputs or load_inputs(cfg)
    sae, subject, windows = inputs.sae, inputs.subject, inputs.windows
    if needs_model(cfg.explain) or any(SCORERS.get(n).needs_model for n in cfg.scoring.scorers):
        from autointerp.steering import steering_hook

        steering_hook(sae)  # a transcoder that names no output hook is refused before any work
    selection = parse_latents(cfg.latents, sae.n_units)
    user = load_explanations(cfg.explanations, sae.n_units) if cfg.explanations else None
    if llm is None:
        llm = make_run_llm(cfg, subject)
    llm.check()
    price_for(cfg.llm, llm.name)  # a bad price table fails before any work
    ident = "|".join(
        [cfg.fingerprint(), sae.info.identity, subject.name, windows.fingerprint, llm.name]
    )
    run_id = hashlib.sha256(ident.encode()).hexdigest()[:16]
    return Prepared(cfg, selection, user, run_id, _inputs=inputs, _llm=llm)


def load_inputs(cfg: RunConfig) -> Inputs:
    """The checkpoint, the subject model (bound to the checkpoint's hook) and the corpus."""
    subject: SubjectModel | None = None
    if cfg.sae.startswith(NEURONS):  # a neuron baseline takes its width from the model
        subject = _load_model(cfg, cfg.model or SMOLLM2.hub_id)
    sae = load_sae(
        cfg.sae, hook=cfg.hook, hook_out=cfg.hook_out, sae_format=cfg.sae_format, subject=subject
    )
    model_name = cfg.model or sae.info.model_name
    if not model_name:
        raise CheckpointError(f"{sae.info.path} names no subject model; pass --model")
    if subject is None:
        subject = _load_model(cfg, model_name)
    bind(subject, sae)
    windows = load_windows(
        cfg.corpus.path,
        subject.tokenizer,
        n_tokens=cfg.corpus.n_tokens,
        ctx_len=cfg.corpus.ctx_len,
        text_column=cfg.corpus.text_column,
        max_positions=subject.max_positions,
    )
    return Inputs(sae, subject, windows)


def shares_subject(cfg: RunConfig, subject_name: str) -> bool:
    """Whether the run's LLM is the in-process subject model itself (the embedded default)."""
    return cfg.llm.backend == "local" and canonical_model_name(cfg.llm.model) == subject_name


def make_run_llm(cfg: RunConfig, subject: SubjectModel | None) -> LLM:
    """The run's LLM: the subject model itself when it is the configured local model in
    float32, else a backend of its own."""
    shared = subject is not None and shares_subject(cfg, subject.name)
    if shared and subject is not None and subject.dtype == torch.float32:
        return LocalLLM(cfg.llm, subject)
    return make_llm(cfg.llm)


def _check_sampling(cfg: RunConfig) -> None:
    shown = cfg.corpus.ctx_len - 1
    if cfg.sampling.example_len > shown:
        raise ConfigError(
            f"sampling.example_len={cfg.sampling.example_len} is longer than a corpus window "
            f"(corpus.ctx_len - 1 = {shown} tokens after the BOS)"
        )
    if "similar" in cfg.sampling.negatives:
        check_embedder()


def _load_model(cfg: RunConfig, name: str) -> SubjectModel:
    return load_subject_model(name, device=cfg.cache.device, dtype=cfg.cache.dtype)


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
        if sample.status == "ok":
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
        if s.status != "ok"
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
                "skipped",
                "",
                error=f"latent not scorable ({e.status})",
            )
            for e in orphans
        ]
    return results


def run_inputs(prep: Prepared) -> dict[str, Any]:
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


def run(
    cfg: RunConfig, out: Path | str, *, progress: bool = True, llm: LLM | None = None
) -> RunResult:
    """Run the whole pipeline and write the Parquet tables under ``out``: the service's
    steps driven in this process (:mod:`autointerp.service.inprocess`), so an interrupted
    run resumes and a rerun repairs failed rows."""
    from autointerp.service.inprocess import run_in_process

    return run_in_process(cfg, out, progress=progress, llm=llm)
