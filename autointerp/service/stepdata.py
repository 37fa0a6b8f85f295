"""The JSON-shaped data of the steps, typed: the plan the 'plan' and 'merge_stats' steps
write (``plan.json``) and the small result each step returns.

These are ``TypedDict``s, not dataclasses, because they cross JSON unchanged: the plan is a
file on the store, and a step's result is what its Celery task returns (through Celery's
JSON serializer). The keys and values are those the files and task results always had.
The results are ``@final`` so that a task can tell a step's result from :class:`Halted` by
its keys (``if "n_shards" in out``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NotRequired, TypedDict, final

if TYPE_CHECKING:
    from autointerp.stages import RunInputs
    from autointerp.statuses import JobState

__all__ = [
    "BatchesResult",
    "ExplainResult",
    "FinaliseResult",
    "Halted",
    "JobPlan",
    "JobStatus",
    "ManifestExtra",
    "MergeResult",
    "PlanResult",
    "Provenance",
    "ReplayPlan",
    "ReplayShardResult",
    "SampleResult",
    "ScoreStepResult",
    "ShardResult",
    "WriteResult",
]


class Provenance(TypedDict):
    """The provenance columns every table of the job carries."""

    run_id: str
    model: str
    sae_sha256: str
    hook_name: str
    seed: int


class ReplayPlan(TypedDict):
    """The replay-once plan: windows replayed, windows in the corpus, replay shards."""

    windows: int
    corpus_windows: int
    n_shards: int


class JobPlan(TypedDict):
    """``plan.json``: written by 'plan'; 'merge_stats' adds ``replay`` and ``batches``."""

    job_id: str
    run_id: str
    n_shards: int
    created_at: str
    provenance: Provenance
    llm: str
    d_sae: int
    n_units: int
    inputs: RunInputs
    """What the run read (:func:`autointerp.stages.run_inputs`), for the manifest."""
    replay: NotRequired[ReplayPlan]
    batches: NotRequired[list[list[int]]]
    """The latents of each batch, in order."""


class ManifestExtra(TypedDict, total=False):
    """What ``autointerp run`` adds to the manifest ``finalise`` writes."""

    timings_s: dict[str, float]
    """Seconds per stage."""
    llm_requests: int
    """HTTP requests the run sent to its LLM."""


@final
class PlanResult(TypedDict):
    n_shards: int
    skipped: NotRequired[bool]


@final
class ShardResult(TypedDict):
    shard: int
    skipped: NotRequired[bool]


@final
class MergeResult(TypedDict):
    n_batches: int
    n_replay: int
    """Replay shards to run (0: nothing to replay)."""
    skipped: NotRequired[bool]
    n_latents: NotRequired[int]


@final
class ReplayShardResult(TypedDict):
    replay: int
    skipped: NotRequired[bool]
    windows: NotRequired[int]
    entries: NotRequired[int]


@final
class BatchesResult(TypedDict):
    n_batches: int


@final
class SampleResult(TypedDict):
    batch: int
    skipped: NotRequired[bool]
    records: NotRequired[int]


@final
class ExplainResult(TypedDict):
    batch: int
    skipped: NotRequired[bool]
    repaired: NotRequired[int]
    """Latents whose failed explanations were redone."""
    explanations: NotRequired[int]
    requests: NotRequired[int]
    """HTTP requests sent to the LLM by this step."""


@final
class ScoreStepResult(TypedDict):
    batch: int
    scorer: str
    skipped: NotRequired[bool]
    requests: NotRequired[int]
    repaired: NotRequired[int]
    """Stale rows redone."""
    rows: NotRequired[int]


@final
class WriteResult(TypedDict):
    batch: int
    complete: bool
    """Whether every batch of the job is now written."""


@final
class FinaliseResult(TypedDict, total=False):
    skipped: bool
    run_id: str
    latents: int


@final
class Halted(TypedDict):
    """What a task returns instead of its step's result when the job was cancelled or has
    failed (``failed``: True when it had failed before, else the error's message)."""

    job_id: str
    cancelled: NotRequired[bool]
    failed: NotRequired[bool | str]


class JobStatus(TypedDict):
    """A job's state and progress, from its files alone (``JobStore.status``): what
    ``autointerp status`` prints and ``GET /jobs/{job_id}`` returns."""

    job_id: str
    origin: str | None
    submitted_at: str | None
    run_id: str | None
    shards_done: int
    n_shards: int | None
    batches_done: int
    n_batches: int | None
    """None until the latents are chosen (``merge_stats``)."""
    latents_done: int
    n_latents: int | None
    error: dict[str, Any] | None
    """A failed job's ``error.json``: the step, the error and when."""
    state: JobState
    finished: NotRequired[dict[str, Any]]
    """A done job's ``finished.json``."""
    failed_rows: NotRequired[dict[str, int]]
    """A done job's explanation and score rows that failed (a resubmission redoes them)."""
