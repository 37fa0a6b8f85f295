"""Reply phrasings of the contrastive and token-pairs explainers (OpenAI neuron-explainer
style), plus refusals and empty replies in those formats."""

from __future__ import annotations

import pytest

from autointerp.errors import LLMResponseError
from autointerp.explain import parse_explanation


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (
            "Explanation of neuron 2 behavior: the main thing this neuron does is find "
            "city names after prepositions.",
            "city names after prepositions",
        ),
        (
            "explanation of neuron 2 behaviour: the main thing this neuron does is find years",
            "years",
        ),
        (
            "the main thing this neuron does is find closing brackets in code",
            "closing brackets in code",
        ),
        ("The main thing this neuron does is to look for: negations", "negations"),
        (
            "<start>\nParis\t10\n<end>\nThe main thing this neuron does is find capital cities.",
            "capital cities",
        ),
        ("Explanation of neuron 2 behavior:\n- negations\n", "negations"),
        ("This neuron looks for plural nouns.", "plural nouns"),
        ("The neuron fires on dates written as numbers", "dates written as numbers"),
        (
            "Explanation: the marked tokens in set A are city names",
            "city names",
        ),
        ("Explanation: city names, which set B lacks", "city names, which set B lacks"),
    ],
)
def test_parses_new_phrasings(reply: str, expected: str) -> None:
    assert parse_explanation(reply) == expected


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (
            "Explanation of neuron 2 behavior: the main thing this neuron does is find",
            "no explanation",
        ),
        (
            "Explanation of neuron 2 behavior: the main thing this neuron does is find ...",
            "no explanation",
        ),
        ("the main thing this neuron does is find\n\n", "no explanation"),
        ("Explanation of neuron 2 behavior: I'm sorry, I cannot tell", "refusal"),
        ("I can't determine what set A has that set B lacks.", "refusal"),
        ("\n\t\n", "empty reply"),
    ],
)
def test_rejects_unusable_replies_in_the_new_formats(reply: str, message: str) -> None:
    with pytest.raises(LLMResponseError, match=message):
        parse_explanation(reply)
