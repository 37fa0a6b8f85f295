"""The Celery app: Redis as broker and result backend, settings from the environment.

Start workers with ``autointerp worker -Q model,llm,io`` (or ``celery -A autointerp.tasks.app
worker``). Reliability settings: tasks are acknowledged after they finish (``acks_late``) and
given back when their worker dies; every task is idempotent (it skips work whose output is
already on the store), so a task that runs twice writes its rows once.

Redelivery is a lease (:mod:`autointerp.tasks.lease`): a live worker re-stamps the messages it
holds every ``AUTOINTERP_VISIBILITY_TIMEOUT / 4`` seconds, and every worker sweeps Redis for
messages not stamped for ``AUTOINTERP_VISIBILITY_TIMEOUT`` seconds (default 120) and puts them
back on their queue. So a SIGKILLed worker's task runs again elsewhere about two minutes
later, while a task that runs for hours (or waits hours for a retry countdown) on a live
worker is never handed out twice. Thanks to the lease the visibility timeout no longer bounds
task length: the soft and hard time limits (``AUTOINTERP_TASK_SOFT_TIME_LIMIT`` /
``AUTOINTERP_TASK_TIME_LIMIT``, enforced by the prefork pool) may be far above it.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import worker_ready, worker_shutdown

from autointerp.service.settings import ServiceSettings, get_settings
from autointerp.tasks.lease import start_lease, stop_lease

__all__ = ["QUEUES", "app", "celery_config"]

QUEUES = ("model", "llm", "io")
"""model: workers holding the subject model (caching, sampling, model-based scorers);
llm: explainer/scorer LLM calls; io: writes and job bookkeeping."""


def celery_config(settings: ServiceSettings) -> dict[str, Any]:
    # Kombu looks for messages of dead workers every interval x throttle seconds (100 s by
    # default); sweep every quarter of the visibility timeout (at most every 10 s) instead.
    sweep = max(1, min(10, settings.visibility_timeout // 4))
    return {
        "broker_url": settings.redis_url,
        "result_backend": settings.redis_url,
        "broker_transport_options": {
            "visibility_timeout": settings.visibility_timeout,
            "unacked_restore_interval": sweep,
            "unacked_restore_throttle": 1,
        },
        "result_backend_transport_options": {"visibility_timeout": settings.visibility_timeout},
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,
        "result_backend_always_retry": True,
        "result_backend_max_retries": 20,
        "result_expires": 7 * 24 * 3600,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": True,
        "worker_prefetch_multiplier": 1,
        "task_default_queue": "io",
        "task_soft_time_limit": settings.task_soft_time_limit,
        "task_time_limit": settings.task_time_limit,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "worker_hijack_root_logger": False,
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "timezone": "UTC",
    }


app = Celery("autointerp", include=["autointerp.tasks.tasks", "autointerp.tasks.beat"])
app.conf.update(celery_config(get_settings()))


@worker_ready.connect(weak=False)
def _start_lease(sender: Any = None, **_: Any) -> None:
    start_lease(sender.app if sender is not None else app)


@worker_shutdown.connect(weak=False)
def _stop_lease(**_: Any) -> None:
    stop_lease()
