"""The token-pairs explainer, in the style of OpenAI's neuron explainer (Bills et al., 2023).

Each activating example is shown as a ``<start>``/``<end>`` block of ``token<TAB>activation``
lines, activations scaled to integers 0-10 by the latent's maximum activation over the corpus
(``record.max_act``; the examples' own maximum when that is unknown), then the same blocks
again with the zero lines left out. One worked example in the template shows the reply
format, "Explanation of neuron 2 behavior: the main thing this neuron does is find ...",
which ``parse_explanation`` reduces to the phrase after "find".

Small models often copy the worked example's answer ("days of the week") instead of
describing the latent; such a reply gets status 'unparsable' with an error saying so (a
latent that really finds days of the week is mislabelled, which is rare and visible).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from autointerp.explain.base import EXPLAINERS, ExplainContext, Explainer
from autointerp.llm.base import Messages
from autointerp.prompts import load_template
from autointerp.records import Example, Explanation, LatentRecord
from autointerp.statuses import ExplanationStatus

__all__ = ["TokenPairsExplainer", "format_block", "scaled_activations"]

SCALE = 10
WORKED_ANSWER = "days of the week"
"""The worked example's explanation in ``token_pairs.v1``."""


def scaled_activations(acts: Sequence[float], max_act: float) -> list[int]:
    """Activations as integers 0-10 relative to ``max_act`` (negative values count as 0)."""
    if max_act <= 0:
        return [0] * len(acts)
    return [min(SCALE, max(0, round(SCALE * a / max_act))) for a in acts]


def _token(tok: str) -> str:
    """A token as one line: newlines shown as \\n, tabs as spaces (the TAB is the separator)."""
    return tok.replace("\r", "").replace("\n", "\\n").replace("\t", " ")


def format_block(example: Example, max_act: float, omit_zeros: bool = False) -> str:
    """One example as a <start> ... <end> block of token<TAB>activation lines."""
    values = scaled_activations(example.acts, max_act)
    lines = [
        f"{_token(tok)}\t{v}"
        for tok, v in zip(example.tokens, values, strict=True)
        if v > 0 or not omit_zeros
    ]
    return "\n".join(["<start>", *lines, "<end>"])


@EXPLAINERS.register("token_pairs")
class TokenPairsExplainer(Explainer):
    name = "token_pairs"
    prompt_version = "token_pairs.v1"

    def prompt(self, record: LatentRecord) -> Messages:
        template = load_template("autointerp.explain", self.prompt_version)
        max_act = record.max_act
        if max_act <= 0:
            max_act = max((ex.max_act for ex in record.explain), default=0.0)
        return template.render(
            activations="\n".join(format_block(ex, max_act) for ex in record.explain),
            nonzero="\n".join(format_block(ex, max_act, omit_zeros=True) for ex in record.explain),
        )

    def explain(self, records: Sequence[LatentRecord], ctx: ExplainContext) -> list[Explanation]:
        """As the base class, but a copy of the worked example's answer is 'unparsable'."""
        out = []
        for expl in super().explain(records, ctx):
            copied = (
                expl.status == ExplanationStatus.OK
                and " ".join(expl.text.lower().split()) == WORKED_ANSWER
            )
            error = f"reply repeats the worked example's answer {WORKED_ANSWER!r}"
            out.append(
                replace(expl, text="", status=ExplanationStatus.UNPARSABLE, error=error)
                if copied
                else expl
            )
        return out
