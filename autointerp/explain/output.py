"""The output-centric explainer: describe a latent by what it makes the model say.

The prompt (``output.v1``) lists, for each latent, ``explain.n_output_tokens`` tokens of
three kinds, all from the subject model and the SAE (``needs_model``):

* promoted / suppressed: the logit lens of the unit's decoder direction
  (:func:`autointerp.steering.logit_lens`, through the final norm and the unembedding);
* steered: the tokens whose next-token probability rises most (averaged over
  ``scoring.steer_prompts`` neutral beginnings) when the unit is steered on with the strength
  calibrated to ``scoring.steer_target_kl`` (:func:`autointerp.steering.calibrate_many`);

and, unless ``explain.n_output_examples`` is 0, that many of the latent's top activating
examples with the firing tokens marked.
"""

from __future__ import annotations

from collections.abc import Sequence

from autointerp.errors import ConfigError
from autointerp.explain.base import EXPLAINERS, ExplainContext, Explainer
from autointerp.explain.default import format_example
from autointerp.llm.base import Messages
from autointerp.prompts import load_template
from autointerp.records import LatentRecord
from autointerp.steering import calibrate_many, logit_lens, neutral_prompts, prob_changes

__all__ = ["OutputExplainer", "format_tokens"]


def format_tokens(tokens: Sequence[str]) -> str:
    """Quoted, comma-separated tokens: surrounding spaces dropped, newlines shown as \\n,
    quotes as \\", empty and repeated ones left out."""
    visible = (
        t.replace("\r", "").replace("\n", "\\n").replace("\t", " ").replace('"', '\\"')
        for t in tokens
    )
    shown = dict.fromkeys(t.strip() for t in visible)
    return ", ".join(f'"{t}"' for t in shown if t)


@EXPLAINERS.register("output")
class OutputExplainer(Explainer):
    name = "output"
    prompt_version = "output.v1"
    needs_model = True

    def render(
        self,
        record: LatentRecord,
        promoted: Sequence[str],
        suppressed: Sequence[str],
        steered: Sequence[str],
    ) -> Messages:
        """The prompt for one latent, given its token lists."""
        top = sorted(record.explain, key=lambda ex: -ex.max_act)[: self.cfg.n_output_examples]
        examples = ""
        if top:
            lines = [format_example(i, ex, record.max_act, False) for i, ex in enumerate(top, 1)]
            heading = "Excerpts where the neuron fires (firing tokens marked <<like this>>):"
            examples = "\n" + heading + "\n" + "\n".join(lines) + "\n"
        return load_template("autointerp.explain", self.prompt_version).render(
            promoted=format_tokens(promoted),
            suppressed=format_tokens(suppressed),
            steered=format_tokens(steered),
            examples=examples,
        )

    def prompt(self, record: LatentRecord) -> Messages:
        raise ConfigError(
            "the 'output' explainer needs the subject model and the SAE: call "
            "prompts(records, ctx) with ctx.subject and ctx.sae set"
        )

    def prompts(self, records: Sequence[LatentRecord], ctx: ExplainContext) -> list[Messages]:
        if ctx.subject is None or ctx.sae is None:
            self.prompt(records[0])
        assert ctx.subject is not None and ctx.sae is not None
        subject, sae, k = ctx.subject, ctx.sae, self.cfg.n_output_tokens
        units = [r.latent for r in records]
        prompts = neutral_prompts(ctx.scoring.steer_prompts)
        cals = calibrate_many(subject, sae, units, prompts, ctx.scoring.steer_target_kl)
        changed = prob_changes(subject, sae, units, [c.alpha for c in cals], prompts, k)
        out = []
        for record, steered in zip(records, changed, strict=True):
            promoted, suppressed = logit_lens(subject, sae, record.latent, k)
            out.append(
                self.render(
                    record,
                    [t for t, _ in promoted],
                    [t for t, _ in suppressed],
                    [t for t, v in steered if v > 0],
                )
            )
        return out
