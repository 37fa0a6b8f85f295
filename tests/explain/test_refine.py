"""Refinement (``--refine``): low validation scores are re-explained by other explainers, every
candidate is kept with its validation value, and the held-out scoring examples are never used.

``ScriptedLLM`` (a test double, see test_explainers.py) answers with known explanations and
judges detection prompts with ``knows_cities`` (a judge that recognises cities only when the
explanation mentions them), so the selection can be checked exactly.
"""

from __future__ import annotations

import json

import pandas as pd

from autointerp.config import ExplainConfig
from autointerp.explain import EXPLAINERS
from autointerp.explain.refine import RefiningExplainer, refine_report
from tests.explain.test_explainers import RECORD, ScriptedLLM, context, knows_cities


def refiner(**cfg: object) -> RefiningExplainer:
    config = ExplainConfig(explainer="default", refine=True, **cfg)  # type: ignore[arg-type]
    return RefiningExplainer(config, EXPLAINERS.get("default")(config))


def test_a_low_scoring_latent_is_re_explained_and_the_best_candidate_kept() -> None:
    llm = ScriptedLLM(
        ["Explanation: weather words", "Explanation: city names", "Explanation: food"],
        p_yes=knows_cities,
    )
    [expl] = refiner(refine_with=("contrastive", "token_pairs")).explain([RECORD], context(llm))
    info = json.loads(expl.raw)["refine"]
    assert [c["explainer"] for c in info["candidates"]] == ["default", "contrastive", "token_pairs"]
    assert [c["validation"] for c in info["candidates"]] == [0.5, 1.0, 0.5]
    assert info["refined"] and info["chosen"] == 1 and expl.text == "city names"
    assert expl.source == "generated:contrastive"
    assert (info["first_value"], info["chosen_value"]) == (0.5, 1.0)
    # the validation positives are the held-back half of the explain examples, never the
    # scoring examples
    assert info["n_shown"] == 3 and info["n_validation_positives"] == 3
    judged = " ".join(llm.judged)
    assert "Lisbon" not in judged and "Vienna" not in judged  # the cities of HELD_OUT
    shown = "".join(t for p in llm.generated for m in p for t in m["content"])
    assert "Lisbon" not in shown and "Vienna" not in shown
    assert (expl.prompt_tokens, expl.completion_tokens) == (
        llm.prompt_tokens - 7 * len(llm.judged),
        llm.completion_tokens - len(llm.judged),
    )


def test_a_latent_that_scores_well_is_left_alone() -> None:
    llm = ScriptedLLM(["Explanation: city names"], p_yes=knows_cities)
    [expl] = refiner().explain([RECORD], context(llm))
    info = json.loads(expl.raw)["refine"]
    assert not info["refined"] and len(info["candidates"]) == 1
    assert expl.text == "city names" and len(llm.generated) == 1


def test_refine_report_states_the_validation_gain() -> None:
    llm = ScriptedLLM(["Explanation: weather", "Explanation: city names"], p_yes=knows_cities)
    rows = refiner(refine_with=("contrastive",)).explain([RECORD], context(llm))
    df = pd.DataFrame({"raw_reply": [r.raw for r in rows] + ["not json"]})
    report = refine_report(df)
    assert report == (
        "refine: 1 of 1 latents re-explained (validation detection 0.50 -> 1.00 mean over 1); "
        "1 kept another explainer's candidate"
    )
    assert refine_report(pd.DataFrame({"raw_reply": ["x"]})) is None
