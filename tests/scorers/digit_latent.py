"""A latent by construction for the scorer tests: it fires (1.0) on every token that
contains a digit. Activating examples are sentences with numbers, non-activating ones
sentences without; both are tokenised with the real SmolLM2 tokenizer."""

from __future__ import annotations

from typing import Any

from autointerp.records import Example, Explanation, LatentRecord

WITH_NUMBERS = (
    "The train leaves at 7 and arrives at 9 in the evening.",
    "In 1987 the town had 4500 people and 12 schools.",
    "She paid 35 dollars for 3 books at the market.",
    "Call extension 2041 before 10 tomorrow morning.",
    "The recipe needs 250 grams of flour and 2 eggs.",
    "Room 314 is on floor 3 of building 7.",
    "He ran 42 kilometres in 3 hours and 15 minutes.",
    "The invoice lists 18 items for a total of 960 euros.",
    "Chapter 11 starts on page 204 of the 1999 edition.",
    "Only 6 of the 24 players scored more than 100 points.",
)
WITHOUT_NUMBERS = (
    "The cat slept on the warm windowsill all afternoon.",
    "She opened the letter and smiled at the kind words.",
    "Rain fell softly over the quiet village square.",
    "He forgot his umbrella again on the crowded bus.",
    "The garden smelled of roses and freshly cut grass.",
    "They argued about politics until the candles burned out.",
    "A small boat drifted slowly across the calm lake.",
    "The teacher asked everyone to read the poem aloud.",
    "Fresh bread was cooling on the kitchen table.",
    "Our neighbours painted their front door bright blue.",
)

RIGHT = "numbers and digits"
WRONG = "animals and pets"


def example(tokenizer: Any, text: str, window: int, role: str) -> Example:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    tokens = tuple(tokenizer.decode([i]) for i in ids)
    acts = tuple(1.0 if any(c.isdigit() for c in t) else 0.0 for t in tokens)
    return Example(window, tokens, acts, role, quantile=1 if role == "score" else 0)


def digit_record(tokenizer: Any, latent: int = 0, n: int = 10) -> LatentRecord:
    """``n`` activating (role 'score') and ``n`` non-activating examples."""
    score = [example(tokenizer, t, i, "score") for i, t in enumerate(WITH_NUMBERS[:n])]
    neg = [
        example(tokenizer, t, 100 + i, "nonactivating") for i, t in enumerate(WITHOUT_NUMBERS[:n])
    ]
    return LatentRecord(latent, explain=[], score=score, nonactivating=neg, max_act=1.0)


def explanation(text: str, latent: int = 0, explanation_id: int = 0) -> Explanation:
    return Explanation(latent, explanation_id, text, "user:test")
