"""Detection: does the explanation tell activating from non-activating texts?

Positives are the latent's held-out activating examples, negatives its non-activating ones;
the scorer model sees one plain text at a time (no marks) and is asked whether the
explanation applies.
"""

from __future__ import annotations

from autointerp.prompts import render_marked
from autointerp.records import Example, Explanation, LatentRecord
from scorers.base import SCORERS, Item, YesNoScorer

__all__ = ["DetectionScorer", "plain_text"]


def plain_text(example: Example) -> str:
    return render_marked(example.tokens, [False] * len(example.tokens))


@SCORERS.register("detection")
class DetectionScorer(YesNoScorer):
    name = "detection"
    prompt_version = "detection.v2"
    statement_version = "detection_likelihood.v1"

    def items(self, record: LatentRecord, explanation: Explanation, seed: int) -> list[Item]:
        labelled = [(ex, True) for ex in record.score] + [
            (ex, False) for ex in record.nonactivating
        ]
        return [
            Item(self.render(explanation.text, plain_text(ex)), label, ex.window, plain_text(ex))
            for ex, label in labelled
        ]
