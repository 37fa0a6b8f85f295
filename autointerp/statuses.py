"""Every status a job or a row can have, defined once as ``StrEnum``s.

A member *is* its string (``JobState.DONE == "done"``, ``json.dumps`` writes ``"done"``), so
the job store's JSON files, the Parquet ``status`` columns and the HTTP replies hold the same
strings as before; code compares and assigns members instead of bare strings.

    JobState            a job's state (service/jobs.py derives it from the job's files)
    SampleStatus        a latent's sampling outcome (autointerp/sampling)
    ExplanationStatus   an explanation row's status (also a skipped latent's SampleStatus)
    ScoreStatus         a score row's status (scorers/)
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ExplanationStatus", "JobState", "SampleStatus", "ScoreStatus"]


class JobState(StrEnum):
    """A job's state, from its files alone (:meth:`autointerp.service.jobs.JobStore.status`)."""

    QUEUED = "queued"
    """Submitted; no plan yet."""
    CACHING = "caching"
    """Planned; caching the corpus shards."""
    RUNNING = "running"
    """Latents chosen; the batches are being sampled, explained, scored and written."""
    DONE = "done"
    """The tables are written."""
    CANCELLED = "cancelled"
    FAILED = "failed"
    """A step failed for good (``error.json`` says which and why)."""


class SampleStatus(StrEnum):
    """Whether a latent could be sampled."""

    OK = "ok"
    DEAD = "dead"
    """Never fired on the corpus."""
    TOO_SPARSE = "too_sparse"
    """Fired in too few windows for the examples asked for."""


class ExplanationStatus(StrEnum):
    """Why an explanation row has usable text or not. A latent that could not be sampled
    gets a row with its :class:`SampleStatus` value instead."""

    OK = "ok"
    LLM_ERROR = "llm_error"
    """The LLM call failed (a rerun redoes it)."""
    UNPARSABLE = "unparsable"
    """The reply had no explanation in it (an answer: kept)."""
    REFUSAL = "refusal"


class ScoreStatus(StrEnum):
    """A score row's status."""

    OK = "ok"
    PARTIAL = "partial"
    """Some judgements failed (a rerun redoes the row)."""
    FAILED = "failed"
    """Every judgement failed (a rerun redoes the row)."""
    SKIPPED = "skipped"
    """Nothing to score: no usable explanation, or the latent was not scorable."""
