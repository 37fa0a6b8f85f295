"""Every live latent of a 16,384-latent SAE, in process and through the service, against an
LLM endpoint whose only cost is time (``latency_server.py``, fixed latency L).

The SAE: a TopK SAE (16,384 latents, k=32) on SmolLM2-135M's residual stream after block 15,
trained by ``scripts/train_demo_sae.py --latents 16384`` on first use (cached under the user
cache; 12-27 min on 2 cores) or given with ``--sae``. The job: every live latent
(``latents=live:16384``), explained by the default explainer and scored by detection and
fuzz, through the ``openai`` backend with ``llm.chat_as_text`` (prompts go to the completions
endpoint as lists within ``llm.batch_tokens``).

Printed, for the in-process run (``autointerp run``'s code, in a child process) and for the
same job through Celery (embedded Redis; a ``model,io`` worker and an ``llm`` worker):

* wall time per stage, latents/hour, LLM requests per latent;
* windows and tokens replayed (once per job) against the tokens cached;
* Redis peak memory, Celery tasks, store size, peak RSS per process;
* the service/in-process ratio of latents/hour;
* the LLM-bound stages (explain + score) against the request bound (R * L / c) and the
  round-trip bound (each stage of each batch waits for one reply), at ``--concurrency`` c;
* an extrapolation to 1M latents from the measured per-stage costs.

    python benchmarks/bench_scale.py [--sae DIR] [--latency 0.25] [--tokens 150000]
        [--latents live:16384] [--no-celery] [--concurrency 64] [--batch-size 128]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_throughput import Service as ThroughputService
from latency_server import ServerProcess

from autointerp.config import (
    CacheConfig,
    CorpusConfig,
    LLMConfig,
    RunConfig,
    SamplingConfig,
    ScoringConfig,
)
from autointerp.paths import cache_dir

ROOT = Path(__file__).resolve().parent.parent
WIDTH = 16384
STAGES = ("load", "cache", "replay", "sample", "explain", "score", "write")


def ensure_sae(path: Path, tokens: int) -> Path:
    """The 16k SAE, trained with the demo script on first use."""
    if (path / "cfg.json").is_file():
        return path
    print(f"training a {WIDTH}-latent SAE into {path} (once; 12-27 min on 2 cores) ...", flush=True)
    start = time.perf_counter()
    cmd = [
        sys.executable,
        str(ROOT / "scripts" / "train_demo_sae.py"),
        "--out",
        str(path),
        "--latents",
        str(WIDTH),
        "--tokens",
        str(tokens),
    ]
    subprocess.run(cmd, check=True)
    print(f"trained in {time.perf_counter() - start:.0f} s", flush=True)
    return path


def bench_config(args: argparse.Namespace, url: str, concurrency: int) -> RunConfig:
    return RunConfig(
        sae=str(args.sae),
        latents=args.latents,
        corpus=CorpusConfig(n_tokens=args.tokens),
        cache=CacheConfig(dtype="float32"),
        sampling=SamplingConfig(
            n_explain=args.examples, n_score=args.examples, n_nonactivating=args.examples
        ),
        llm=LLMConfig(
            backend="openai",
            base_url=url,
            model="fake",
            max_concurrency=concurrency,
            chat_as_text=True,
        ),
        scoring=ScoringConfig(scorers=("detection", "fuzz"), n_bootstrap=0),
    )


def write_config(cfg: RunConfig, path: Path) -> Path:
    path.write_text(json.dumps(cfg.to_dict()), encoding="utf-8")
    return path


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set (VmHWM), MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# ------------------------------------------------------------------------------ in process
def in_process(cfg: RunConfig, root: Path, server: ServerProcess) -> dict[str, Any]:
    """``autointerp run`` of ``cfg`` in a child process (its peak RSS is its own)."""
    out = root / "in-process"
    conf = write_config(cfg, root / "config.json")
    server.reset()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "autointerp",
            "run",
            "--config",
            str(conf),
            "--out",
            str(out),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "AUTOINTERP_BATCH_SIZE": str(cfg_batch(cfg))},
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"autointerp run failed:\n{proc.stderr[-4000:]}")
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    manifest = json.loads(next(out.glob("runs/*.json")).read_text())
    return {
        "wall": wall,
        "timings": manifest.get("timings_s", {}),
        "requests": server.stats()["requests"],
        "rss_mib": max(rss, before) / 1024,
        "store_mib": folder_size(out) / 2**20,
        "out": out,
        "log": proc.stderr,
    }


def cfg_batch(cfg: RunConfig) -> int:
    return int(os.environ["BENCH_BATCH_SIZE"])


def staged_plan(out: Path) -> dict[str, Any]:
    plans = sorted(out.glob(".autointerp/jobs/*/plan.json")) or sorted(out.glob("jobs/*/plan.json"))
    return dict(json.loads(plans[-1].read_text()))


# ------------------------------------------------------------------------------ the service
class Service(ThroughputService):
    """bench-service's embedded Redis and workers, with torch's own thread count and a
    visibility timeout above the longest task."""

    def __init__(self, root: Path) -> None:
        batch = int(os.environ["BENCH_BATCH_SIZE"])
        super().__init__(root, batch, visibility=3600, omp_threads=None)

    def redis_peak_mib(self) -> float:
        import redis

        info = redis.Redis.from_url(self.redis.url).info("memory")
        return float(info["used_memory_peak"]) / 2**20


def through_service(cfg: RunConfig, root: Path, server: ServerProcess) -> dict[str, Any]:
    from autointerp.service.jobs import JobStore
    from autointerp.tasks import submit

    service = Service(root / "service")
    try:
        service.start_worker("model", "-Q", "model,io")
        service.start_worker("llm", "-Q", "llm", "--pool", "threads", "-c", "4")
        service.wait_ready()
        store = JobStore(root / "service" / "store")
        server.reset()
        start = time.perf_counter()
        job_id, _ = submit(cfg)
        while (status := store.status(job_id))["state"] not in ("done", "failed", "cancelled"):
            time.sleep(0.5)
        wall = time.perf_counter() - start
        if status["state"] != "done":
            raise RuntimeError(f"job {job_id} {status['state']}: {status.get('error')}")
        plan = store.plan(job_id) or {}
        n_batches = len(plan.get("batches", []))
        n_tasks = (
            1
            + int(plan["n_shards"])
            + 1
            + int((plan.get("replay") or {}).get("n_shards", 0))
            + 1
            + n_batches * (3 + len(cfg.scoring.scorers))
            + 1
        )
        return {
            "wall": wall,
            "requests": server.stats()["requests"],
            "redis_peak_mib": service.redis_peak_mib(),
            "tasks": n_tasks,
            "rss_mib": {n: peak_rss_mib(p.pid) for n, p in service.workers.items()},
            "store_mib": folder_size(root / "service") / 2**20,
            "plan": plan,
        }
    finally:
        service.stop()


# -------------------------------------------------------------------------------- reports
def report(
    cfg: RunConfig, res: dict[str, Any], plan: dict[str, Any], args: argparse.Namespace
) -> tuple[int, float]:
    n = sum(len(b) for b in plan["batches"])
    t = res["timings"]
    replay = plan.get("replay") or {}
    ctx = cfg.corpus.ctx_len
    print(f"\n[in process] {n} live latents of {WIDTH} in {len(plan['batches'])} batches")
    print("  stage      seconds   ms/latent")
    for stage in STAGES:
        if stage in t:
            print(f"  {stage:<9} {t[stage]:8.1f}   {1000 * t[stage] / max(n, 1):8.1f}")
    total = sum(t.get(s, 0.0) for s in STAGES)
    print(
        f"  total {total:.0f} s (wall {res['wall']:.0f} s incl. start-up) = "
        f"{3600 * n / res['wall']:,.0f} latents/hour"
    )
    print(
        f"  LLM requests: {res['requests']:,} = {res['requests'] / max(n, 1):.2f} per latent; "
        f"replayed {replay.get('windows', 0):,} windows ({replay.get('windows', 0) * ctx:,} "
        f"tokens) once vs {replay.get('corpus_windows', 0):,} cached windows "
        f"({replay.get('corpus_windows', 0) * ctx:,} tokens); peak RSS {res['rss_mib']:.0f} MiB; "
        f"output + staging {res['store_mib']:.0f} MiB"
    )
    return n, total


def bound(
    requests: int, llm_s: float, n_batches: int, n_stages: int, c: int, latency: float
) -> None:
    """The LLM-bound stages against two bounds: the requests' (R * L / c: what the time would
    be if requests were the limit) and the round trips' (each stage of each batch waits for
    at least one reply: batches * stages * L, in process where the stages run in turn)."""
    by_requests = requests * latency / c
    by_trips = n_batches * n_stages * latency
    print(
        f"  c={c}: explain + score took {llm_s:.1f} s; request bound {by_requests:.1f} s "
        f"({requests:,} requests at {c / latency:.0f}/s) = {by_requests / llm_s:.2f} of it; "
        f"round-trip bound {by_trips:.1f} s ({n_batches} batches x {n_stages} stages x "
        f"{latency} s) = {by_trips / llm_s:.2f} of it"
    )


def extrapolate(n: int, t: dict[str, float], tokens: int) -> None:
    per = {s: t.get(s, 0.0) / max(n, 1) for s in ("sample", "explain", "score", "write")}
    fixed = t.get("cache", 0.0) + t.get("replay", 0.0)
    width_factor = 1_048_576 / WIDTH
    one_m = fixed * width_factor + sum(per.values()) * 1_048_576
    print(
        f"\n[extrapolation to 1,048,576 latents, same corpus ({tokens:,} tokens), one process "
        f"on this CPU]\n  cache + replay scale with the SAE's width (encoder matmul): "
        f"{fixed:.0f} s x {width_factor:.0f} = {fixed * width_factor / 3600:.1f} h; per-latent "
        f"stages {1000 * sum(per.values()):.0f} ms x 1,048,576 = "
        f"{sum(per.values()) * 1_048_576 / 3600:.1f} h; total ~{one_m / 3600:.0f} h"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sae", type=Path, default=None)
    ap.add_argument("--train-tokens", type=int, default=400_000)
    ap.add_argument("--latency", type=float, default=0.25)
    ap.add_argument("--tokens", type=int, default=60_000, help="Corpus tokens.")
    ap.add_argument("--latents", default=f"live:{WIDTH}")
    ap.add_argument("--examples", type=int, default=10, help="n_explain = n_score = n_nonact.")
    ap.add_argument("--concurrency", default="64", help="llm.max_concurrency.")
    ap.add_argument("--batch-size", type=int, default=128, help="Latents per batch.")
    ap.add_argument("--no-celery", action="store_true")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    args.sae = ensure_sae(args.sae or cache_dir("bench", "sae-16k"), args.train_tokens)
    levels = [int(c) for c in args.concurrency.split(",")]
    os.environ["BENCH_BATCH_SIZE"] = str(args.batch_size)
    root = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    os.environ["AUTOINTERP_ACTIVATIONS_DIR"] = str(root / "activations")
    started = time.perf_counter()
    with ServerProcess(args.latency) as server:
        cfg = bench_config(args, server.url, levels[0])
        try:
            res = in_process(cfg, root, server)
            plan = staged_plan(res["out"])
            n, _ = report(cfg, res, plan, args)
            llm_s = res["timings"].get("explain", 0.0) + res["timings"].get("score", 0.0)
            print("\n[LLM-bound stages (explain + score) against the bounds]")
            stages = 1 + len(cfg.scoring.scorers)
            bound(res["requests"], llm_s, len(plan["batches"]), stages, levels[0], args.latency)
            extrapolate(n, res["timings"], args.tokens)
            if not args.no_celery:
                svc = through_service(cfg, root, server)
                n_svc = sum(len(b) for b in svc["plan"]["batches"])
                rate, ref = 3600 * n_svc / svc["wall"], 3600 * n / res["wall"]
                print(
                    f"\n[through the service] {n_svc} latents in {svc['wall']:.0f} s = "
                    f"{rate:,.0f} latents/hour ({rate / ref:.2f} of in process); "
                    f"{svc['requests']:,} LLM requests ({svc['requests'] / max(n_svc, 1):.2f} "
                    f"per latent); {svc['tasks']:,} Celery tasks; Redis peak "
                    f"{svc['redis_peak_mib']:.1f} MiB; store {svc['store_mib']:.0f} MiB; peak RSS "
                    + ", ".join(f"{k} {v:.0f} MiB" for k, v in svc["rss_mib"].items())
                )
        finally:
            if not args.keep:
                shutil.rmtree(root, ignore_errors=True)
            else:
                print(f"kept {root}")
    print(f"\nbenchmark wall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
