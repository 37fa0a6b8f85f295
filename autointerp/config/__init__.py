"""The frozen run configuration, saved as JSON next to every output.

Every field carries its documentation in ``metadata["doc"]`` and its value rule in
``metadata["rule"]`` (see :mod:`autointerp.config.rules`; both shown by ``autointerp config``).
Configs are immutable: derive a changed copy with ``dataclasses.replace``. Building a
``RunConfig`` (directly, by ``replace`` or by ``from_dict``) checks every field's type and
rule and raises a ``ConfigError`` naming the dotted key and what is allowed; ``from_dict`` also
refuses unknown keys (a typo in a saved or hand-written config is an error, not a silent
default) and checks scorer, explainer and backend names against their registries. Sections
built on their own are checked when they become part of a ``RunConfig`` (``SamplingConfig``
checks itself at once: the sampling functions take it alone). Secrets are never stored: the
LLM section names the environment variable that holds the API key, never the key.

The package: the sections (``sections.py``), the whole config (``run.py``), the value rules
(``rules.py``) and the plain-dict forms and layering (``dicts.py``: ``deep_merge``,
``assign_dotted``); every config class is importable from ``autointerp.config``.
"""

from autointerp.config.run import RunConfig, config_docs
from autointerp.config.sections import (
    CacheConfig,
    CorpusConfig,
    ExplainConfig,
    LLMConfig,
    SamplingConfig,
    ScoringConfig,
)

__all__ = [
    "CacheConfig",
    "CorpusConfig",
    "ExplainConfig",
    "LLMConfig",
    "RunConfig",
    "SamplingConfig",
    "ScoringConfig",
    "config_docs",
]
