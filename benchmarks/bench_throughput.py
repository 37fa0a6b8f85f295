"""LLM-bound throughput (latents/s against the concurrency bound) and the Celery overhead.

An LLM endpoint whose only cost is time (``latency_server.py``, a separate process, every
request answered after a fixed latency L) stands in for a remote API. Then:

1. In process, for each ``llm.max_concurrency`` c: explain and score N latents of the demo
   SAE (detection + fuzz, ``openai`` backend) and time only the LLM-bound stages
   (``explanations_for`` and one ``score_all`` per scorer; loading, caching and sampling
   happen once, untimed). Each stage sends its R_s requests at once, at most c in flight,
   and the next stage starts when the last reply is in, so the best possible time is
   sum_s ceil(R_s / c) * L (the *stage bound*); the *fluid bound* R * L / c ignores the
   stage barriers. The table shows latents/s against the stage bound, requests/s against
   c / L, the server's most requests in flight and the client's CPU time per request. A
   zero-latency run at the largest c measures the pipeline's own cost (client + CPU).
2. Through the service: the same job submitted to Celery (embedded Redis; one solo worker on
   ``model,io`` and one ``--pool threads`` worker on ``llm``), timed from submission to
   'done', against ``pipeline.run`` of the same config in process; the time inside the
   tasks (from Celery's task events) against the wall time; and the raw broker round trip
   of a task that returns at once (``autointerp.finalise`` on a cancelled job).

    python benchmarks/bench_throughput.py [--latency 0.25] [--concurrency 1,4,16,64,256]
        [--latents 32] [--celery-latents 32] [--llm-threads 4] [--no-celery]
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from latency_server import ServerProcess

from autointerp import pipeline
from autointerp.config import (
    CacheConfig,
    CorpusConfig,
    LLMConfig,
    RunConfig,
    SamplingConfig,
    ScoringConfig,
)
from autointerp.llm.openai_http import OpenAICompatibleLLM
from autointerp.pipeline import Prepared
from autointerp.records import Explanation, LatentRecord, LatentSample
from autointerp.service.jobs import JobStore
from autointerp.service.redis_server import EmbeddedRedis
from autointerp.stages import (
    build_records,
    compute_stats,
    explanations_for,
    score_all,
    select_samples,
)
from scorers import SCORERS as REGISTRY
from scorers.base import YesNoScorer

SCORERS = ("detection", "fuzz")


# ------------------------------------------------------------------------ the configuration
def bench_config(url: str, concurrency: int, latents: str) -> RunConfig:
    return RunConfig(
        latents=latents,
        corpus=CorpusConfig(n_tokens=6400),
        cache=CacheConfig(dtype="float32", shard_windows=100),
        sampling=SamplingConfig(n_explain=6, n_score=6, n_nonactivating=6, min_examples=8),
        llm=LLMConfig(backend="openai", base_url=url, model="fake", max_concurrency=concurrency),
        scoring=ScoringConfig(scorers=SCORERS, n_bootstrap=20),
    )


# ------------------------------------------------------------------------------- in process
@dataclass
class Stage:
    name: str
    seconds: float
    requests: int


@dataclass
class Level:
    concurrency: int
    latency: float
    latents: int
    stages: list[Stage]
    cpu: float
    max_in_flight: int
    not_ok: dict[str, int]
    """Explanations and scores whose status is not 'ok', by status."""

    @property
    def wall(self) -> float:
        return sum(s.seconds for s in self.stages)

    @property
    def requests(self) -> int:
        return sum(s.requests for s in self.stages)

    def stage_bound(self) -> float:
        return sum(math.ceil(s.requests / self.concurrency) * self.latency for s in self.stages)


def requests_per_latent(records: list[LatentRecord], cfg: RunConfig) -> float:
    """Expected requests per latent: 1 explanation + per scorer its prompts + 1 calibration."""
    total = 0
    for record in records:
        expl = Explanation(record.latent, 0, "anything", "bench")
        total += 1
        for name in cfg.scoring.scorers:
            scorer = REGISTRY.get(name)()
            assert isinstance(scorer, YesNoScorer), f"{name} is not a yes/no scorer"
            total += len(scorer.items(record, expl, cfg.seed)) + 1
    return total / max(1, len(records))


def run_level(
    prep: Prepared,
    records: list[LatentRecord],
    samples: list[LatentSample],
    c: int,
    server: ServerProcess,
) -> Level:
    """Explain + score ``records`` with concurrency ``c``; each stage timed and counted."""
    llm_cfg = replace(prep.cfg.llm, max_concurrency=c)
    llm = OpenAICompatibleLLM(llm_cfg)
    llm.check()  # the probe request, untimed
    p = replace(prep, cfg=replace(prep.cfg, llm=llm_cfg), llm=llm)
    wanted = {r.latent for r in records}
    samples = [s for s in samples if s.latent in wanted]
    stages: list[Stage] = []
    server.reset()
    cpu = time.process_time()
    start, before = time.perf_counter(), 0
    explanations = explanations_for(p, records, samples, False)

    def lap(name: str) -> None:
        nonlocal start, before
        now, count = time.perf_counter(), server.stats()["requests"]
        stages.append(Stage(name, now - start, count - before))
        start, before = time.perf_counter(), count

    lap("explain")
    statuses = Counter(e.status for e in explanations)
    for name in prep.cfg.scoring.scorers:
        results = score_all(p, records, explanations, False, scorers=[name])
        lap(name)
        statuses.update(f"{name}:{r.status}" for r in results)
    cpu = time.process_time() - cpu
    stats = server.stats()
    latency = float(stats["latency"])
    not_ok = {k: v for k, v in statuses.items() if k.split(":")[-1] != "ok"}
    return Level(c, latency, len(records), stages, cpu, int(stats["max_in_flight"]), not_ok)


def in_process(server: ServerProcess, args: argparse.Namespace) -> None:
    levels = [int(c) for c in args.concurrency.split(",")]
    cfg = bench_config(server.url, max(levels), f"live:{args.latents}")
    t0 = time.perf_counter()
    prep = pipeline.prepare(cfg)
    stats = compute_stats(prep, False)
    samples = select_samples(stats, prep)
    records = build_records(prep, stats, samples, False)
    print(
        f"\n[1] in process: {len(records)} latents ready (load + cache + sample, untimed: "
        f"{time.perf_counter() - t0:.1f} s); latency L = {args.latency} s; scorers "
        f"{'+'.join(SCORERS)}; n_score=6, n_nonactivating=6"
    )
    per_latent = requests_per_latent(records, cfg)
    rows: list[Level] = []
    for c in levels:  # N: about --level-budget seconds of ideal time per level
        n = min(len(records), max(2, int(args.level_budget * c / (args.latency * per_latent))))
        rows.append(run_level(prep, records[:n], samples, c, server))
    server.set_latency(0.0)  # the pipeline's own cost per request, at a low and the top c
    floors = [run_level(prep, records, samples, c, server) for c in {min(levels), max(levels)}]
    server.set_latency(args.latency)
    print_levels(rows, sorted(floors, key=lambda r: r.concurrency))


def print_levels(rows: list[Level], floors: list[Level]) -> None:
    """The table; '+cpu s' = the stage bound + the client's CPU time: the wall time if the
    client's per-request work (serialised on one core by the GIL) never overlapped the
    waiting."""
    print(
        f"{'c':>4} {'N':>3} {'req/lat':>7} {'wall s':>7} {'+cpu s':>7} {'lat/s':>6} "
        f"{'bound':>6} {'ratio':>5} | {'req/s':>6} {'c/L':>6} {'ratio':>5} | {'inflight':>8} "
        f"{'cpu ms/req':>10} {'cpu/wall':>8}  not ok"
    )
    for r in [*rows, *floors]:
        rate = r.requests / r.wall
        if r.latency:
            bounds = f"{r.latents / r.stage_bound():>6.2f} {r.stage_bound() / r.wall:>5.2f}"
            ideal = f"{r.concurrency / r.latency:>6.1f} {rate * r.latency / r.concurrency:>5.2f}"
        else:
            bounds, ideal = f"{'-':>6} {'-':>5}", f"{'-':>6} {'-':>5}"
        not_ok = ", ".join(f"{v} {k}" for k, v in r.not_ok.items()) or "-"
        print(
            f"{r.concurrency:>4} {r.latents:>3} {r.requests / r.latents:>7.1f} {r.wall:>7.2f} "
            f"{r.stage_bound() + r.cpu:>7.2f} {r.latents / r.wall:>6.2f} {bounds} | "
            f"{rate:>6.1f} {ideal} | {r.max_in_flight:>8} "
            f"{1000 * r.cpu / r.requests:>10.2f} {r.cpu / r.wall:>8.2f}  {not_ok}"
            + ("   <- L = 0: the pipeline's own cost" if not r.latency else "")
        )
    print("stages (s, requests, stage bound s):")
    for r in rows:
        parts = [
            f"{s.name} {s.seconds:.2f}/{s.requests}/"
            f"{math.ceil(s.requests / r.concurrency) * r.latency:.2f}"
            for s in r.stages
        ]
        print(f"  c={r.concurrency:<4} " + "  ".join(parts))
    ratios = ", ".join(f"{r.stage_bound() / r.wall:.2f} at c={r.concurrency}" for r in rows)
    fluid = ", ".join(f"{r.requests * r.latency / r.concurrency / r.wall:.2f}" for r in rows)
    ceilings = ", ".join(
        f"{1000 * f.wall / f.requests:.2f} ms wall ({1000 * f.cpu / f.requests:.2f} ms CPU) at "
        f"c={f.concurrency}: {f.requests / f.wall:.0f} req/s = {f.latents / f.wall:.1f} latents/s"
        for f in floors
    )
    print(
        f"in process: latents/s over the stage bound sum_s ceil(R_s/c)*L: {ratios} (over the "
        f"fluid bound c/(L*req/lat): {fluid}); at L=0 the pipeline itself takes per request "
        f"{ceilings}: the ceiling whatever L"
    )


# ---------------------------------------------------------------------------------- Celery
class TaskEvents:
    """Celery's task events (sent, received, started, succeeded, retried), captured on a
    thread; the workers and this process send them (``worker_send_task_events``)."""

    def __init__(self) -> None:
        from autointerp.tasks.app import app  # reads the broker URL from the environment

        self.tasks: dict[str, dict[str, Any]] = {}
        self.retries = 0
        self._conn = app.connection_for_read()
        self._recv = app.events.Receiver(self._conn, handlers={"*": self._on})
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        time.sleep(1.0)  # the receiver's queue is bound before anything is sent

    def _run(self) -> None:
        self._recv.capture(limit=None, timeout=None, wakeup=False)

    def _on(self, event: dict[str, Any]) -> None:
        kind = str(event.get("type", ""))
        if not kind.startswith("task-") or "uuid" not in event:
            return
        task = self.tasks.setdefault(event["uuid"], {})
        task[kind.removeprefix("task-")] = float(event["timestamp"])
        if event.get("name"):
            task["name"] = str(event["name"]).removeprefix("autointerp.")
        if kind == "task-succeeded":
            task["runtime"] = float(event.get("runtime") or 0.0)
        if kind == "task-retried":
            self.retries += 1

    def stop(self) -> None:
        self._recv.should_stop = True
        self._thread.join(5)
        self._conn.release()

    def runs(self) -> list[dict[str, Any]]:
        """Finished tasks, each with name, sent, started, succeeded (timestamps), runtime."""
        return [t for t in self.tasks.values() if "succeeded" in t and "started" in t]


def busy_union(runs: list[dict[str, Any]]) -> float:
    """Seconds during which at least one task was running."""
    total, last = 0.0, -math.inf
    for task in sorted(runs, key=lambda r: float(r["started"])):
        start, end = float(task["started"]), float(task["succeeded"])
        if end > last:
            total += end - max(start, last)
            last = end
    return total


class Service:
    """An embedded Redis and the worker processes, each stopped by its PID."""

    def __init__(
        self, root: Path, batch_size: int, visibility: int = 300, omp_threads: str | None = "1"
    ) -> None:
        self.root = root
        self.redis = EmbeddedRedis(root / "redis").start()
        self.env = {
            "AUTOINTERP_REDIS_URL": self.redis.url,
            "AUTOINTERP_STORE": str(root / "store"),
            "AUTOINTERP_BATCH_SIZE": str(batch_size),
            "AUTOINTERP_VISIBILITY_TIMEOUT": str(visibility),
        }
        self.omp_threads = omp_threads
        """OMP_NUM_THREADS of the workers (None: torch's default)."""
        os.environ.update(self.env)  # for submit() and the client tasks in this process
        os.environ.pop("REDIS_URL", None)
        self.workers: dict[str, subprocess.Popen[bytes]] = {}

    def log(self, name: str) -> Path:
        return self.root / f"{name}.log"

    def start_worker(self, name: str, *args: str) -> None:
        cmd = [sys.executable, "-m", "autointerp", "worker", "-n", f"{name}@%h", *args]
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        if self.omp_threads is not None:
            env["OMP_NUM_THREADS"] = self.omp_threads
        out = self.log(name).open("ab")
        self.workers[name] = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        for name in self.workers:
            while " ready." not in self.log(name).read_text(errors="replace"):
                if time.monotonic() > deadline or self.workers[name].poll() is not None:
                    raise RuntimeError(
                        f"worker {name} not ready:\n{self.log(name).read_text()[-3000:]}"
                    )
                time.sleep(0.2)

    def stop(self) -> None:
        for proc in self.workers.values():
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
        for proc in self.workers.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        self.redis.stop()


def round_trips(store: JobStore, cfg: RunConfig, n: int) -> float:
    """n tasks that return at once, one after another, then n at once; the median (s)."""
    from autointerp.tasks.tasks import finalise

    job_id, _ = store.create(replace(cfg, latents="0:1"))
    store.cancel(job_id)
    finalise.apply_async((job_id,), queue="io").get(timeout=60)  # connections warm
    times = []
    for _ in range(n):
        start = time.perf_counter()
        finalise.apply_async((job_id,), queue="io").get(timeout=60)
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    for res in [finalise.apply_async((job_id,), queue="io") for _ in range(n)]:
        res.get(timeout=120)
    burst = time.perf_counter() - start
    times.sort()
    print(
        f"broker round trip (finalise of a cancelled job, -> io queue -> solo worker -> result): "
        f"median {1000 * times[n // 2]:.1f} ms, p90 {1000 * times[int(n * 0.9)]:.1f} ms over {n} "
        f"one at a time; {n} at once: {burst:.2f} s = {n / burst:.0f} tasks/s"
    )
    return times[n // 2]


def celery(server: ServerProcess, root: Path, args: argparse.Namespace) -> None:
    cfg = bench_config(server.url, args.celery_concurrency, f"live:{args.celery_latents}")
    server.reset()
    result = pipeline.run(cfg, root / "in-process", progress=False)
    inproc = sum(result.timings.values())
    inproc_requests = server.stats()["requests"]
    n_latents = len(result.explanations)
    timings = " ".join(f"{k} {v:.1f}" for k, v in result.timings.items())
    print(
        f"\n[2] Celery: {n_latents} latents, llm.max_concurrency={args.celery_concurrency}, "
        f"batches of {args.batch_size}; workers: 'model,io' solo + 'llm' threads "
        f"-c {args.llm_threads}\nin process (pipeline.run, same config): {inproc:.2f} s "
        f"({timings}), {inproc_requests} LLM requests"
    )
    service = Service(root, args.batch_size)
    try:
        service.start_worker("model", "-Q", "model,io")
        service.start_worker("llm", "-Q", "llm", "--pool", "threads", "-c", str(args.llm_threads))
        service.wait_ready()
        store = JobStore(root / "store")
        rtt = round_trips(store, cfg, args.round_trips)
        job(store, server, cfg, (inproc, n_latents, inproc_requests), rtt)
    finally:
        service.stop()


def job(
    store: JobStore, server: ServerProcess, cfg: RunConfig, ref: tuple[float, int, int], rtt: float
) -> None:
    """Submit ``cfg``, wait for 'done', print the tasks' times against the in-process run
    ``ref`` = (seconds, latents, LLM requests) and the broker round trip ``rtt``."""
    from autointerp.tasks import submit

    inproc, n_latents, inproc_requests = ref
    events = TaskEvents()
    server.reset()
    t0 = time.time()
    job_id, _ = submit(cfg)
    submitted = time.time() - t0
    while (status := store.status(job_id))["state"] not in ("done", "failed", "cancelled"):
        if time.time() - t0 > 600:
            raise RuntimeError(f"job {job_id} not done in 600 s: {status}")
        time.sleep(0.05)
    wall = time.time() - t0
    time.sleep(1.5)  # the last events
    events.stop()
    if status["state"] != "done":
        raise RuntimeError(f"job {job_id} {status['state']}: {status.get('error')}")
    runs = events.runs()
    inside = sum(float(r["runtime"]) for r in runs)
    busy = busy_union(runs)
    requests = server.stats()["requests"]
    print(
        f"job via Celery: {wall:.2f} s from submit() to 'done' (submit() itself {submitted:.2f} s; "
        f"{len(runs)} tasks, {events.retries} retries), {requests} LLM requests"
    )
    print(
        f"  {'task':<12} {'n':>3} {'sum s':>7} {'first s':>7} {'rest mean':>9} {'wait s':>7} "
        f"{'max wait':>8}"
    )
    by_name: dict[str, list[dict[str, Any]]] = {}
    for task in sorted(runs, key=lambda r: float(r["started"])):
        by_name.setdefault(str(task.get("name", "?")), []).append(task)
    for name, group in by_name.items():
        secs = [float(r["runtime"]) for r in group]
        waits = [max(0.0, float(r["started"]) - float(r.get("sent", r["started"]))) for r in group]
        rest = f"{sum(secs[1:]) / (len(secs) - 1):>9.2f}" if len(secs) > 1 else f"{'-':>9}"
        print(
            f"  {name:<12} {len(group):>3} {sum(secs):>7.2f} {secs[0]:>7.2f} {rest} "
            f"{sum(waits):>7.2f} {max(waits):>8.2f}"
        )
    last = max(float(r["succeeded"]) for r in runs)
    print(
        f"  (wait = sent -> started: broker hop + queueing behind busy workers)\n"
        f"  inside tasks: {inside:.2f} s summed; some task running during {busy:.2f} s = "
        f"{busy / wall:.0%} of the wall time; no task running for {wall - busy:.2f} s; "
        f"last task done -> 'done' seen: {t0 + wall - last:.2f} s"
    )
    print(
        f"Celery overhead per latent = ({wall:.2f} - {inproc:.2f}) s / {n_latents} = "
        f"{1000 * (wall - inproc) / n_latents:.0f} ms (Celery/in-process = {wall / inproc:.2f}x; "
        f"{requests - inproc_requests:+d} requests); of it broker hops ~ {len(runs)} tasks x "
        f"{1000 * rtt:.1f} ms / {n_latents} = {1000 * len(runs) * rtt / n_latents:.1f} ms"
    )


# ------------------------------------------------------------------------------------ main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--latency", type=float, default=0.25, help="Server latency (s).")
    ap.add_argument("--concurrency", default="1,4,16,64,256", help="max_concurrency levels.")
    ap.add_argument("--latents", type=int, default=32, help="Latents per level (at most).")
    ap.add_argument(
        "--level-budget", type=float, default=10.0, help="Ideal seconds per level (sets N)."
    )
    ap.add_argument("--celery-latents", type=int, default=32)
    ap.add_argument("--celery-concurrency", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=8, help="AUTOINTERP_BATCH_SIZE.")
    ap.add_argument("--llm-threads", type=int, default=4, help="Threads of the llm worker.")
    ap.add_argument("--round-trips", type=int, default=200)
    ap.add_argument("--no-celery", action="store_true")
    ap.add_argument("--keep", action="store_true", help="Keep the temporary folder.")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    root = Path(tempfile.mkdtemp(prefix="bench-throughput-"))
    # One activation cache for the in-process runs and the service's store.
    os.environ["AUTOINTERP_ACTIVATIONS_DIR"] = str(root / "store" / "activations")
    server = ServerProcess(args.latency)
    start = time.perf_counter()
    try:
        wall, stats = server.burst(256), server.stats()
        print(
            f"server check: 256 requests at once (raw sockets) answered in {wall:.2f} s at "
            f"latency {args.latency} s; max in flight {stats['max_in_flight']}"
        )
        in_process(server, args)
        if not args.no_celery:
            celery(server, root, args)
    finally:
        server.stop()
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
