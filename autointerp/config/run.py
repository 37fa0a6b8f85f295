"""The whole run config (:class:`RunConfig`: the checkpoint, latents, seed and the sections),
its JSON form and fingerprint, and the per-field documentation ``autointerp config`` shows."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from autointerp.config.dicts import from_dict, to_jsonable
from autointerp.config.rules import (
    Latents,
    PathText,
    Range,
    Registered,
    Text,
    check_fields,
    check_registered,
    rule_of,
)
from autointerp.config.sections import (
    CacheConfig,
    CorpusConfig,
    ExplainConfig,
    LLMConfig,
    SamplingConfig,
    ScoringConfig,
    opt,
)
from autointerp.errors import ConfigError

__all__ = ["RunConfig", "config_docs"]


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a run's results. Saved as ``runs/<run_id>.json``."""

    sae: str = opt(
        "demo",
        "SAE checkpoint: 'demo', a local folder or file, a hub id 'org/repo/path', "
        "'random:<checkpoint>[:seed=N]' or 'neurons:<hook>[:k=K]' (baselines).",
        Text(),
    )
    model: str | None = opt(
        None,
        "Subject model (local dir or hub id); default: the one the checkpoint names.",
        Text(),
    )
    hook: str | None = opt(
        None,
        "Hook point to read, overriding the checkpoint's (needed for files that name none, "
        "e.g. a bare Gemma Scope params.npz): blocks.L.hook_resid_post, a module path, ...",
        Text(),
    )
    hook_out: str | None = opt(
        None,
        "A transcoder's output hook point (where its decoder writes; steering and the "
        "'intervention' scorer need it), overriding the checkpoint's: needed when the "
        "checkpoint names none, e.g. a SAELens 6 transcoder without hook_name_out.",
        Text(),
    )
    sae_format: str | None = opt(
        None,
        "Load 'sae' as this checkpoint format instead of detecting the format from what the "
        "files hold (tensor names and shapes).",
        Registered("checkpoint format", "autointerp.saes", "FORMATS"),
    )
    latents: str = opt(
        "live:32",
        "Latents to explain: 'A:B' (range, B exclusive), 'i,j,k', or 'live:N' (the first "
        "N latents with enough activating examples). For signed SAEs (AbsTopK) d_sae + i "
        "is latent i's negative direction.",
        Latents(),
    )
    seed: int = opt(
        0, "Seed for every random choice; the same seed gives the same run.", Range(ge=0)
    )
    explanations: str | None = opt(
        None,
        "CSV/Parquet with 'latent' and 'explanation' columns: score these instead of "
        "generating explanations (several per latent allowed).",
        PathText(suffixes=(".csv", ".tsv", ".parquet")),
    )
    corpus: CorpusConfig = field(default_factory=CorpusConfig, metadata={"doc": "Corpus."})
    cache: CacheConfig = field(default_factory=CacheConfig, metadata={"doc": "Caching."})
    sampling: SamplingConfig = field(
        default_factory=SamplingConfig, metadata={"doc": "Example sampling."}
    )
    llm: LLMConfig = field(default_factory=LLMConfig, metadata={"doc": "Explainer LLM."})
    explain: ExplainConfig = field(default_factory=ExplainConfig, metadata={"doc": "Explanation."})
    scoring: ScoringConfig = field(default_factory=ScoringConfig, metadata={"doc": "Scoring."})

    def __post_init__(self) -> None:
        check_fields(self, "")
        corpus = self.corpus
        if corpus.n_tokens < corpus.ctx_len:
            raise ConfigError(
                f"corpus.n_tokens must be at least one window (corpus.ctx_len = "
                f"{corpus.ctx_len}), got {corpus.n_tokens}"
            )
        if self.llm.backend == "openai" and not self.llm.base_url:
            raise ConfigError(
                "llm.base_url is required with llm.backend 'openai' (an http(s):// URL "
                "of an OpenAI-compatible server)"
            )

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(self)  # type: ignore[no-any-return]

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        """Load a config dict (unknown keys, types, rules and registered names checked)."""
        cfg = from_dict(cls, data, "config")
        check_registered(cfg, "")
        return cfg

    def fingerprint(self) -> str:
        """A short stable hash of every field (used to derive the run id)."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def config_docs(cls: type = RunConfig, prefix: str = "") -> list[tuple[str, str, str]]:
    """(dotted name, default, doc) for every leaf field, for ``autointerp config``; the doc
    ends with what the field's rule allows."""
    rows: list[tuple[str, str, str]] = []
    for f in dataclasses.fields(cls):
        name = prefix + f.name
        if f.default_factory is not dataclasses.MISSING:  # nested section
            rows.extend(config_docs(f.default_factory().__class__, name + "."))
        else:
            doc = f.metadata.get("doc", "")
            rule = rule_of(f)
            if rule is not None:
                doc += f" Allowed: {rule.describe()}."
            rows.append((name, repr(f.default), doc))
    return rows
