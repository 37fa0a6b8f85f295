"""Prompt and completion tokens per latent: autointerp against delphi's defaults.

Same latents, same example texts, same tokenizer (SmolLM2-135M-Instruct's, chat template
applied with the generation prompt), for the three LLM stages of a default run: explain,
detection and fuzzing, at 50 activating + 50 non-activating scoring examples per latent.

* autointerp: the demo SAE over the default corpus; the first ``--latents`` units that fire
  in at least 90 windows (so that both sides get their full example counts). Records come
  from the pipeline (``prepare``, ``compute_stats``, ``sample_latent``, ``build_records``)
  with ``SamplingConfig(n_score=50, n_nonactivating=50)``; the explainer is run for real
  on every latent (its replies give our completion lengths, and its explanations are what
  both sides' scorers are asked about). Scoring prompts are the registered scorers' own
  (``items`` plus the calibration prompt per latent and scorer); each is answered by one
  token's log-probabilities (``scoring.method='logprob'``, what 'auto' picks with an HTTP
  backend). Detection by likelihood (what 'auto' picks with the in-process backend: plain
  text plus a statement, no chat template, nothing generated) is counted on the side.
* delphi (``eai-delphi`` 0.1.3, in its own environment, see ``bench_delphi.py``):
  ``delphi_prompts.py`` builds its prompts with its own classes at the defaults of delphi's
  ``__main__``: the explainer sees 40 activating examples (``n_examples_train``; drawn by our
  sampler with ``n_explain=40``, with delphi's activation lines), the scorers the same 50
  activating + 50 non-activating examples as ours, 5 per prompt.

Prompt tokens are counted two ways: ``naive`` (every prompt in full, what an API without
caching bills) and ``effective`` (per latent and stage, the prompts' common token prefix
counted once: what the local backend or a server with prefix caching encodes). Two more
figures are printed for the scorers: the local backend as it runs (prefix once per batch of
``judge_batch_size``) and an ideal run-wide prefix cache (distinct prefixes over all latents).

Completion tokens: ours are measured (explanation replies) or 1 per judgement (the answer
is read from log-probabilities; calibration included). delphi generates: its expected reply
is the mean length of the few-shot replies in its own prompt (the format it asks for:
``[EXPLANATION]: ...``, ``[1,0,0,1,1]``) plus the end-of-turn token; its client's cap is 500
tokens per request (``Offline(number_tokens_to_generate=500)``), and models that reason
before the last line use more.

    python benchmarks/bench_tokens.py [--latents 8] [--venv .venv-delphi]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench_delphi import ensure_venv

from autointerp.cache import LatentStats
from autointerp.config import LLMConfig, RunConfig, SamplingConfig
from autointerp.explain import EXPLAINERS, ExplainContext
from autointerp.llm.base import Messages
from autointerp.llm.local import common_prefix_len, prefix_batches
from autointerp.models.offline import SMOLLM2, offline_model_dir
from autointerp.pipeline import Prepared, prepare
from autointerp.records import Example, Explanation, LatentRecord
from autointerp.sampling import sample_latent
from autointerp.stages import build_records, compute_stats
from scorers import SCORERS
from scorers.base import CONTENT_FREE, YesNoScorer

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("explain", "detection", "fuzz")
LIKELIHOOD = "detection (likelihood)"
DELPHI_TRAIN = 40  # delphi's SamplerConfig.n_examples_train
DELPHI_EXTRA = ["aiofiles", "tiktoken", "beartype"]  # what delphi.explainers/.scorers import
DELPHI_MAX_TOKENS = 500  # delphi's Offline client: number_tokens_to_generate


@dataclass
class Side:
    """One side's prompts (token ids) and completion tokens, per latent and stage."""

    prompts: dict[str, list[list[list[int]]]] = field(default_factory=dict)
    completions: dict[str, list[float]] = field(default_factory=dict)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--latents", type=int, default=8, help="Latents compared.")
    ap.add_argument("--venv", type=Path, default=ROOT / ".venv-delphi")
    args = ap.parse_args()
    python = ensure_delphi(args.venv)
    tok = tokenizer()

    t0 = time.perf_counter()
    cfg = replace(RunConfig(), sampling=SamplingConfig(n_score=50, n_nonactivating=50))
    prep = prepare(cfg)
    stats = compute_stats(prep, progress=False)
    need = DELPHI_TRAIN + cfg.sampling.n_score
    units = [int(u) for u in (stats.window_count >= need).nonzero().flatten()][: args.latents]
    ours, delphi_train = records(prep, stats, units)
    print(
        f"{len(units)} latents of the demo SAE firing in >= {need} windows "
        f"({cfg.corpus.n_tokens:,} tokens, {cfg.corpus.ctx_len}-token windows): {units}; "
        f"records in {time.perf_counter() - t0:.0f} s"
    )

    t0 = time.perf_counter()
    explainer = EXPLAINERS.get(cfg.explain.explainer)(cfg.explain)
    ctx = ExplainContext(prep.llm, cfg.llm, seed=cfg.seed, progress=False)
    explanations = explainer.explain(ours, ctx)
    n_ok = sum(e.status == "ok" for e in explanations)
    print(
        f"our explainer on all {len(ours)} latents: {n_ok} ok, "
        f"{time.perf_counter() - t0:.0f} s (local SmolLM2, max_new_tokens "
        f"{cfg.llm.max_new_tokens})"
    )
    texts = [explanation_text(e) for e in explanations]

    our = our_side(ours, explanations, texts, explainer, tok)
    with tempfile.TemporaryDirectory(prefix="bench-tokens-") as tmp:
        theirs, settings = delphi_side(python, Path(tmp), ours, delphi_train, texts, tok)
    print(
        f"delphi {settings['delphi']}: explainer {settings['n_examples_train']} examples "
        f"(activations shown: {settings['explainer_activations']}), scorers "
        f"{settings['n_examples_test']} + {settings['n_non_activating']} examples, "
        f"{settings['num_examples_per_scorer_prompt']} per prompt"
    )
    report(our, theirs, LLMConfig().judge_batch_size)


