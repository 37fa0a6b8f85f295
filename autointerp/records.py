"""The typed records passed between the stages (plain data, no tensors), in stage order:

    LatentSample   sample   -> records  the windows chosen for one unit (ids only)
    Example        records  -> explain, score   one window shown for one latent
    LatentRecord   records  -> explain, score   a latent's examples
    Explanation    explain  -> score, store     one explanation of one latent
    ScoreResult    score    -> store            one scorer's verdict on one explanation

Their ``status`` fields take the values of :mod:`autointerp.statuses`. The cache stage's
output, :class:`autointerp.cache.stats.LatentStats`, is not plain data (tensors updated in
place while streaming) and lives with the code that updates it; the service's step results
and plan are in :mod:`autointerp.service.stepdata`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from autointerp.statuses import ExplanationStatus

__all__ = ["Example", "Explanation", "LatentRecord", "LatentSample", "ScoreResult"]


@dataclass
class LatentSample:
    """Window ids (and their quantile bin, 1 = lowest) chosen for one unit."""

    latent: int
    status: str  # a SampleStatus: "ok", "dead" or "too_sparse"
    explain: list[tuple[int, int]] = field(default_factory=list)
    score: list[tuple[int, int]] = field(default_factory=list)
    nonactivating: list[int] = field(default_factory=list)
    """Random non-activating windows (filled in when the records are built)."""
    hard_negatives: list[tuple[int, str]] = field(default_factory=list)
    """(window, role) of hard negatives: role 'hard_neighbour' or 'hard_similar'."""
    detail: str = ""


@dataclass(frozen=True)
class Example:
    """One window shown for one latent: its tokens (BOS dropped) and the latent's
    activation at each of them."""

    window: int
    tokens: tuple[str, ...]
    acts: tuple[float, ...]
    role: str
    """'explain', 'score' (activating, held out from the explainer), or a negative:
    'nonactivating' (random), 'hard_neighbour' (where decoder-similar units fire) or
    'hard_similar' (close to the activating examples in sentence-embedding space)."""
    quantile: int = 0
    """Activation quantile bin (1 = lowest); 0 for non-activating examples."""
    start: int = 0
    """Position of the first shown token in the window (BOS excluded): examples may show a
    slice of their window (``sampling.example_len``)."""

    @property
    def max_act(self) -> float:
        return max(self.acts) if self.acts else 0.0

    @property
    def text(self) -> str:
        return "".join(self.tokens)


@dataclass
class LatentRecord:
    """Everything the explainer and scorers need about one latent."""

    latent: int
    explain: list[Example] = field(default_factory=list)
    score: list[Example] = field(default_factory=list)
    nonactivating: list[Example] = field(default_factory=list)
    """Every negative example (random and hard ones; ``Example.role`` tells them apart)."""
    max_act: float = 0.0
    """The latent's maximum activation over the corpus (for 0-9 scaling)."""


@dataclass(frozen=True)
class Explanation:
    """An explanation of one latent, generated or supplied by the user."""

    latent: int
    explanation_id: int
    """0, 1, ... per latent: several explanations of one latent are scored separately."""
    text: str
    source: str
    """'generated:<explainer>' or 'user:<file>'."""
    status: str = ExplanationStatus.OK
    """'ok', or why there is no usable text ('unparsable', 'refusal', 'llm_error'): an
    :class:`~autointerp.statuses.ExplanationStatus`."""
    error: str | None = None
    raw: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass
class ScoreResult:
    """One scorer's result for one (latent, explanation)."""

    latent: int
    explanation_id: int
    scorer: str
    status: str
    """A :class:`~autointerp.statuses.ScoreStatus`: 'ok'; 'partial' (some judgements failed,
    see :func:`scorers.base.settle_status`); 'failed' (every judgement failed); 'skipped' (no
    usable explanation or examples)."""
    method: str
    error: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    judgements: list[dict[str, Any]] = field(default_factory=list)
    prompt_version: str = ""
    """The prompt version used, when it is not the scorer's default ``prompt_version``."""
