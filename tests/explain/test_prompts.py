"""Golden tests: the exact prompts each versioned template produces. A change to a template
must come with a new version file and a new golden string here."""

from __future__ import annotations

import pytest

from autointerp.config import ExplainConfig
from autointerp.errors import ConfigError
from autointerp.explain.default import DefaultExplainer
from autointerp.prompts import load_template, parse_template, render_marked
from autointerp.records import Example, Explanation, LatentRecord
from scorers.detection import DetectionScorer
from scorers.fuzzing import FuzzingScorer

EX1 = Example(
    4, ("The", " year", " 1987", " was", "\n", "cold"), (0, 0, 2.0, 0, 0, 0), "explain", 3
)
EX2 = Example(9, (" in", " 2001", " and", " 2002", "."), (0, 1.0, 0, 0.5, 0), "explain", 1)
RECORD = LatentRecord(latent=7, explain=[EX1, EX2], score=[EX2], nonactivating=[EX1], max_act=2.0)


def test_render_marked_keeps_spaces_outside_and_merges_runs() -> None:
    tokens = ("a", " b", " c", " d", "\n", "e")
    assert render_marked(tokens, [False, True, True, False, False, True]) == "a <<b c>> d\\n<<e>>"


def test_default_explainer_prompt_golden() -> None:
    messages = DefaultExplainer(ExplainConfig()).prompt(RECORD)
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[0]["content"].startswith("You are an interpretability researcher.")
    assert messages[1]["content"] == (
        "In each excerpt below, the tokens where the neuron fires are marked like <<this>>.\n"
        "\n"
        "Example 1: The year <<1987>> was\\ncold\n"
        "Example 2: in <<2001>> and <<2002>>.\n"
        "\n"
        "What do the marked tokens have in common? Consider the marked tokens themselves and "
        'the words just before them. Reply with one line that starts with "Explanation:" '
        "followed by a short phrase of at most 12 words."
    )


def test_default_explainer_with_activation_values() -> None:
    messages = DefaultExplainer(ExplainConfig(show_activations=True)).prompt(RECORD)
    assert (
        "Example 2: in <<2001>> and <<2002>>.\n  Activations: 2001 (4), 2002 (2)"
        in messages[1]["content"]
    )


def test_detection_prompt_golden() -> None:
    expl = Explanation(7, 0, "years", "user:x")
    items = DetectionScorer().items(RECORD, expl, seed=0)
    assert [(i.label, i.window) for i in items] == [(True, 9), (False, 4)]
    assert items[0].messages == [
        {
            "role": "system",
            "content": "You check descriptions of neurons in a language model. Answer every question with Yes or No.",
        },
        {
            "role": "user",
            "content": "A neuron has been described as responding to: years\n\n"
            "Does the following text contain what the description says the neuron responds to? "
            "Answer Yes or No.\n\nText: in 2001 and 2002.",
        },
    ]


def test_fuzz_items_mark_true_then_random_tokens() -> None:
    expl = Explanation(7, 0, "years", "user:x")
    items = FuzzingScorer().items(RECORD, expl, seed=0)
    assert [(i.label, i.window) for i in items] == [(True, 9), (False, 9)]
    right, wrong = (i.messages[1]["content"] for i in items)
    assert right.endswith("Text: in <<2001>> and <<2002>>.")
    wrong_text = wrong.split("Text: ")[1]
    assert (
        wrong_text.count("<<") == 2
        and "<<2001>>" not in wrong_text
        and "<<2002>>" not in wrong_text
    )
    assert items == FuzzingScorer().items(RECORD, expl, seed=0)


def test_template_errors() -> None:
    with pytest.raises(ConfigError, match="no prompt template"):
        load_template("scorers", "detection.v999")
    with pytest.raises(ConfigError, match="expected '=== <role>' sections"):
        parse_template("x.v1", "just text")
    with pytest.raises(ConfigError, match="no value for placeholder 'text'"):
        load_template("scorers", "detection.v1").render(explanation="e")
