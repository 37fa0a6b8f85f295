"""The latent facts, the no-LLM ``stats`` explainer and the grounded explainer (its reply
checks on their own: test_themes.py).

The replies are scripted (``ScriptedLLM``, a test double for an LLM that answers in a known
way, good or bad, on demand); the sentence embedder used for the paraphrase check is the real
offline all-MiniLM-L6-v2. One test runs the real embedded SmolLM2 end to end.
"""

from __future__ import annotations

import re

import pytest

from autointerp.config import ExplainConfig, LLMConfig
from autointerp.explain import EXPLAINERS, ExplainContext
from autointerp.explain.facts import (
    LatentFacts,
    compute_facts,
    shared_form,
    stats_phrase,
    token_key,
)
from autointerp.explain.themes import check_theme, paraphrase_check
from autointerp.llm.local import LocalLLM
from autointerp.records import Example, Explanation, LatentRecord
from tests.explain.test_explainers import RECORD, ScriptedLLM, words

FAMILY = [
    "My mother and father live in Leeds.",
    "Her sister visited her brother last week.",
    "The father of the bride gave a speech.",
    "His mother called him every Sunday.",
    "Our brother and sister both play chess.",
]
KIN = {"mother", "father", "sister", "brother"}


def family_record(latent: int = 3) -> LatentRecord:
    explain = []
    for i, text in enumerate(FAMILY):
        tokens = tuple(words(text))
        acts = tuple(4.0 if t.strip().lower() in KIN else 0.0 for t in tokens)
        explain.append(Example(i, tokens, acts, "explain", 1))
    return LatentRecord(latent, explain=explain, max_act=4.0)


def explain(replies: list[str | None], records: list[LatentRecord]) -> list[Explanation]:
    llm = ScriptedLLM(replies)
    explainer = EXPLAINERS.get("grounded")(ExplainConfig())
    return explainer.explain(records, ExplainContext(llm, LLMConfig(), progress=False))


def test_facts_count_strong_firings_case_insensitively() -> None:
    facts = compute_facts(family_record())
    shares = dict(facts.tokens)
    assert set(shares) == {"mother", "father", "sister", "brother"}
    assert sum(shares.values()) == pytest.approx(1.0)
    assert facts.n_firings == 8
    assert all("<<" in c and ">>" in c for c in facts.contexts)
    assert token_key(" Mother") == token_key("mother") == "mother"


def test_stats_explainer_lists_the_top_tokens_without_an_llm() -> None:
    llm = ScriptedLLM(["never asked"])
    rows = EXPLAINERS.get("stats")(ExplainConfig()).explain(
        [family_record(), RECORD], ExplainContext(llm, LLMConfig(), progress=False)
    )
    assert not llm.generated
    assert [r.source for r in rows] == ["generated:stats"] * 2
    assert all(r.status == "ok" for r in rows)
    assert set(re.findall(r"\w+", rows[0].text)) == KIN
    assert "Paris" in rows[1].text
    assert rows[0].text == stats_phrase(compute_facts(family_record()))


def _facts(*tokens: str) -> LatentFacts:
    return LatentFacts(0, tuple((t, 1 / len(tokens)) for t in tokens), (), ())


@pytest.mark.parametrize(
    ("tokens", "phrase"),
    [
        (("0", "1", "2", "8"), "numbers such as 0, 1, 2, 8"),
        (("called", "named", "raised"), 'words ending in "-ed" such as called, named, raised'),
        (
            ("called", "named", "raised", "asked", "Spec"),
            'words ending in "-ed" such as called, named, raised, asked',
        ),
        (("(", "[", ":"), 'punctuation and symbols such as "(", "[", ":"'),
        (("(", "[", "{"), 'opening brackets such as "(", "[", "{"'),
        ((")", "]", ")."), 'closing brackets such as ")", "]", ")."'),
        (('"', "'"), "quotation marks such as '\"', \"'\""),
        (("==", "<", ">="), 'operators such as "==", "<", ">="'),
        (("Paris", "London", "Rome"), "capitalized words such as Paris, London, Rome"),
        (("file", "path", "__init__"), 'file, path, "__init__"'),
        (("file", "files", "path", "paths", "filename"), "file, path, filename"),
    ],
)
def test_stats_phrase_names_a_shared_form_and_one_token_per_word(
    tokens: tuple[str, ...], phrase: str
) -> None:
    assert stats_phrase(_facts(*tokens)) == phrase
    assert shared_form(_facts("file", "0")) is None


@pytest.mark.slow
def test_grounded_stores_accepted_themes_with_evidence_and_falls_back_to_stats() -> None:
    pytest.importorskip("sentence_transformers")
    records = [family_record(3), RECORD]
    rows = explain(
        [
            'The words "mother", "father" belong to the category of "family members".',
            "The pattern of the tokens in the example.",
        ],
        records,
    )
    family, cities = rows
    assert family.status == "ok" and family.source == "generated:grounded"
    assert family.text.startswith("family members (e.g. ")
    assert cities.status == "ok" and cities.source == "generated:stats"
    assert cities.text == stats_phrase(compute_facts(RECORD))
    assert cities.error is not None and "generic" in cities.error
    assert cities.raw == "The pattern of the tokens in the example."


@pytest.mark.slow
def test_grounded_keeps_failed_calls_repairable_and_never_stores_unsupported_text() -> None:
    rows = explain([None, "I'm sorry, I cannot help.", "Hebrew script"], [family_record(1)] * 3)
    assert rows[0].status == "llm_error" and rows[0].source == "generated:grounded"
    for row in rows[1:]:
        assert row.status == "ok" and row.source == "generated:stats", row
        assert "Hebrew" not in row.text and "sorry" not in row.text


def test_prompt_shows_facts_and_examples() -> None:
    explainer = EXPLAINERS.get("grounded")(ExplainConfig())
    messages = explainer.prompt(family_record())
    user = messages[-1]["content"]
    assert '"mother" 25%' in user or '"father" 25%' in user
    assert "<<" in user and "Which category do the words" in user


@pytest.mark.slow
def test_grounded_with_the_embedded_model_stores_no_generic_text(smollm2) -> None:  # type: ignore[no-untyped-def]
    """The real SmolLM2: every row is a theme that passes the checks, or the statistics
    phrase."""
    records = [family_record(3), RECORD]
    llm = LocalLLM(LLMConfig(), smollm2)
    explainer = EXPLAINERS.get("grounded")(ExplainConfig())
    rows = explainer.explain(records, ExplainContext(llm, LLMConfig(), progress=False))
    assert [r.status for r in rows] == ["ok", "ok"]
    facts = [compute_facts(r) for r in records]
    similar = paraphrase_check(facts)
    for row, fact in zip(rows, facts, strict=True):
        assert row.raw and row.prompt_tokens > 0
        if row.source == "generated:stats":
            assert row.text == stats_phrase(fact)
        else:
            assert row.source == "generated:grounded"
            theme = row.text.split(" (e.g.")[0]
            assert check_theme(theme, fact, "", similar=similar) is None
