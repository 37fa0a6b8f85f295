"""What a run's LLM calls cost: a price table and the cost of a row's tokens.

``LLMConfig.prices`` names a JSON file mapping a model name to its prices in USD per
million tokens::

    {"gpt-4o-mini": {"prompt": 0.15, "completion": 0.6},
     "HuggingFaceTB/SmolLM2-135M-Instruct": {"prompt": 0, "completion": 0}}

The model is looked up by the name the backend reports (``backend:model@url`` without the
backend and the URL), then by ``LLMConfig.model``. No table, or a model the table lacks,
gives no price and a null ``cost_usd`` column; a malformed table is a ``ConfigError`` that
names the file and the field.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

from autointerp.config import LLMConfig
from autointerp.errors import ConfigError

__all__ = ["Price", "load_prices", "model_of", "price_for"]

log = logging.getLogger(__name__)

FIELDS = ("prompt", "completion")


@dataclass(frozen=True)
class Price:
    """USD per million prompt and completion tokens."""

    prompt: float
    completion: float

    def cost(self, prompt_tokens: float, completion_tokens: float) -> float:
        return (prompt_tokens * self.prompt + completion_tokens * self.completion) / 1e6


def load_prices(path: str | Path) -> dict[str, Price]:
    """Read and check a price table (see the module docstring)."""
    where = f"llm.prices file {path}"
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{where} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{where} is not readable JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected an object mapping model names to prices")
    table: dict[str, Price] = {}
    for model, entry in data.items():
        if not isinstance(entry, dict):
            raise ConfigError(
                f'{where}: {model!r}: expected {{"prompt": ..., "completion": ...}} '
                f"(USD per million tokens), got {entry!r}"
            )
        unknown = sorted(set(entry) - set(FIELDS))
        if unknown:
            raise ConfigError(f"{where}: {model!r}: unknown field(s) {', '.join(unknown)}")
        values = []
        for name in FIELDS:
            value = entry.get(name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(
                    f"{where}: {model!r}.{name}: expected a number (USD per million tokens), "
                    f"got {value!r}"
                )
            if not math.isfinite(value) or value < 0:
                raise ConfigError(
                    f"{where}: {model!r}.{name}: expected a finite price >= 0, got {value!r}"
                )
            values.append(float(value))
        table[str(model)] = Price(*values)
    return table


def model_of(llm_name: str) -> str:
    """``openai:gpt-4o-mini@https://...`` -> ``gpt-4o-mini`` (the name a backend reports)."""
    backend, sep, rest = llm_name.partition(":")
    name = rest if sep and "/" not in backend else llm_name
    return name.rsplit("@", 1)[0] if "@" in name else name


def price_for(cfg: LLMConfig, llm_name: str | None = None) -> Price | None:
    """The price of the model behind ``llm_name`` (else ``cfg.model``); None without a table
    or for a model the table lacks (logged)."""
    if not cfg.prices:
        return None
    table = load_prices(cfg.prices)
    for key in (model_of(llm_name) if llm_name else None, cfg.model):
        if key and key in table:
            return table[key]
    log.warning(
        "llm.prices file %s has no price for %s; cost_usd stays empty",
        cfg.prices,
        model_of(llm_name) if llm_name else cfg.model,
    )
    return None
