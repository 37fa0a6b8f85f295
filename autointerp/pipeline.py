"""A run's inputs: ``prepare`` loads and validates them, ``run`` runs the whole pipeline.

``prepare`` validates every input (checkpoint, model, corpus, latents, explanations file, LLM
endpoint) before any heavy work, so bad input fails fast and writes nothing. The later stages
(cache -> sample -> explain -> score) are plain functions of :mod:`autointerp.stages`. The
orchestration lives in one place, the steps of :mod:`autointerp.service.steps`: Celery tasks
run them on workers, and :func:`run` (``autointerp run``) runs them one after another in this
process.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch

from autointerp.cache import bind
from autointerp.config import RunConfig
from autointerp.corpus import TokenWindows, load_windows
from autointerp.errors import CheckpointError, ConfigError
from autointerp.explain import EXPLAINERS, needs_model
from autointerp.inputs import LatentSelection, load_explanations, parse_latents
from autointerp.llm import LLM, make_llm
from autointerp.llm.local import LocalLLM
from autointerp.llm.pricing import price_for
from autointerp.models.loader import SubjectModel, canonical_model_name, load_subject_model
from autointerp.models.offline import SMOLLM2
from autointerp.saes import SparseCoder, load_sae
from autointerp.saes.baselines import NEURONS
from autointerp.sampling.embed import check_embedder
from scorers import SCORERS

__all__ = [
    "Inputs",
    "Prepared",
    "RunResult",
    "load_inputs",
    "make_run_llm",
    "prepare",
    "run",
    "shares_subject",
]

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


def run(
    cfg: RunConfig, out: Path | str, *, progress: bool = True, llm: LLM | None = None
) -> RunResult:
    """Run the whole pipeline and write the Parquet tables under ``out``: the service's
    steps driven in this process (:mod:`autointerp.service.inprocess`), so an interrupted
    run resumes and a rerun repairs failed rows."""
    from autointerp.service.inprocess import run_in_process

    return run_in_process(cfg, out, progress=progress, llm=llm)
