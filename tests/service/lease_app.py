"""Test-only Celery module of the lease tests: the service's own app (``autointerp.tasks.app``,
its settings and its lease renewer) plus one task, ``tests.hold``, that records each start in
a file and then sleeps. A pipeline step cannot be made to last a chosen time, and the lease
test needs a task that certainly outlives a short visibility timeout, so the test starts
real workers on this module (``celery -A tests.service.lease_app worker``).

With ``AUTOINTERP_TEST_NO_LEASE=1`` the worker does not start the lease: the control that
shows the test fails without it.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from celery.signals import worker_ready

from autointerp.tasks.app import _start_lease, app

__all__ = ["app", "hold"]

if os.environ.get("AUTOINTERP_TEST_NO_LEASE") == "1":
    worker_ready.disconnect(_start_lease)


@app.task(name="tests.hold", queue="io")  # type: ignore[untyped-decorator]
def hold(seconds: float, marker: str) -> str:
    """Append ``<pid> <time>`` to ``marker``, then sleep ``seconds``."""
    with Path(marker).open("a", encoding="utf-8") as handle:
        handle.write(f"{os.getpid()} {time.time():.3f} {socket.gethostname()}\n")
    time.sleep(seconds)
    return "held"
