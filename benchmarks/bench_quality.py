"""Quality on a ground-truth SAE built from real activations: scorer validity (right vs wrong
explanations), explainer fidelity (generated explanations vs the truths), baselines, cost.

    python benchmarks/bench_quality.py [--latents 0:24] [--scorers detection,fuzz,...]
        [--explainers stats,grounded,default] [--n-tokens 150000] [--set key=value ...]

The SAE (benchmarks/groundtruth) has one linear-probe latent per rule-defined concept of the
stdlib corpus at blocks.15.hook_resid_post of SmolLM2-135M-Instruct, then a few random
"noise" latents; it is built once and cached under .bench/quality/. Every figure comes from
the real pipeline (autointerp.pipeline.run) with the embedded defaults (local SmolLM2 judge
and explainer) plus the --set overrides. Results: printed tables and --json.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from groundtruth.build import DEFAULT_DIR, build, read_truth
from groundtruth.measure import fidelity, paired_gain, token_list_baseline, validity

from autointerp import read_table
from autointerp.config import RunConfig
from autointerp.config.dicts import assign_dotted
from autointerp.explain import EXPLAINERS
from autointerp.pipeline import RunResult, run
from autointerp.quality import publish
from autointerp.sampling.embed import minilm_embedder
from autointerp.store.query import primary_score

ROOT = Path(__file__).resolve().parents[1]
QUICK = {"sampling.n_score": 10, "sampling.n_nonactivating": 10, "scoring.n_bootstrap": 0}
"""Settings that keep the local judge within the time budget (the defaults score 20 + 20)."""
RANDOM_WORDS = [
    "river",
    "window",
    "garden",
    "music",
    "travel",
    "kitchen",
    "mountain",
    "letter",
    "winter",
    "doctor",
]


def _config(sae: Path, latents: list[int], n_tokens: int, sets: dict[str, Any]) -> dict[str, Any]:
    data = RunConfig().to_dict()
    for key, value in {
        "sae": str(sae),
        "latents": ",".join(map(str, latents)),
        "corpus.n_tokens": n_tokens,
        **QUICK,
        **sets,
    }.items():
        assign_dotted(data, key, value)
    return data


def _stored(out: Path, data: dict[str, Any]) -> tuple[RunResult, float] | None:
    """The newest finished run under ``out`` whose config matches ``data`` (--reuse)."""
    keys = ["sae", "latents", "explanations", "corpus", "sampling", "scoring"]
    if not data.get("explanations"):  # the explain settings matter only when explaining
        keys.append("explain")
    found = []
    for path in sorted((out / "runs").glob("*.json")) if (out / "runs").is_dir() else []:
        meta = json.loads(path.read_text(encoding="utf-8"))
        if all(meta["config"].get(k) == data.get(k) for k in keys):
            found.append(meta)
    if not found:
        return None
    meta = max(found, key=lambda m: m["created_at"])
    run_id = meta["run_id"]
    result = RunResult(
        run_id,
        out,
        {},
        read_table(out, "explanations", run_id=run_id),
        read_table(out, "scores", run_id=run_id),
        dict(meta.get("timings_s", {})),
    )
    return result, float(sum(result.timings.values()))


def _run(
    data: dict[str, Any], out: Path, reuse: bool = False, **sets: Any
) -> tuple[RunResult, float]:
    data = json.loads(json.dumps(data))
    for key, value in sets.items():
        assign_dotted(data, key, value)
    cfg = RunConfig.from_dict(data)
    if reuse and (stored := _stored(out, cfg.to_dict())):
        return stored
    start = time.perf_counter()
    result = run(cfg, out, progress=False)
    return result, time.perf_counter() - start


def _cost(df: pd.DataFrame, seconds: float, n: int) -> dict[str, float]:
    return {
        "prompt_tokens_per_latent": float(df["prompt_tokens"].fillna(0).sum()) / n,
        "completion_tokens_per_latent": float(df["completion_tokens"].fillna(0).sum()) / n,
        "seconds_per_latent": seconds / n,
    }


def measure_scorers(
    data: dict[str, Any], truth: list[dict[str, Any]], latents: list[int], args: Any
) -> dict[str, Any]:
    path = args.work / "explanations.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["latent", "explanation"])
        for lat in latents:
            for text in [truth[lat]["right"], *truth[lat]["wrong"][: args.n_wrong]]:
                writer.writerow([lat, text])
    out: dict[str, Any] = {}
    for name in args.scorers.split(","):
        result, seconds = _run(
            data,
            args.work / f"score-{name}",
            args.reuse,
            explanations=str(path),
            **{"scoring.scorers": [name]},
        )
        scores = result.scores
        ok = scores[scores["status"].isin(["ok", "partial"])].copy()
        ok["value"] = primary_score(ok)
        figures = validity(ok[["latent", "explanation_id", "value"]])
        figures["ok_share"] = float(len(ok)) / max(len(scores), 1)
        figures |= _cost(scores, seconds, len(latents))
        out[name] = figures
        print(f"  {name}: {seconds:.0f} s", flush=True)
    return out


def measure_explainers(
    data: dict[str, Any], truth: list[dict[str, Any]], latents: list[int], args: Any, embed: Any
) -> tuple[dict[str, Any], pd.DataFrame | None]:
    out: dict[str, Any] = {}
    examples = None
    for name in args.explainers.split(","):
        if name not in EXPLAINERS.names():
            print(
                f"  {name}: skipped (not in autointerp.explain.EXPLAINERS: "
                f"{', '.join(EXPLAINERS.names())})"
            )
            out[name] = {"skipped": "not registered"}
            continue
        result, seconds = _run(
            data,
            args.work / f"explain-{name}",
            args.reuse,
            **{"explain.explainer": name, "scoring.scorers": ["embedding"]},
        )
        expl = result.explanations[result.explanations["explanation_id"] == 0]
        okay = expl[expl["status"] == "ok"]
        texts = [str(t) for t in okay["explanation"]]
        figures = fidelity(texts, [truth[int(lat)]["right"] for lat in okay["latent"]], embed)
        figures["ok_share"] = float(len(okay)) / max(len(latents), 1)
        figures |= _cost(expl, result.timings.get("explain", seconds), len(latents))
        figures["run_seconds"] = seconds
        figures["examples"] = [
            {"latent": int(lat), "concept": truth[int(lat)]["concept"], "explanation": str(t)}
            for lat, t in zip(okay["latent"][:6], okay["explanation"][:6], strict=True)
        ]
        figures["texts"] = dict(zip(map(int, okay["latent"]), texts, strict=True))
        out[name] = figures
        if examples is None:
            examples = read_table(result.out, "examples", run_id=result.run_id)
        print(f"  {name}: {seconds:.0f} s", flush=True)
    return out, examples


def measure_baselines(
    truth: list[dict[str, Any]], latents: list[int], examples: pd.DataFrame, embed: Any, seed: int
) -> dict[str, Any]:
    rng = random.Random(seed)
    rights = [truth[lat]["right"] for lat in latents]
    lists = token_list_baseline(examples[examples["latent"].isin(latents)])
    have = [lat for lat in latents if lists.get(lat)]
    shift = rng.randrange(1, len(latents)) if len(latents) > 1 else 0
    others = [rights[(i + shift) % len(latents)] for i in range(len(latents))]
    words = [", ".join(rng.sample(RANDOM_WORDS, 3)) for _ in latents]
    return {
        "token_list": fidelity(
            [lists[lat] for lat in have], [truth[lat]["right"] for lat in have], embed
        )
        | {"examples": [{"latent": lat, "explanation": lists[lat]} for lat in have[:6]]},
        "other_truth": fidelity(others, rights, embed),
        "random_words": fidelity(words, rights, embed),
    }


def _table(title: str, rows: dict[str, dict[str, Any]], cols: list[str]) -> None:
    widths = [max(9, len(c) + 2) for c in cols]
    print(f"\n{title}")
    print(f"{'':<14}" + "".join(f"{c:>{w}}" for c, w in zip(cols, widths, strict=True)))
    for name, figs in rows.items():
        cells = []
        for c, w in zip(cols, widths, strict=True):
            v = figs.get(c)
            cells.append(f"{v:>{w}.3f}" if isinstance(v, float) else f"{'-':>{w}}")
        print(f"{name:<14}" + "".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latents", default="", help="'A:B' or 'i,j'; default: every concept")
    parser.add_argument("--scorers", default="embedding,detection,fuzz,surprisal")
    parser.add_argument("--explainers", default="stats,grounded,default")
    parser.add_argument("--n-tokens", type=int, default=150_000)
    parser.add_argument("--n-wrong", type=int, default=2, help="wrong explanations per latent")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--work", type=Path, default=DEFAULT_DIR / "runs")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks/results/quality.json")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--update",
        action="store_true",
        help="merge into the existing --json: keep the scorers and explainers not measured now",
    )
    parser.add_argument(
        "--publish",
        type=Path,
        default=ROOT / "autointerp/data/quality.json",
        help="where the figures `autointerp list` shows go ('' = nowhere)",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="take a finished run with the same config from --work instead of running it again",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    start = time.perf_counter()
    folder = build(n_tokens=args.n_tokens)
    truth: list[dict[str, Any]] = read_truth(folder)  # type: ignore[assignment]
    concepts = [int(r["latent"]) for r in truth if r["concept"] != "noise"]
    if args.latents:
        a, sep, b = args.latents.partition(":")
        chosen = list(range(int(a), int(b))) if sep else [int(v) for v in args.latents.split(",")]
        concepts = [lat for lat in concepts if lat in chosen]
    sets = {}
    for item in args.set:
        key, _, raw = item.partition("=")
        try:
            sets[key] = json.loads(raw)
        except json.JSONDecodeError:
            sets[key] = raw
    args.work.mkdir(parents=True, exist_ok=True)
    data = _config(folder, concepts, args.n_tokens, sets)
    print(
        f"checkpoint {folder} ({len(concepts)} concept latents, "
        f"build {time.perf_counter() - start:.0f} s)"
    )
    embed = minilm_embedder()
    print("scorer validity runs:")
    scorers = measure_scorers(data, truth, concepts, args) if args.scorers else {}
    print("explainer runs:")
    explainers, examples = measure_explainers(data, truth, concepts, args, embed)
    if examples is None:  # no explainer ran: take the examples of a scoring-only run
        res, _ = _run(
            data,
            args.work / "examples",
            **{"scoring.scorers": ["embedding"], "explain.explainer": "default"},
        )
        examples = read_table(res.out, "examples", run_id=res.run_id)
    baselines = measure_baselines(truth, concepts, examples, embed, args.seed)
    lists = token_list_baseline(examples[examples["latent"].isin(concepts)])
    truths = {lat: str(truth[lat]["right"]) for lat in concepts}
    for figs in explainers.values():
        if "texts" in figs:
            gain = paired_gain(figs.pop("texts"), lists, truths, embed, seed=args.seed)
            figs |= {f"{k}_vs_token_list": v for k, v in gain.items()}
    probes = {
        k: float(np.mean([truth[lat]["probe"][k] for lat in concepts]))
        for k in ("auroc", "f1", "precision", "recall")
    }
    runtime = time.perf_counter() - start
    _table(
        f"Probe latents (held-out, mean over {len(concepts)})",
        {"probes": probes},
        ["auroc", "f1", "precision", "recall"],
    )
    _table(
        f"Scorer validity: right vs {args.n_wrong} wrong explanations per latent (primary metric)",
        scorers,
        ["auroc", "auroc_ci_low", "auroc_ci_high", "top1", "mean_right", "mean_wrong"],
    )
    fid_cols = ["n", "cos_right", "cos_other", "gap", "top1", "ok_share"]
    _table("Explainer fidelity (MiniLM cosine to the truths)", explainers, fid_cols)
    _table("Baselines", baselines, fid_cols[:5])
    _table(
        "Closer to the truth than the token list? (per-latent cosine difference, paired CI)",
        explainers,
        [f"{k}_vs_token_list" for k in ("gain", "gain_ci_low", "gain_ci_high", "wins")],
    )
    cost_cols = ["prompt_tokens_per_latent", "completion_tokens_per_latent", "seconds_per_latent"]
    _table("Cost per latent", {**scorers, **explainers}, cost_cols)
    for name, figs in {**explainers, **baselines}.items():
        for ex in figs.get("examples", [])[:4]:
            print(
                f"  {name:<12} {ex['latent']:>3} {truth[ex['latent']]['concept']:<14} "
                f"{ex['explanation'][:90]!r}"
            )
    print(f"\ntotal {runtime:.0f} s")
    report = {
        "checkpoint": folder.name,
        "settings": {
            "latents": concepts,
            "n_tokens": args.n_tokens,
            "n_wrong": args.n_wrong,
            "scorers": args.scorers,
            "explainers": args.explainers,
            "set": {**QUICK, **sets},
        },
        "probes": probes,
        "scorers": scorers,
        "explainers": explainers,
        "baselines": baselines,
        "runtime_s": runtime,
    }
    today = time.strftime("%Y-%m-%d")
    for section in ("scorers", "explainers"):
        for figs in report[section].values():
            figs["measured_on"] = today
    if args.update and args.json.is_file():
        old = json.loads(args.json.read_text(encoding="utf-8"))
        if old.get("checkpoint") == report["checkpoint"]:
            for section in ("scorers", "explainers"):
                report[section] = {**old.get(section, {}), **report[section]}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2, default=float) + "\n", encoding="utf-8")
    print(f"wrote {args.json}")
    if str(args.publish) not in ("", "."):
        publish(report, f"{data['llm']['backend']}:{data['llm']['model']}", args.publish)
        print(f"wrote {args.publish}")


if __name__ == "__main__":
    main()
