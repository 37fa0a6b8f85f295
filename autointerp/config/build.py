"""Building a run config from layers: the one place the CLI (``run``, ``submit``), the HTTP
API (``POST /jobs``) and schedule files put a run config together.

The layers, each over the one before::

    RunConfig() defaults
      <- partial config dicts, in order (a --config file, a request's ``config``, a schedule
         entry's ``config``, a stored run's config), merged section by section
      <- dotted assignments, in order (``("corpus.path", "texts/")``: flags, --set)
      <- the LLM spec (``--llm`` / ``llm``: 'local', 'local:<model>', 'openai' or a URL)
         and the model name on the LLM server

Every mistake is a :class:`~autointerp.errors.ConfigError` naming the key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from autointerp.config.dicts import assign_dotted, deep_merge
from autointerp.config.run import RunConfig

__all__ = ["build_config", "given"]


def build_config(
    *partials: Mapping[str, Any],
    assign: Iterable[tuple[str, Any]] = (),
    llm: str | None = None,
    llm_model: str | None = None,
) -> RunConfig:
    """The run config of the defaults <- ``partials`` <- ``assign`` <- ``llm``/``llm_model``
    (see the module docstring). A value of ``None`` in ``assign`` is assigned as such; leave
    out options that were not given (:func:`given`)."""
    data: dict[str, Any] = RunConfig().to_dict()
    for partial in partials:
        data = deep_merge(data, dict(partial))
    for dotted, value in assign:
        assign_dotted(data, dotted, value)
    cfg = RunConfig.from_dict(data)
    if llm or llm_model:
        from autointerp.llm import llm_config_from_spec

        spec = llm or ("local" if cfg.llm.backend == "local" else cfg.llm.base_url or "local")
        cfg = replace(cfg, llm=llm_config_from_spec(spec, cfg.llm, llm_model))
    return cfg


def given(options: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The ``(dotted key, value)`` pairs of ``options`` that were given (not ``None``)."""
    return [(dotted, value) for dotted, value in options.items() if value is not None]
