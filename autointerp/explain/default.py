"""The default explainer: activating examples with the firing tokens marked << >>."""

from __future__ import annotations

from autointerp.explain.base import EXPLAINERS, Explainer
from autointerp.llm.base import Messages
from autointerp.prompts import load_template, render_marked
from autointerp.records import Example, LatentRecord

__all__ = ["DefaultExplainer", "format_example"]


def format_example(n: int, example: Example, max_act: float, show_activations: bool) -> str:
    marked = [a > 0 for a in example.acts]
    line = f"Example {n}: {render_marked(example.tokens, marked)}"
    if show_activations and max_act > 0:
        pairs = [
            f"{tok.strip() or repr(tok)} ({min(9, round(9 * a / max_act))})"
            for tok, a in zip(example.tokens, example.acts, strict=True)
            if a > 0
        ]
        line += "\n  Activations: " + ", ".join(pairs)
    return line


@EXPLAINERS.register("default")
class DefaultExplainer(Explainer):
    name = "default"
    prompt_version = "default.v1"

    def prompt(self, record: LatentRecord) -> Messages:
        template = load_template("autointerp.explain", self.prompt_version)
        lines = [
            format_example(i, ex, record.max_act, self.cfg.show_activations)
            for i, ex in enumerate(record.explain, start=1)
        ]
        return template.render(examples="\n".join(lines))
