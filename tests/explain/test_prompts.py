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
        {"role": "system", "content": "Answer Yes or No."},
        {
            "role": "user",
            "content": "A neuron responds to: years\n"
            "Does this text contain what it responds to?\n"
            "Text: in 2001 and 2002.",
        },
    ]
    assert items[0].text == "in 2001 and 2002."
    text, start = DetectionScorer().statement("years", items[0].text)
    assert (text, start) == ("in 2001 and 2002.\nThis text is about years.", 17)


def test_fuzz_prompt_golden() -> None:
    expl = Explanation(7, 0, "years", "user:x")
    right = FuzzingScorer().items(RECORD, expl, seed=0)[0]
    assert right.messages == [
        {"role": "system", "content": "Answer Yes or No."},
        {
            "role": "user",
            "content": "A neuron responds to: years\n"
            "Are the tokens marked <<like this>> what it responds to?\n"
            "Text: in <<2001>> and <<2002>>.",
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


NEGATIVES = [
    Example(20, ("A", " dog", "."), (0, 0, 0), "nonactivating"),
    Example(21, (" in", " May"), (0, 0), "hard_similar"),
    Example(22, ("Year", " one"), (0, 0), "hard_neighbour"),
    Example(23, (" the", " end"), (0, 0), "hard_neighbour"),
]


def test_contrastive_explainer_prompt_golden() -> None:
    from autointerp.explain.contrastive import ContrastiveExplainer

    record = LatentRecord(7, explain=[EX1, EX2], nonactivating=NEGATIVES, max_act=2.0)
    messages = ContrastiveExplainer(ExplainConfig(n_contrast=3)).prompt(record)
    assert messages == [
        {
            "role": "system",
            "content": "You are an interpretability researcher. You study one neuron of a "
            "language model at a time by comparing text excerpts in which it fires with similar "
            "excerpts in which it stays silent, and you describe the pattern it responds to in a "
            "short phrase.",
        },
        {
            "role": "user",
            "content": "Set A: excerpts where the neuron fires. The tokens where it fires are "
            "marked like <<this>>.\n"
            "\n"
            "A1: The year <<1987>> was\\ncold\n"
            "A2: in <<2001>> and <<2002>>.\n"
            "\n"
            "Set B: excerpts where the neuron does not fire at all, although some look similar.\n"
            "\n"
            "B1: Year one\n"  # hard negatives first, the two kinds interleaved
            "B2: in May\n"
            "B3: the end\n"
            "\n"
            "What do the marked tokens in set A have that the texts in set B lack? Reply with "
            'one line that starts with "Explanation:" followed by a short phrase of at most 12 '
            "words.",
        },
    ]


def test_contrastive_prompt_without_negatives_says_none() -> None:
    from autointerp.explain.contrastive import ContrastiveExplainer

    record = LatentRecord(7, explain=[EX2], max_act=2.0)
    content = ContrastiveExplainer(ExplainConfig()).prompt(record)[1]["content"]
    assert "A1: in <<2001>> and <<2002>>.\n\nSet B:" in content
    assert "look similar.\n\n(none)\n\nWhat do" in content


TOKEN_PAIRS_SYSTEM = (
    "We're studying neurons in a neural network. Each neuron looks for some particular thing "
    "in a short document. Look at the parts of the document the neuron activates for and "
    "summarize in a single sentence what the neuron is looking for. Don't list examples of "
    "words.\n"
    "\n"
    "The activation format is token<tab>activation. Activation values range from 0 to 10. A "
    "neuron finding what it's looking for is represented by a non-zero activation value. The "
    "higher the activation value, the stronger the match."
)
TOKEN_PAIRS_ASK = (
    'Reply with one sentence that starts with "Explanation of neuron {n} behavior: the main '
    'thing this neuron does is find".'
)


def test_token_pairs_explainer_prompt_golden() -> None:
    from autointerp.explain.token_pairs import TokenPairsExplainer

    messages = TokenPairsExplainer(ExplainConfig()).prompt(RECORD)
    assert messages == [
        {"role": "system", "content": TOKEN_PAIRS_SYSTEM},
        {
            "role": "user",
            "content": "Neuron 1\nActivations:\n<start>\n"
            "We\t0\n will\t0\n meet\t0\n on\t1\n Monday\t10\n and\t0\n again\t0\n on\t0\n"
            " Friday\t8\n.\t0\n<end>\n"
            "\n"
            "Same activations, but with all zeros filtered out:\n"
            "<start>\n on\t1\n Monday\t10\n Friday\t8\n<end>\n"
            "\n" + TOKEN_PAIRS_ASK.format(n=1),
        },
        {
            "role": "assistant",
            "content": "Explanation of neuron 1 behavior: the main thing this neuron does is "
            "find days of the week.",
        },
        {
            "role": "user",
            # max_act 2.0: 2.0 -> 10, 1.0 -> 5, 0.5 -> 2 (round half to even); "\n" shown as \n
            "content": "Neuron 2\nActivations:\n"
            "<start>\nThe\t0\n year\t0\n 1987\t10\n was\t0\n\\n\t0\ncold\t0\n<end>\n"
            "<start>\n in\t0\n 2001\t5\n and\t0\n 2002\t2\n.\t0\n<end>\n"
            "\n"
            "Same activations, but with all zeros filtered out:\n"
            "<start>\n 1987\t10\n<end>\n"
            "<start>\n 2001\t5\n 2002\t2\n<end>\n"
            "\n" + TOKEN_PAIRS_ASK.format(n=2),
        },
    ]


def test_token_pairs_scaling_clamps_and_falls_back_to_the_examples_maximum() -> None:
    from autointerp.explain.token_pairs import TokenPairsExplainer, scaled_activations

    assert scaled_activations([0.0, -1.0, 0.26, 3.0, 9.0], 3.0) == [0, 0, 1, 10, 10]
    assert scaled_activations([1.0, 2.0], 0.0) == [0, 0]
    unknown_max = LatentRecord(7, explain=[EX1, EX2], max_act=0.0)  # scaled by 2.0, as above
    assert TokenPairsExplainer(ExplainConfig()).prompt(unknown_max) == (
        TokenPairsExplainer(ExplainConfig()).prompt(RECORD)
    )


def test_best_of_n_candidate_prompt_shows_every_other_example() -> None:
    from autointerp.explain.best_of_n import BestOfNExplainer

    record = LatentRecord(7, explain=[EX1, EX1, EX2, EX2], max_act=2.0)
    shown = BestOfNExplainer(ExplainConfig()).prompt(record)[1]["content"]
    assert shown == DefaultExplainer(ExplainConfig()).prompt(RECORD)[1]["content"]
