"""A lease on every task a live worker holds, so a short visibility timeout is safe.

Kombu's Redis transport keeps each delivered, not yet acknowledged message in the ``unacked``
hash and its delivery time in the ``unacked_index`` sorted set (score = Unix time). Every
consumer sweeps that set every ``unacked_restore_interval`` seconds and puts back on its queue
any message whose score is older than ``visibility_timeout``: that is how a SIGKILLed worker's
task runs again elsewhere. Without a lease the timeout must exceed the longest task (or ETA
countdown), or a task still running on a live worker is handed to a second one.

:class:`LeaseRenewer` is a daemon thread in each worker's main process (started by the
``worker_ready`` signal, stopped by ``worker_shutdown``; see :mod:`autointerp.tasks.app`).
Every ``visibility_timeout / 4`` seconds it re-scores, with ``ZADD XX`` and the current time,
the delivery tags of the requests the worker holds: reserved, active and waiting for an ETA
(``celery.worker.state``). ``XX`` only updates members that are still there, so a message
acknowledged meanwhile is never re-added. A thread, not a timer on the worker's event loop:
the solo pool runs a task on that loop's thread and would block the renewal for the whole
task. While the worker lives its messages stay younger than the timeout; once it dies the
renewals stop and the others' sweep gives its messages back within one timeout (plus one
sweep interval) of the last renewal.

Renewal errors (Redis restarting, say) are logged and retried at the next interval; a worker
cut off from Redis for longer than the timeout may see its task run a second time, which the
idempotent steps absorb.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

from celery import Celery
from celery.utils.log import get_logger

__all__ = ["LeaseRenewer", "held_delivery_tags", "start_lease", "stop_lease"]

log = get_logger(__name__)

_running: list[LeaseRenewer] = []
"""The renewer of this process (at most one)."""


def held_delivery_tags() -> list[str]:
    """Delivery tags of every request this worker process holds (reserved, active, ETA)."""
    from celery.worker import state

    pools: list[Iterable[Any]] = [
        state.reserved_requests,
        state.active_requests,
        getattr(state, "scheduled_requests", ()),
    ]
    for _ in range(10):
        try:
            requests = [request for pool in pools for request in list(pool)]
            break
        except RuntimeError:  # the worker's thread changed a set while we copied it
            time.sleep(0.01)
    else:
        return []
    tags = {getattr(request.message, "delivery_tag", None) for request in requests}
    return sorted(str(tag) for tag in tags if tag is not None)


class LeaseRenewer(threading.Thread):
    """Re-scores this worker's unacknowledged messages in ``unacked_index`` every
    ``interval`` seconds (a daemon thread; :meth:`stop` ends it)."""

    def __init__(self, app: Celery, interval: float) -> None:
        super().__init__(name="autointerp-lease", daemon=True)
        self.app = app
        self.interval = interval
        self._stop_event = threading.Event()
        self.renewals = 0
        """Renewal rounds that re-scored at least one message."""

    def renew(self, client: Any, index_key: str) -> int:
        """One round: ``ZADD XX`` the held tags with the current time; returns how many."""
        tags = held_delivery_tags()
        if tags:
            now = time.time()
            client.zadd(index_key, dict.fromkeys(tags, now), xx=True)
            self.renewals += 1
            log.debug("lease: renewed %d message(s)", len(tags))
        return len(tags)

    def run(self) -> None:
        # A connection of its own: the consumer's is not thread-safe. Its channel's client
        # prefixes keys with ``global_keyprefix`` and its ``unacked_index_key`` follows the
        # broker transport options, exactly as the sweeping consumers see them.
        conn = self.app.connection_for_write()
        try:
            while not self._stop_event.wait(self.interval):
                try:
                    channel = conn.default_channel
                    self.renew(channel.client, channel.unacked_index_key)
                except Exception as exc:  # keep renewing whatever Redis did
                    log.warning("lease: renewal failed (%s: %s)", type(exc).__name__, exc)
        finally:
            conn.release()

    def stop(self) -> None:
        self._stop_event.set()


def start_lease(app: Celery) -> LeaseRenewer | None:
    """Start this process's renewer (once) when the broker is Redis; None otherwise."""
    if _running:
        return _running[0]
    transport = app.connection_for_read().transport.driver_type
    if transport != "redis":
        log.info("lease: broker %s is not Redis; no lease", transport)
        return None
    timeout = float(app.conf.broker_transport_options.get("visibility_timeout", 3600))
    renewer = LeaseRenewer(app, interval=max(0.5, timeout / 4))
    renewer.start()
    _running.append(renewer)
    log.info(
        "lease: renewing held tasks every %.1f s (visibility timeout %g s)",
        renewer.interval,
        timeout,
    )
    return renewer


def stop_lease() -> None:
    while _running:
        _running.pop().stop()
