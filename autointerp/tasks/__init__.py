"""Celery front door: the app (:mod:`.app`), thin tasks (:mod:`.tasks`), the task graph
(:mod:`.graph`) and Celery beat firing schedule files (:mod:`.beat`). Importing this package
does not connect to Redis; submitting does."""

from __future__ import annotations

from autointerp.tasks.graph import submit

__all__ = ["submit"]
