"""The distributed service: job records on shared storage, per-batch pipeline steps, and the
settings every front door (CLI, Celery tasks, HTTP API) reads from the environment.

Celery itself lives in :mod:`autointerp.tasks` (thin tasks over :mod:`.steps`); the HTTP API
in :mod:`autointerp.api`.
"""
