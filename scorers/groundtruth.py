"""A small ground-truth set for scorer validity: latents whose meaning is known by
construction.

Each latent "fires" (activation 1.0) exactly on the tokens a rule picks out in real
tokenised sentences: digits, animal names, colour words. Its activating examples are
sentences with such tokens, its non-activating examples sentences without. The right
explanation of one latent is a wrong explanation for the others, so every scorer can be asked
whether it prefers the right one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from autointerp.records import Example, Explanation, LatentRecord

__all__ = ["LATENTS", "GroundTruthLatent", "build_records", "explanations"]

_ANIMALS = {
    "dog",
    "dogs",
    "cat",
    "cats",
    "horse",
    "horses",
    "cow",
    "cows",
    "bird",
    "birds",
    "fox",
    "sheep",
    "lion",
    "lions",
    "rabbit",
    "rabbits",
    "mouse",
    "goat",
    "wolf",
}
_COLOURS = {
    "red",
    "blue",
    "green",
    "yellow",
    "purple",
    "orange",
    "black",
    "white",
    "pink",
    "brown",
    "grey",
}

SENTENCES = {
    "digits": [
        "The meeting starts at 9 and ends at 11 on Friday.",
        "She paid 45 dollars for 3 books at the store.",
        "In 1998 the town had about 2500 residents.",
        "Turn to page 112 and read the first 20 lines.",
        "The train leaves from platform 7 at 14:30 sharp.",
        "He scored 87 points out of 100 on the exam.",
        "Add 250 grams of flour and 2 eggs to the bowl.",
        "Room 404 is on the 4th floor of the building.",
        "The recipe serves 6 people and takes 35 minutes.",
        "They drove 120 miles in just under 2 hours.",
        "The bill came to 64 euros for the 5 of us.",
        "Version 3 was released on March 12 last year.",
    ],
    "animals": [
        "The dog barked at the mailman all morning.",
        "A small cat slept on the warm windowsill.",
        "The farmer fed the horses and the cows before dawn.",
        "We watched a fox cross the snowy field.",
        "Two rabbits hid under the hedge in the garden.",
        "The sheep grazed quietly on the green hill.",
        "A lion rested in the shade of a tall tree.",
        "The birds sang loudly outside the window.",
        "Her goat ate the flowers by the fence.",
        "A wolf howled somewhere in the dark forest.",
        "The mouse ran behind the kitchen cupboard.",
        "My neighbour walks his dogs twice a day.",
    ],
    "colours": [
        "She wore a bright red scarf to the party.",
        "The sky turned purple and orange at sunset.",
        "He painted the fence white last weekend.",
        "A yellow taxi stopped at the corner.",
        "The walls of the room were pale blue.",
        "She bought a pink umbrella for the trip.",
        "The old car was painted dark brown.",
        "His black coat hung by the door.",
        "The leaves were turning yellow and brown.",
        "They chose grey tiles for the kitchen floor.",
        "A blue door stood at the end of the street.",
        "The logo is a white star on a green field.",
    ],
}
NEUTRAL = [
    "The committee will discuss the proposal tomorrow.",
    "It was a quiet evening and nobody spoke much.",
    "Please remember to close the window before leaving.",
    "The author explains her ideas in the last chapter.",
    "We should probably leave early to avoid the traffic.",
    "The library opens after lunch on most weekdays.",
    "He apologised for the mistake and fixed it quickly.",
    "Nobody knew where the old path used to lead.",
    "The lecture covered several important questions.",
    "She said the plan would work if everyone helped.",
    "The report was finished just before the deadline.",
    "They talked about the weather and the news.",
]


@dataclass(frozen=True)
class GroundTruthLatent:
    name: str
    fires: Callable[[str], bool]
    explanation: str


LATENTS = [
    GroundTruthLatent("digits", lambda t: bool(re.search(r"\d", t)), "numbers written as digits"),
    GroundTruthLatent(
        "animals", lambda t: t.strip().lower() in _ANIMALS, "names of animals such as dog or cat"
    ),
    GroundTruthLatent(
        "colours", lambda t: t.strip().lower() in _COLOURS, "colour words such as red or blue"
    ),
]


def _example(
    window: int, text: str, tokenize: Callable[[str], list[str]], gt: GroundTruthLatent, role: str
) -> Example:
    tokens = tuple(tokenize(text))
    acts = tuple(1.0 if gt.fires(t) else 0.0 for t in tokens)
    return Example(window, tokens, acts, role, quantile=1 if any(acts) else 0)


def build_records(tokenize: Callable[[str], list[str]], n_explain: int = 6) -> list[LatentRecord]:
    """One record per ground-truth latent: its own sentences are activating (the first
    ``n_explain`` for the explainer, the rest held out for scoring); the neutral sentences and
    the other latents' sentences are non-activating."""
    records = []
    names = list(SENTENCES)
    for i, gt in enumerate(LATENTS):
        own = SENTENCES[gt.name]
        others = NEUTRAL + [s for n in names if n != gt.name for s in SENTENCES[n][:3]]
        examples = [_example(100 * i + j, s, tokenize, gt, "score") for j, s in enumerate(own)]
        assert all(ex.max_act > 0 for ex in examples), gt.name
        negatives = [
            _example(1000 + 100 * i + j, s, tokenize, gt, "nonactivating")
            for j, s in enumerate(others)
        ]
        assert not any(ex.max_act > 0 for ex in negatives), gt.name
        explain = [Example(e.window, e.tokens, e.acts, "explain", 1) for e in examples[:n_explain]]
        records.append(
            LatentRecord(
                i, explain=explain, score=examples[n_explain:], nonactivating=negatives, max_act=1.0
            )
        )
    return records


def explanations(latent: int) -> list[Explanation]:
    """Every ground-truth explanation for ``latent``: id i is latent i's right explanation,
    so ``explanation_id == latent`` is the right one and the others are wrong."""
    return [
        Explanation(latent, i, gt.explanation, "user:groundtruth") for i, gt in enumerate(LATENTS)
    ]
