"""Fuzzing: are the marked tokens the ones the explanation is about?

Every held-out activating example is shown twice: once with the tokens where the latent
fires marked (label yes), once with the same number of randomly chosen non-firing tokens
marked instead (label no). Unlike detection, this tests whether the explanation picks out
the right tokens, not just the right texts.
"""

from __future__ import annotations

import numpy as np

from autointerp.prompts import render_marked
from autointerp.records import Explanation, LatentRecord
from scorers.base import SCORERS, Item, YesNoScorer

__all__ = ["FuzzingScorer"]


@SCORERS.register("fuzz")
class FuzzingScorer(YesNoScorer):
    name = "fuzz"
    prompt_version = "fuzz.v2"

    def items(self, record: LatentRecord, explanation: Explanation, seed: int) -> list[Item]:
        rng = np.random.default_rng([seed, record.latent, explanation.explanation_id, 7])
        out: list[Item] = []
        for ex in record.score:
            firing = [a > 0 for a in ex.acts]
            n_marked = sum(firing)
            out.append(
                Item(
                    self.render(explanation.text, render_marked(ex.tokens, firing)), True, ex.window
                )
            )
            quiet = [i for i, f in enumerate(firing) if not f and ex.tokens[i].strip()]
            if not quiet or n_marked == 0:
                continue
            chosen = set(rng.choice(quiet, size=min(n_marked, len(quiet)), replace=False).tolist())
            wrong = [i in chosen for i in range(len(ex.tokens))]
            out.append(
                Item(
                    self.render(explanation.text, render_marked(ex.tokens, wrong)), False, ex.window
                )
            )
        return out
