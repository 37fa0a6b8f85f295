"""The output-centric explainer: its golden prompt, and its behaviour on the real SmolLM2
with the planted SAE of tests/test_steering.py (latent 1 is the unembedding row of " dog")."""

from __future__ import annotations

from typing import Any

import pytest

from autointerp.config import ExplainConfig, LLMConfig, ScoringConfig
from autointerp.errors import ConfigError
from autointerp.explain import EXPLAINERS, ExplainContext
from autointerp.explain.output import OutputExplainer, format_tokens
from autointerp.llm.local import LocalLLM
from autointerp.records import Example, LatentRecord
from tests.test_steering import planted_sae

EX1 = Example(4, ("The", " big", " dog", " barked"), (0, 0, 2.0, 0.5), "explain", 3)
EX2 = Example(9, (" a", " puppy", "."), (0, 1.0, 0), "explain", 1)
RECORD = LatentRecord(latent=1, explain=[EX2, EX1], max_act=2.0)


def test_format_tokens_strips_dedupes_and_shows_newlines() -> None:
    tokens = [" dog", "dog", "Dog", "\n", " ", "a\tb", '"']
    assert format_tokens(tokens) == '"dog", "Dog", "\\n", "a b", "\\""'


def test_output_prompt_golden() -> None:
    explainer = OutputExplainer(ExplainConfig(n_output_examples=1))
    messages = explainer.render(RECORD, [" dog", "Dog"], [" the", ","], [" cat", " puppy"])
    assert messages == [
        {
            "role": "system",
            "content": "You are an interpretability researcher. You study one neuron of a "
            "language model at a time by looking at how it changes what the model writes "
            "next, and you describe it in a short phrase.",
        },
        {
            "role": "user",
            "content": "When this neuron is active, it changes which words the model predicts "
            "next.\n\n"
            'Words it makes more likely: "dog", "Dog"\n'
            'Words it makes less likely: "the", ","\n'
            'Words that became more likely when it was switched on in ordinary text: "cat", '
            '"puppy"\n'
            "\n"
            "Excerpts where the neuron fires (firing tokens marked <<like this>>):\n"
            "Example 1: The big <<dog barked>>\n"
            "\n"
            "What do the words it makes more likely have in common? Reply with one line that "
            'starts with "Explanation:" followed by a short phrase of at most 12 words.',
        },
    ]


def test_output_prompt_without_examples() -> None:
    explainer = OutputExplainer(ExplainConfig(n_output_examples=0))
    content = explainer.render(RECORD, ["a"], ["b"], ["c"])[1]["content"]
    assert 'ordinary text: "c"\n\nWhat do the words' in content and "Example" not in content


@pytest.fixture(scope="module")
def ctx(smollm2: Any) -> ExplainContext:
    return ExplainContext(
        LocalLLM(LLMConfig(), smollm2),
        LLMConfig(max_new_tokens=24),
        progress=False,
        subject=smollm2,
        sae=planted_sae(smollm2),
        scoring=ScoringConfig(steer_prompts=4),
    )


@pytest.mark.slow
def test_prompts_list_the_planted_tokens_and_explain_runs(ctx: ExplainContext) -> None:
    assert EXPLAINERS.get("output") is OutputExplainer
    explainer = OutputExplainer(ExplainConfig(n_output_tokens=8))
    records = [RECORD, LatentRecord(latent=0)]
    prompts = explainer.prompts(records, ctx)
    lines = prompts[0][1]["content"].splitlines()
    promoted = lines[2].lower()
    steered = lines[4]
    print(lines[2:5], prompts[1][1]["content"].splitlines()[2:5])
    assert promoted.startswith("words it makes more likely:") and '"dog"' in promoted
    assert steered.count('"') >= 2  # at least one token rose
    assert "Example 1: The big <<dog barked>>" in prompts[0][1]["content"]
    (explanation,) = explainer.explain([RECORD], ctx)
    print(explanation)
    assert explanation.source == "generated:output" and explanation.latent == 1
    assert explanation.status in ("ok", "unparsable", "refusal")
    assert explanation.raw


@pytest.mark.slow
def test_needs_the_subject_model(ctx: ExplainContext) -> None:
    bare = ExplainContext(ctx.llm, progress=False)
    with pytest.raises(ConfigError, match="needs the subject model and the SAE"):
        OutputExplainer(ExplainConfig()).prompts([RECORD], bare)
