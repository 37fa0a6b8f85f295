"""The one exception tree of autointerp.

Every error the library raises on purpose is an ``AutointerpError``::

    AutointerpError
    ├── UserInputError            (also a ValueError) the user gave something we cannot use;
    │   │                          the message names the file or field and what was expected
    │   ├── ConfigError           a run option is invalid (unknown key, bad latent range, ...)
    │   ├── CheckpointError       SAE checkpoint missing, malformed, NaN/Inf, unknown architecture
    │   ├── ModelError            subject model cannot be loaded or does not fit the checkpoint
    │   ├── CorpusError           corpus missing, empty, or without the text column
    │   ├── ExplanationsError     a --explanations file is unreadable or lacks its columns
    │   ├── PayloadError          an API request parses but cannot be used (HTTP 400)
    │   └── InteropError          a file to import (Neuronpedia, SAEBench, delphi) or a run to
    │                              export that cannot be used; names the file and field
    ├── LLMError                  something went wrong talking to the explainer / scorer LLM
    │   ├── LLMUnavailableError   endpoint unreachable or refusing us (after capped retries)
    │   ├── LLMRequestError       the endpoint rejected the request (4xx other than 408/429): fatal
    │   └── LLMResponseError      a reply we could not use (empty, unparsable, wrong format)
    ├── StoreError                results could not be written or read back
    └── ServiceUnavailableError   the service's Redis cannot be reached (nothing was recorded)

``LLMTransientError`` is internal: the retry policy raises and catches it for errors worth
retrying (timeouts, 408, 429, 5xx, dropped connections); when retries run out it becomes
``LLMUnavailableError``.

Per-latent failures inside a run (an unparsable explanation, a scorer that failed) are not
raised out of the run: they are recorded as explicit status rows in the Parquet output.
"""

from __future__ import annotations

__all__ = [
    "AutointerpError",
    "CheckpointError",
    "ConfigError",
    "CorpusError",
    "ExplanationsError",
    "InteropError",
    "LLMError",
    "LLMRequestError",
    "LLMResponseError",
    "LLMTransientError",
    "LLMUnavailableError",
    "ModelError",
    "PayloadError",
    "ServiceUnavailableError",
    "StoreError",
    "UserInputError",
]


class AutointerpError(Exception):
    """Base class of every error autointerp raises on purpose."""


class UserInputError(AutointerpError, ValueError):
    """Input from the user that cannot be used; the message says which and why."""


class ConfigError(UserInputError):
    """An invalid run option (unknown key, wrong type, out-of-range value)."""


class CheckpointError(UserInputError):
    """An SAE checkpoint that is missing, malformed or inconsistent."""


class ModelError(UserInputError):
    """A subject model that cannot be loaded or does not fit the checkpoint."""


class CorpusError(UserInputError):
    """A corpus that is missing, empty or has no usable text."""


class ExplanationsError(UserInputError):
    """A user-supplied explanations file that cannot be used."""


class PayloadError(UserInputError):
    """An HTTP request whose fields parse but cannot be used together (e.g. scoring texts
    that are all activating); the API answers 400 with the message as ``detail``."""


class InteropError(UserInputError):
    """A file to import from another tool, or a run to export, that cannot be used."""


class LLMError(AutointerpError):
    """Base class for errors talking to an LLM backend."""


class LLMTransientError(LLMError):
    """A retryable failure (timeout, 408, 429, 5xx, connection dropped). Internal."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LLMUnavailableError(LLMError):
    """The LLM endpoint cannot be reached or keeps failing after capped retries."""


class LLMRequestError(LLMError):
    """The endpoint rejected the request itself (a 4xx other than 408/429); not retried."""


class LLMResponseError(LLMError):
    """A reply that cannot be used: empty, unparsable, or in the wrong format."""


class StoreError(AutointerpError):
    """Results could not be written to, or read from, the Parquet store."""


class ServiceUnavailableError(AutointerpError):
    """The broker (Redis) cannot be reached; the job was not recorded."""
