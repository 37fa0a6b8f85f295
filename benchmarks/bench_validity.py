"""Scorer validity on the ground-truth set: print, for every scorer, the score of each
ground-truth latent (rows) under each explanation (columns; the diagonal is the right one),
and the margin of the right explanation over the best wrong one.

    python benchmarks/bench_validity.py [--scorers detection,embedding,...] [--method auto]

The scorer model is the offline SmolLM2-135M-Instruct (the in-process default), or the model
given by --llm-model (a local path). Intervention needs a planted SAE direction and is
covered by tests/scorers/test_intervention.py instead.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from autointerp.config import LLMConfig, ScoringConfig
from autointerp.llm.local import LocalLLM
from autointerp.models.loader import load_subject_model
from scorers import SCORERS, ScoringContext
from scorers.groundtruth import LATENTS, build_records, explanations

METRIC = {"simulation": "correlation", "intruder": "accuracy"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scorers", default="embedding,detection,fuzz,surprisal,simulation,intruder"
    )
    parser.add_argument("--method", default="auto", help="scoring.method for yes/no scorers")
    parser.add_argument("--llm-model", default=LLMConfig().model)
    args = parser.parse_args()
    subject = load_subject_model(args.llm_model, device="cpu", dtype="float32")
    tok = subject.tokenizer
    records = build_records(
        lambda text: [tok.decode([i]) for i in tok(text, add_special_tokens=False)["input_ids"]]
    )
    llm = LocalLLM(LLMConfig(model=args.llm_model), subject)
    cfg = ScoringConfig(n_bootstrap=0, method=args.method)
    ctx = ScoringContext(llm, cfg, seed=0, progress=False)
    names = [g.name for g in LATENTS]
    print(f"scorer model: {llm.name}; rows = latent, columns = explanation of latent ...")
    for name in args.scorers.split(","):
        scorer = SCORERS.get(name)()
        metric = METRIC.get(name, "auroc")
        start = time.perf_counter()
        pairs = [(r, e) for r in records for e in explanations(r.latent)]
        results = scorer.score(pairs, ctx)
        m = np.full((len(names), len(names)), np.nan)
        for res in results:
            m[res.latent, res.explanation_id] = res.metrics.get(metric, np.nan)
        wrong = m.copy()
        np.fill_diagonal(wrong, -np.inf)
        margin = np.diag(m) - wrong.max(axis=1)
        method = results[0].method if results else "?"
        print(f"\n{name} ({metric}, method {method}, {time.perf_counter() - start:.0f} s)")
        print(f"{'':>10}" + "".join(f"{n:>10}" for n in names) + f"{'margin':>10}")
        for i, n in enumerate(names):
            row = "".join(f"{v:>10.2f}" for v in m[i])
            print(f"{n:>10}{row}{margin[i]:>10.2f}")
        off = m[~np.eye(len(names), dtype=bool)]
        print(f"mean right {np.nanmean(np.diag(m)):.2f}  mean wrong {np.nanmean(off):.2f}")


if __name__ == "__main__":
    main()