def records(
    prep: Prepared, stats: LatentStats, units: Sequence[int]
) -> tuple[list[LatentRecord], list[list[Example]]]:
    """Our records, and per latent the 40 activating examples delphi's explainer gets (drawn
    by our sampler with ``n_explain=40``). One replay serves both: delphi's extra windows ride
    along as explanation windows and are split off afterwards (negatives are chosen among
    windows where the latent never fires, so they do not change)."""
    cfg = prep.cfg
    train_cfg = replace(cfg.sampling, n_explain=DELPHI_TRAIN)
    samples, train_windows, n_own = [], [], []
    for unit in units:
        sample = sample_latent(stats, unit, cfg.sampling, cfg.seed)
        train = sample_latent(stats, unit, train_cfg, cfg.seed).explain
        own = {w for w, _ in sample.explain}
        n_own.append(len(own))
        sample.explain += [(w, q) for w, q in train if w not in own]
        samples.append(sample)
        train_windows.append([w for w, _ in train])
    ours = build_records(prep, stats, samples, progress=False)
    delphi_train = []
    for record, wanted, n in zip(ours, train_windows, n_own, strict=True):
        by_window = {e.window: e for e in record.explain}
        delphi_train.append([by_window[w] for w in wanted])
        record.explain = record.explain[:n]
    return ours, delphi_train


def ensure_delphi(venv: Path) -> Path:
    """The delphi environment (``bench_delphi.ensure_venv``) plus what delphi's explainer and
    scorer packages import."""
    python = ensure_venv(venv)
    probe = "import " + ", ".join(DELPHI_EXTRA)
    if subprocess.run([python, "-c", probe], capture_output=True, check=False).returncode:
        pip = [str(python), "-m", "pip", "install", "--quiet", *DELPHI_EXTRA]
        subprocess.run(pip, check=True)
    return python


def tokenizer() -> Any:
    from transformers import AutoTokenizer

    model_dir = offline_model_dir(SMOLLM2.hub_id)
    return AutoTokenizer.from_pretrained(model_dir, local_files_only=True)


def encode(tok: Any, messages: Messages | list[dict[str, str]]) -> list[int]:
    """Token ids of a chat prompt, as ``LocalLLM.encode`` (and vLLM's chat endpoint) do."""
    text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return list(tok(text, add_special_tokens=False)["input_ids"])


def explanation_text(e: Explanation) -> str:
    """The text both sides' scorers are asked about (the reply's first line if unparsable,
    so that no latent drops out of the comparison)."""
    if e.status == "ok" and e.text:
        return e.text
    first = e.raw.strip().splitlines()[0] if e.raw.strip() else "no explanation"
    return first[:200]


