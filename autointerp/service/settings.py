"""Service settings, read lazily from the environment (``AUTOINTERP_*`` variables).

Nothing here is read at import time: call :func:`get_settings` where a value is needed, so
a test (or ``autointerp up``) can set the environment first. Secrets (the API token) are
never written to any output.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ServiceSettings", "absolute_store", "get_settings", "results_root"]


class ServiceSettings(BaseSettings):
    """Every knob of the service; each field is the env variable ``AUTOINTERP_<NAME>``
    (``REDIS_URL`` is also read without the prefix)."""

    model_config = SettingsConfigDict(env_prefix="AUTOINTERP_", extra="ignore")

    redis_url: str = Field(
        "redis://localhost:6379/0",
        description="Broker and result backend (AUTOINTERP_REDIS_URL or REDIS_URL).",
    )
    store: Path | str = Field(
        Path("autointerp-store"),
        description="Shared storage root: job records, staged batch results, the activation "
        "statistics and the Parquet tables (the same layout 'autointerp run --out' writes). "
        "A local path (shared by NFS between machines) or an fsspec URL such as "
        "s3://bucket/prefix, through which workers that share no filesystem share every file "
        "of a job.",
    )
    results_url: str | None = Field(
        None,
        description="Where finished jobs write their tables: a path or any fsspec URL such as "
        "s3://bucket/prefix (default: the store itself).",
    )
    api_token: str | None = Field(
        None,
        description="Token required (as 'Authorization: Bearer <token>') by every API call "
        "that writes or starts work; with none set, such calls are refused.",
    )
    batch_size: int = Field(
        32,
        ge=1,
        description="Latents per sample/explain/score batch (each batch replays the shared "
        "pool of negative windows once, a fixed cost: on CPU ~12 s for the demo).",
    )
    visibility_timeout: int = Field(
        120,
        ge=1,
        description="Seconds after which the task of a dead worker goes back to its queue. "
        "Live workers renew the lease on their tasks every quarter of it, so it need not "
        "exceed the longest task; lower it for faster redelivery, raise it if workers can "
        "lose Redis for longer than this.",
    )
    task_soft_time_limit: int = Field(3000, ge=1, description="Soft time limit per task (s).")
    task_time_limit: int = Field(3600, ge=1, description="Hard time limit per task (s).")
    llm_retries: int = Field(3, ge=0, description="Task retries after an LLM outage.")
    retry_backoff_base: float = Field(
        10.0, gt=0, description="First retry delay after an LLM outage (s); doubles each time."
    )
    retry_backoff_max: float = Field(600.0, gt=0, description="Cap of the retry backoff (s).")
    schedule_file: Path | None = Field(
        None, description="TOML schedule that 'autointerp beat' runs (see queue/schedule.toml)."
    )
    beat_state: Path | None = Field(
        None, description="Where beat keeps its last-run times (default: <store>/beat/)."
    )


def absolute_store(store: str | Path) -> str:
    """A store given on the command line, as the environment should pass it on: a URL as it
    is, a local path made absolute."""
    from autointerp.store.remote import is_url

    return str(store) if is_url(store) else str(Path(store).resolve())


def results_root(settings: ServiceSettings) -> Path | str:
    """Where the result tables live: ``results_url`` when set, else the store."""
    return settings.results_url or settings.store


def get_settings() -> ServiceSettings:
    """The settings as the environment says now (``REDIS_URL`` as a fallback)."""
    import os

    settings = ServiceSettings()
    if "AUTOINTERP_REDIS_URL" not in os.environ and os.environ.get("REDIS_URL"):
        settings = settings.model_copy(update={"redis_url": os.environ["REDIS_URL"]})
    return settings
