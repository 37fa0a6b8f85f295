"""A job's loaded inputs and merged statistics, kept in this worker process for the job's
next steps (the two most recent jobs)."""

from __future__ import annotations

import threading
from collections import OrderedDict

from autointerp.cache.stats import LatentStats
from autointerp.config import RunConfig
from autointerp.errors import ConfigError
from autointerp.inputs import load_explanations, parse_latents
from autointerp.llm import LLM
from autointerp.pipeline import Inputs, Prepared, load_inputs, make_run_llm, prepare, shares_subject
from autointerp.service import warm
from autointerp.service.jobs import JobStore
from autointerp.service.stepdata import JobPlan

__all__ = ["adopt", "merged_stats", "prepared", "release"]

_PREPARED: OrderedDict[str, Prepared] = OrderedDict()
_STATS: OrderedDict[str, LatentStats] = OrderedDict()
_LOCK = threading.Lock()
_KEEP = 2


def prepared(store: JobStore, job_id: str) -> Prepared:
    """The job's inputs, kept for the next steps of the same job in this worker process (the
    two most recent jobs). Before the plan exists every input is loaded and checked (the plan
    step); after it, the model, the SAE, the corpus and the LLM load on first use, so a worker
    that only explains or scores through an HTTP LLM never loads the model or the SAE. Loaded
    model, SAE and corpus stay warm across jobs (:mod:`autointerp.service.warm`)."""
    with _LOCK:  # a threads-pool worker loads a job once, not once per thread
        if job_id in _PREPARED:
            _PREPARED.move_to_end(job_id)
            return _PREPARED[job_id]
        info = store.plan(job_id)
        cfg = store.config(job_id)
        if info is None:
            prep = prepare(cfg, inputs=warm.get(cfg))
            warm.put(cfg, prep.inputs)
        else:
            prep = _lazy(cfg, info)
        _PREPARED[job_id] = prep
        while len(_PREPARED) > _KEEP:
            _PREPARED.popitem(last=False)
        return prep


def _lazy(cfg: RunConfig, info: JobPlan) -> Prepared:
    """A planned job's inputs, each loaded when a step first needs it; the loaded checkpoint
    and corpus must be those the job was planned with."""
    n_units = int(info.get("n_units") or info["d_sae"])
    user = load_explanations(cfg.explanations, n_units) if cfg.explanations else None

    def inputs() -> Inputs:
        loaded = warm.get(cfg) or load_inputs(cfg)
        # The identity covers the checkpoint's config as well as its weights file.
        planned = info["inputs"]["sae_identity"], info["inputs"]["corpus_fingerprint"]
        found = loaded.sae.info.identity, loaded.windows.fingerprint
        if found != planned:
            raise ConfigError(
                f"job {info['job_id']}: the checkpoint or the corpus changed since the job was "
                f"planned (checkpoint {planned[0][:12]} -> {found[0][:12]}, corpus "
                f"{planned[1][:12]} -> {found[1][:12]}); submit it again as a new job"
            )
        warm.put(cfg, loaded)
        return loaded

    def llm(prep: Prepared) -> LLM:
        shared = shares_subject(cfg, str(info["provenance"]["model"]))
        made = make_run_llm(cfg, prep.subject if shared else None)
        made.check()
        return made

    selection = parse_latents(cfg.latents, n_units)
    return Prepared(cfg, selection, user, str(info["run_id"]), _load_inputs=inputs, _load_llm=llm)


def adopt(job_id: str, prep: Prepared) -> None:
    """Use ``prep`` (inputs loaded by the caller, e.g. with its own LLM) for ``job_id``."""
    with _LOCK:
        _PREPARED[job_id] = prep
        _PREPARED.move_to_end(job_id)


def release(job_id: str) -> None:
    """Forget the job's loaded inputs (the model's memory goes back)."""
    with _LOCK:
        _PREPARED.pop(job_id, None)
        _STATS.pop(job_id, None)


def merged_stats(store: JobStore, job_id: str) -> LatentStats:
    """The job's merged statistics (saved by ``merge_stats``), kept for its next batches."""
    with _LOCK:
        if job_id not in _STATS:
            _STATS[job_id] = LatentStats.load(store.paths(job_id).root / "stats.npz")
            while len(_STATS) > _KEEP:
                _STATS.popitem(last=False)
        _STATS.move_to_end(job_id)
        return _STATS[job_id]