def our_side(
    records: Sequence[LatentRecord],
    explanations: Sequence[Explanation],
    texts: Sequence[str],
    explainer: Any,
    tok: Any,
) -> Side:
    side = Side()
    side.prompts["explain"] = [[encode(tok, explainer.prompt(r))] for r in records]
    side.completions["explain"] = [float(e.completion_tokens) for e in explanations]
    for name in ("detection", "fuzz"):
        scorer = SCORERS.get(name)()
        assert isinstance(scorer, YesNoScorer)
        per_latent = []
        for record, expl, text in zip(records, explanations, texts, strict=True):
            usable = replace(expl, text=text, status="ok")
            msgs = [item.messages for item in scorer.items(record, usable, 0)]
            msgs.append(scorer.calibration(usable))
            per_latent.append([encode(tok, m) for m in msgs])
        side.prompts[name] = per_latent
        side.completions[name] = [float(len(p)) for p in per_latent]  # one token per answer
    # Detection by likelihood (the in-process backend's 'auto'): plain texts, no chat
    # template, no generation; the calibration statement follows "N/A".
    detection = SCORERS.get("detection")()
    assert isinstance(detection, YesNoScorer)
    per_latent = []
    for record, expl, text in zip(records, explanations, texts, strict=True):
        usable = replace(expl, text=text, status="ok")
        items = [item.text for item in detection.items(record, usable, 0)] + [CONTENT_FREE]
        statements = [detection.statement(text, t)[0] for t in items]
        per_latent.append([tok(s, add_special_tokens=False)["input_ids"] for s in statements])
    side.prompts[LIKELIHOOD] = per_latent
    side.completions[LIKELIHOOD] = [0.0 for _ in per_latent]
    return side


def _example(ex: Example) -> dict[str, Any]:
    return {"tokens": list(ex.tokens), "acts": list(ex.acts), "quantile": ex.quantile}


