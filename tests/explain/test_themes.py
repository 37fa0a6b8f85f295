"""The grounded explainer's reply checks (autointerp/explain/themes.py): the theme a reply
names, the reasons a theme is rejected, and the paraphrase check with the real offline
all-MiniLM-L6-v2 sentence embedder."""

from __future__ import annotations

import pytest

from autointerp.explain.facts import compute_facts
from autointerp.explain.themes import check_theme, extract_theme, paraphrase_check
from tests.explain.test_explainers import RECORD
from tests.explain.test_grounded import family_record


@pytest.mark.parametrize(
    ("reply", "theme"),
    [
        ('The words "mother", "father" belong to the category of "family".', "family"),
        ("Explanation: family relationships", "family relationships"),
        ("These words are all related to kinship terms.", "kinship terms"),
    ],
)
def test_extract_theme(reply: str, theme: str) -> None:
    assert extract_theme(reply) == theme


@pytest.mark.parametrize(
    ("theme", "reason"),
    [
        ("a pattern of a token that is a token", "generic"),
        ("the marked tokens in the example", "generic"),
        ("latter-latter fantasy", "repetitive"),
        ("CP<<y>>thon implementation", "copies an excerpt"),
        ("units of time", "not supported"),
        ("Hebrew script", "not supported"),
    ],
)
def test_bad_themes_are_rejected_with_a_reason(theme: str, reason: str) -> None:
    facts = compute_facts(family_record())
    found = check_theme(theme, facts, "You name what a neuron responds to")
    assert found is not None and reason in found


@pytest.mark.slow
def test_a_paraphrase_is_accepted_only_for_its_own_latent() -> None:
    pytest.importorskip("sentence_transformers")
    family, cities = compute_facts(family_record()), compute_facts(RECORD)
    similar = paraphrase_check([family, cities])
    assert similar is not None
    assert check_theme("family members", family, "", similar=similar) is None
    assert check_theme("family members", cities, "", similar=similar) is not None
    assert check_theme("names of cities", cities, "", similar=similar) is None
