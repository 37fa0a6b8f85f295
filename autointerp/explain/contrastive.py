"""The contrastive explainer: activating examples next to non-activating ones.

The prompt shows the activating examples (firing tokens marked << >>) as set A and up to
``ExplainConfig.n_contrast`` negatives as set B, and asks what A has that B lacks. Hard
negatives (``hard_neighbour``: where decoder-similar units fire; ``hard_similar``: close to
the activating examples in embedding space) come first, alternating between the two kinds,
then random ones fill what is left. Negatives are shown as plain text.

The negatives shown here come from ``record.nonactivating``, the same pool the detection
scorer draws its negatives from, so a contrastive explanation has seen some of the texts it
is later scored against (the positives stay held out).

Small models often answer by copying an example line ("A1: I went to ..."); a reply that
starts with such a label gets status 'unparsable' with an error saying so.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from itertools import chain, zip_longest

from autointerp.explain.base import EXPLAINERS, ExplainContext, Explainer
from autointerp.llm.base import Messages
from autointerp.prompts import load_template, render_marked
from autointerp.records import Example, Explanation, LatentRecord
from autointerp.statuses import ExplanationStatus

__all__ = ["HARD_ROLES", "ContrastiveExplainer", "pick_contrast"]

HARD_ROLES = ("hard_neighbour", "hard_similar")
_ECHO = re.compile(r"^\s*\**[AB]\d+\**:")


def pick_contrast(negatives: Sequence[Example], n: int) -> list[Example]:
    """Up to ``n`` negatives: hard ones first (kinds interleaved), then random ones."""
    by_kind = [[ex for ex in negatives if ex.role == role] for role in HARD_ROLES]
    hard = [ex for ex in chain.from_iterable(zip_longest(*by_kind)) if ex is not None]
    rest = [ex for ex in negatives if ex.role not in HARD_ROLES]
    return (hard + rest)[: max(n, 0)]


@EXPLAINERS.register("contrastive")
class ContrastiveExplainer(Explainer):
    name = "contrastive"
    prompt_version = "contrastive.v1"

    def prompt(self, record: LatentRecord) -> Messages:
        template = load_template("autointerp.explain", self.prompt_version)
        activating = [
            f"A{i}: {render_marked(ex.tokens, [a > 0 for a in ex.acts])}"
            for i, ex in enumerate(record.explain, start=1)
        ]
        contrast = [
            f"B{i}: {render_marked(ex.tokens, [False] * len(ex.tokens))}"
            for i, ex in enumerate(pick_contrast(record.nonactivating, self.cfg.n_contrast), 1)
        ]
        return template.render(
            activating="\n".join(activating), contrast="\n".join(contrast) or "(none)"
        )

    def explain(self, records: Sequence[LatentRecord], ctx: ExplainContext) -> list[Explanation]:
        """As the base class, but a reply that copies an example line is 'unparsable'."""
        out = []
        for expl in super().explain(records, ctx):
            echo = expl.status == ExplanationStatus.OK and _ECHO.match(expl.raw) is not None
            error = f"reply copies an example line instead of explaining: {expl.raw[:60]!r}"
            out.append(
                replace(expl, text="", status=ExplanationStatus.UNPARSABLE, error=error)
                if echo
                else expl
            )
        return out