def delphi_side(
    python: Path,
    work: Path,
    records: Sequence[LatentRecord],
    train: Sequence[Sequence[Example]],
    texts: Sequence[str],
    tok: Any,
) -> tuple[Side, dict[str, Any]]:
    """Export the examples, let delphi build its prompts in its environment, count them."""
    spec = {
        "latents": [
            {
                "latent": r.latent,
                "max_act": r.max_act,
                "explanation": text,
                "train": [_example(e) for e in examples],
                "test": [_example(e) for e in r.score],
                "not_active": [_example(e) for e in r.nonactivating],
            }
            for r, examples, text in zip(records, train, texts, strict=True)
        ]
    }
    src, dst = work / "examples.json", work / "prompts.json"
    src.write_text(json.dumps(spec))
    script = Path(__file__).with_name("delphi_prompts.py")
    proc = subprocess.run(
        [str(python), str(script), str(src), str(dst)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"delphi_prompts.py failed:\n{proc.stderr[-4000:]}")
    built = json.loads(dst.read_text())
    side = Side()
    for stage in STAGES:
        per_latent = [
            [item[stage]] if stage == "explain" else item[stage] for item in built["latents"]
        ]
        side.prompts[stage] = [[encode(tok, m) for m in msgs] for msgs in per_latent]
        side.completions[stage] = [sum(expected_reply(tok, m) for m in msgs) for msgs in per_latent]
    return side, built["settings"]


def expected_reply(tok: Any, messages: list[dict[str, str]]) -> float:
    """delphi's expected reply length: the mean of its few-shot replies in this prompt, plus
    the end-of-turn token."""
    replies = [m["content"] for m in messages if m["role"] == "assistant"]
    lengths = [len(tok(r, add_special_tokens=False)["input_ids"]) for r in replies]
    return statistics.mean(lengths) + 1.0


def naive(prompts: Sequence[Sequence[int]]) -> int:
    return sum(len(p) for p in prompts)


def effective(prompts: Sequence[Sequence[int]]) -> int:
    """The common prefix counted once, every prompt's remainder in full."""
    p = common_prefix_len(prompts)
    return p + sum(len(s) - p for s in prompts)


def ideal_cache(prompts: Sequence[Sequence[int]]) -> int:
    """Tokens a token-granular prefix cache of unbounded size encodes: distinct prefixes."""
    ordered = sorted(list(p) for p in prompts)
    total = 0
    for prev, cur in zip([[], *ordered[:-1]], ordered, strict=True):
        total += len(cur) - common_prefix_len([prev, cur]) if prev else len(cur)
    return total


def local_backend(prompts: Sequence[Sequence[int]], size: int) -> int:
    """Tokens ``LocalLLM.choose`` encodes for one call: each batch's prefix once."""
    ordered = sorted(list(p) for p in prompts)
    total = 0
    for idx in prefix_batches(ordered, size):
        seqs = [ordered[i] for i in idx]
        p = min(common_prefix_len(seqs), min(len(s) for s in seqs) - 1)
        total += p + sum(len(s) - p for s in seqs)
    return total


def report(our: Side, theirs: Side, batch: int) -> None:
    n = len(our.prompts["explain"])

    def per_latent(side: Side, stage: str, how: Callable[[list[list[int]]], int]) -> float:
        return sum(how(ps) for ps in side.prompts[stage]) / n

    print("\nTokens per latent (mean over latents); ratio = autointerp / delphi")
    head = (
        f"{'stage':<10}{'prompts':>9}{'ours naive':>12}{'ours eff.':>11}{'delphi naive':>14}"
        f"{'delphi eff.':>13}{'naive':>8}{'eff.':>7}   {'completion ours/delphi':>24}"
    )
    print(head)
    print("-" * len(head))
    tot = {k: 0.0 for k in ("on", "oe", "dn", "de", "oc", "dc")}
    for stage in STAGES:
        on, oe = per_latent(our, stage, naive), per_latent(our, stage, effective)
        dn, de = per_latent(theirs, stage, naive), per_latent(theirs, stage, effective)
        oc = sum(our.completions[stage]) / n
        dc = sum(theirs.completions[stage]) / n
        n_o = sum(len(p) for p in our.prompts[stage]) / n
        n_d = sum(len(p) for p in theirs.prompts[stage]) / n
        for key, value in zip(tot, (on, oe, dn, de, oc, dc), strict=True):
            tot[key] += value
        print(
            f"{stage:<10}{f'{n_o:.0f}/{n_d:.0f}':>9}{on:>12.0f}{oe:>11.0f}{dn:>14.0f}{de:>13.0f}"
            f"{on / dn:>8.2f}{oe / de:>7.2f}   {oc:>10.1f} / {dc:<6.1f} ({oc / dc:.2f})"
        )
    print("-" * len(head))
    print(
        f"{'prompt':<10}{'':>9}{tot['on']:>12.0f}{tot['oe']:>11.0f}{tot['dn']:>14.0f}"
        f"{tot['de']:>13.0f}{tot['on'] / tot['dn']:>8.2f}{tot['oe'] / tot['de']:>7.2f}"
    )
    print(
        f"{'completion':<10}{'':>9}{tot['oc']:>12.0f}{tot['oc']:>11.0f}{tot['dc']:>14.0f}"
        f"{tot['dc']:>13.0f}{tot['oc'] / tot['dc']:>8.2f}{tot['oc'] / tot['dc']:>7.2f}"
    )
    all_n = (tot["on"] + tot["oc"]) / (tot["dn"] + tot["dc"])
    all_e = (tot["oe"] + tot["oc"]) / (tot["de"] + tot["dc"])
    print(
        f"TOTAL prompt + completion, autointerp / delphi: naive {all_n:.2f}, effective {all_e:.2f}"
    )
    lh = per_latent(our, LIKELIHOOD, naive)
    rest_n = tot["on"] - per_latent(our, "detection", naive) + lh
    rest_e = tot["oe"] - per_latent(our, "detection", effective) + lh
    rest_c = tot["oc"] - sum(our.completions["detection"]) / n
    print(
        f"With detection by likelihood (the local backend's default: {lh:.0f} prompt tokens, "
        f"no shared prefix, no completion): TOTAL autointerp / delphi: naive "
        f"{(rest_n + rest_c) / (tot['dn'] + tot['dc']):.2f}, "
        f"effective {(rest_e + rest_c) / (tot['de'] + tot['dc']):.2f}"
    )
    requests = sum(len(p) for s in STAGES for p in theirs.prompts[s]) / n
    print(
        f"(delphi sends {requests:.0f} requests per latent with a cap of {DELPHI_MAX_TOKENS} "
        f"completion tokens each: up to {DELPHI_MAX_TOKENS * requests:,.0f} per latent)"
    )
    print("\nScorers, prompt tokens per latent under other caching:")
    for stage in ("detection", "fuzz"):
        flat_o = [p for ps in our.prompts[stage] for p in ps]
        flat_d = [p for ps in theirs.prompts[stage] for p in ps]
        local = local_backend(flat_o, batch) / n
        io, idl = ideal_cache(flat_o) / n, ideal_cache(flat_d) / n
        print(
            f"  {stage:<10} ours, local backend (batches of {batch}): {local:7.0f}   "
            f"ideal run-wide prefix cache: ours {io:7.0f}, delphi {idl:7.0f} ({io / idl:.2f})"
        )
    print("\nWhere the tokens go (per latent):")
    for stage in STAGES:
        for who, side in (("ours", our), ("delphi", theirs)):
            prefixes = [common_prefix_len(ps) for ps in side.prompts[stage]]
            lengths = [len(p) for ps in side.prompts[stage] for p in ps]
            print(
                f"  {stage:<10}{who:<7} shared prefix {statistics.mean(prefixes):6.0f}, "
                f"prompt length {statistics.mean(lengths):6.0f} (min {min(lengths)}, "
                f"max {max(lengths)})"
            )


if __name__ == "__main__":
    main()
