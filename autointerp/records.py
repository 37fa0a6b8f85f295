"""Typed records passed between the stages (plain data, no tensors)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Example", "Explanation", "LatentRecord"]


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
    status: str = "ok"
    """'ok', or why there is no usable text ('unparsable', 'refusal', 'llm_error')."""
    error: str | None = None
    raw: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
