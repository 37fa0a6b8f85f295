"""LLM backends behind one interface, registered by name."""

from __future__ import annotations

from dataclasses import replace

from autointerp.config import LLMConfig
from autointerp.llm import local as _local  # noqa: F401  (registers "local")
from autointerp.llm import openai_http as _openai  # noqa: F401  (registers "openai")
from autointerp.llm import vllm_engine as _vllm  # noqa: F401  (registers "vllm"; imports no vllm)
from autointerp.llm.base import BACKENDS, LLM, Completion, Judgement, Messages, Prompt, make_llm

__all__ = [
    "BACKENDS",
    "LLM",
    "Completion",
    "Judgement",
    "Messages",
    "Prompt",
    "llm_config_from_spec",
    "make_llm",
]


def llm_config_from_spec(
    spec: str, base: LLMConfig | None = None, model: str | None = None
) -> LLMConfig:
    """``--llm`` values: ``local`` | ``local:<model path or name>`` | ``vllm`` |
    ``vllm:<model>`` (the in-process vLLM engine) | an http(s) base URL of an
    OpenAI-compatible server (``--llm-model`` names the served model; default: the first the
    server lists) | ``openai`` (api.openai.com)."""
    cfg = base or LLMConfig()
    if spec == "local":
        return replace(cfg, backend="local", base_url=None, model=model or LLMConfig().model)
    if spec.startswith("local:"):
        return replace(cfg, backend="local", base_url=None, model=spec.split(":", 1)[1])
    if spec == "vllm" or spec.startswith("vllm:"):
        name = spec.split(":", 1)[1] if ":" in spec else model or LLMConfig().model
        return replace(cfg, backend="vllm", base_url=None, model=name)
    if spec.startswith(("http://", "https://")):
        return replace(cfg, backend="openai", base_url=spec, model=model or "")
    if spec == "openai":
        return replace(
            cfg,
            backend="openai",
            base_url="https://api.openai.com/v1",
            model=model or "gpt-4o-mini",
        )
    from autointerp.errors import ConfigError

    raise ConfigError(
        f"--llm {spec!r}: expected 'local', 'local:<model>', 'openai' or an http(s) URL "
        "(or 'vllm', 'vllm:<model>' for the in-process vLLM engine)"
    )
