from __future__ import annotations

import pytest

from autointerp.errors import LLMResponseError
from autointerp.explain import parse_explanation


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("Explanation: four-digit years in dates", "four-digit years in dates"),
        ("explanation - Python keywords.", "Python keywords"),
        ("Sure! Here it is.\nExplanation: **closing brackets**\nMore text", "closing brackets"),
        ('"the word for"', "the word for"),
        ("The marked tokens are: plural nouns", "plural nouns"),
        ("  \n\n  numbers in code  \n", "numbers in code"),
        ("Explanation: " + "word " * 50, " ".join(["word"] * 30)),
        ('The words marked most often are:\n\n- "over"\n- "else"\n- "over"\n', "over, else"),
        ('The marked words are "is", "was" and "is"', "is, was"),
        (
            "The word or symbol that is marked is a colon (:) followed by a comma",
            "a colon (:) followed by a comma",
        ),
        (
            "The marked tokens have a few meanings.\n\nThe first explanation: x",
            "The marked tokens have a few meanings",
        ),
    ],
)
def test_parses_messy_replies(reply: str, expected: str) -> None:
    assert parse_explanation(reply) == expected


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ("", "empty reply"),
        ("   \n ", "empty reply"),
        ("Explanation: ...", "no explanation"),
        ("I'm sorry, I can't help with that.", "refusal"),
        ("As an AI language model, I cannot", "refusal"),
    ],
)
def test_rejects_unusable_replies(reply: str, message: str) -> None:
    with pytest.raises(LLMResponseError, match=message):
        parse_explanation(reply)
