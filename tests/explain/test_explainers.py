"""Behaviour of the contrastive, token-pairs and best-of-n explainers.

Most tests run the real local SmolLM2. ``ScriptedLLM`` is a test double for what the real
model cannot be made to do on demand: an LLM that misbehaves (errors, empty replies,
refusals, copies of the worked example) or answers in a known way, so that selection and
failure handling can be checked exactly. ``CountingLLM`` wraps the real model and only adds
up the tokens it reports.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from autointerp.config import ExplainConfig, LLMConfig, ScoringConfig
from autointerp.errors import ConfigError
from autointerp.explain import EXPLAINERS, ExplainContext
from autointerp.explain.best_of_n import BestOfNExplainer, split_explain
from autointerp.explain.contrastive import pick_contrast
from autointerp.llm.base import LLM, Choice, Completion, Messages, TextLogprobs
from autointerp.llm.local import LocalLLM
from autointerp.records import Example, Explanation, LatentRecord
from scorers.base import ScoringContext
from scorers.detection import DetectionScorer

STATUSES = {"ok", "unparsable", "refusal", "llm_error"}
CITIES = ("Paris", "London", "Tokyo", "Berlin", "Madrid", "Rome", "Vienna", "Boston", "Lisbon")
POSITIVES = [
    "I went to Paris last summer with my family.",
    "The museum in London was crowded on Sunday.",
    "She moved to Tokyo after finishing school.",
    "Our flight to Berlin was delayed by an hour.",
    "They opened a new office in Madrid this year.",
    "He grew up in Rome before moving away.",
]
HELD_OUT = ["The bridges of Lisbon are old.", "A concert in Vienna sold out."]
NEGATIVES = [
    ("The cat slept on the warm windowsill all day.", "nonactivating"),
    ("Please add two cups of flour to the bowl.", "hard_similar"),
    ("He fixed the bug in the parser yesterday.", "hard_neighbour"),
]


def _example(window: int, tokens: Sequence[str], role: str) -> Example:
    acts = tuple(
        3.0 if role in ("explain", "score") and t.strip() in CITIES else 0.0 for t in tokens
    )
    return Example(window, tuple(tokens), acts, role, 1 if role in ("explain", "score") else 0)


def make_record(latent: int, split: Callable[[str], Sequence[str]]) -> LatentRecord:
    """A latent that fires on city names (6 explain, 2 score, 3 negative examples)."""
    return LatentRecord(
        latent,
        explain=[_example(i, split(s), "explain") for i, s in enumerate(POSITIVES)],
        score=[_example(50 + i, split(s), "score") for i, s in enumerate(HELD_OUT)],
        nonactivating=[_example(100 + i, split(s), role) for i, (s, role) in enumerate(NEGATIVES)],
        max_act=3.0,
    )


def words(text: str) -> list[str]:
    return re.findall(r"\s?\w+|[^\w\s]", text)


RECORD = make_record(5, words)


# ------------------------------------------------------------------- test doubles
@dataclass
class ScriptedLLM(LLM):
    """Test double: generate() cycles through ``replies`` (None = a failed request);
    choose() answers detection prompts with ``p_yes(explanation, text)``."""

    replies: list[str | None]
    p_yes: Callable[[str, str], float] = lambda expl, text: 0.5
    name: str = "scripted"
    supports_logprobs: bool = True
    generated: list[Messages] = field(default_factory=list)
    judged: list[str] = field(default_factory=list)
    temperatures: list[float] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def generate(
        self,
        prompts: Sequence[Any],  # chat Messages (a plain str where a backend takes one)
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
        desc: str | None = None,
    ) -> list[Completion]:
        self.temperatures.append(temperature)
        out = []
        for prompt in prompts:
            reply = self.replies[len(self.generated) % len(self.replies)]
            self.generated.append(prompt)
            out.append(
                Completion("", 10, 0, "HTTP 500: boom")
                if reply is None
                else Completion(reply, 10, 5)
            )
            self.prompt_tokens += 10
            self.completion_tokens += 5 if reply is not None else 0
        return out

    def choose(
        self,
        prompts: Sequence[Any],
        options: Sequence[str],
        *,
        desc: str | None = None,
    ) -> list[Choice]:
        out = []
        for prompt in prompts:
            content = prompt[-1]["content"]
            expl = content.split("responds to: ")[1].split("\n")[0]
            text = content.split("Text: ")[1]
            self.judged.append(text)
            p = self.p_yes(expl, text)
            out.append(Choice({"yes": p, "no": 1 - p}, 1.0, prompt_tokens=7))
            self.prompt_tokens += 7
            self.completion_tokens += 1  # the scorer counts one token per judgement
        return out


class CountingLLM(LLM):
    """Wraps a real LLM and adds up the tokens of every call."""

    def __init__(self, inner: LLM) -> None:
        self.inner, self.name, self.supports_logprobs = inner, inner.name, inner.supports_logprobs
        # Scorers pick their method from these flags: use the same as the wrapped model.
        self.prefers_likelihood = getattr(inner, "prefers_likelihood", False)
        self.prompt_tokens = self.completion_tokens = 0

    def generate(
        self,
        prompts: Sequence[Any],  # chat Messages (a plain str where a backend takes one)
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
        desc: str | None = None,
    ) -> list[Completion]:
        out = self.inner.generate(prompts, max_new_tokens=max_new_tokens, temperature=temperature)
        self.prompt_tokens += sum(c.prompt_tokens for c in out)
        self.completion_tokens += sum(c.completion_tokens for c in out)
        return out

    def choose(
        self,
        prompts: Sequence[Any],
        options: Sequence[str],
        *,
        desc: str | None = None,
    ) -> list[Choice]:
        out = self.inner.choose(prompts, options)
        self.prompt_tokens += sum(c.prompt_tokens for c in out)
        self.completion_tokens += len(out)
        return out

    def prompt_logprobs(
        self, texts: Sequence[str], *, top_k: int = 0, desc: str | None = None
    ) -> list[TextLogprobs]:
        out = self.inner.prompt_logprobs(texts, top_k=top_k)
        self.prompt_tokens += sum(t.prompt_tokens for t in out)
        return out


def knows_cities(expl: str, text: str) -> float:
    """A judge that recognises cities only when the explanation mentions them."""
    if "cit" not in expl:
        return 0.5
    return 0.9 if any(c in text for c in CITIES) else 0.1


def context(llm: LLM, **llm_cfg: Any) -> ExplainContext:
    return ExplainContext(llm, LLMConfig(**llm_cfg), seed=0, progress=False)


# ------------------------------------------------------------ real SmolLM2 runs
@pytest.fixture(scope="module")
def local(smollm2) -> LocalLLM:  # type: ignore[no-untyped-def]
    return LocalLLM(LLMConfig(), smollm2)


@pytest.fixture(scope="module")
def real_records(smollm2) -> list[LatentRecord]:  # type: ignore[no-untyped-def]
    tok = smollm2.tokenizer

    def split(text: str) -> list[str]:
        return [tok.decode([i]) for i in tok(text, add_special_tokens=False)["input_ids"]]

    return [make_record(5, split), make_record(9, split)]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["contrastive", "token_pairs"])
def test_explainer_with_the_local_model(
    name: str, local: LocalLLM, real_records: list[LatentRecord]
) -> None:
    explainer = EXPLAINERS.get(name)(ExplainConfig(n_contrast=3))
    out = explainer.explain(real_records, context(local, max_new_tokens=16))
    assert [e.latent for e in out] == [5, 9]
    for expl in out:
        assert expl.source == f"generated:{name}"
        assert expl.status in STATUSES
        assert expl.prompt_tokens > 100 and expl.completion_tokens > 0
        assert bool(expl.text) == (expl.status == "ok") and expl.raw
        assert (expl.error is None) == (expl.status == "ok")


@pytest.mark.slow
def test_best_of_n_keeps_the_candidate_with_the_best_selection_score(
    local: LocalLLM, real_records: list[LatentRecord]
) -> None:
    counting = CountingLLM(local)
    cfg = ExplainConfig(n_candidates=3, candidate_temperature=1.0)
    [expl] = BestOfNExplainer(cfg).explain(real_records[:1], context(counting, max_new_tokens=16))
    raw = json.loads(expl.raw)
    assert expl.source == "generated:best_of_n" and expl.status == "ok", raw
    cands = raw["candidates"]
    assert len(cands) == 3 and raw["n_shown"] == 3 and raw["n_selection_positives"] == 3
    # Every token of the candidates and of the selection is counted.
    assert (expl.prompt_tokens, expl.completion_tokens) == (
        counting.prompt_tokens,
        counting.completion_tokens,
    )
    # Rescore the distinct usable candidates on the same selection data: same AUROCs, and
    # the kept one has the highest (the first of ties).
    scored = [j for j, c in enumerate(cands) if c["selection_value"] is not None]
    assert scored and all(cands[j]["selection_metric"] == "auroc" for j in scored), raw
    shown, held = split_explain(real_records[0].explain)
    selection = replace(real_records[0], explain=shown, score=held)
    pairs = [(selection, Explanation(5, j, cands[j]["text"], "x")) for j in scored]
    rescored = DetectionScorer().score(
        pairs, ScoringContext(local, ScoringConfig(n_bootstrap=0), progress=False)
    )
    values = [r.metrics["auroc"] for r in rescored]
    assert values == pytest.approx([cands[j]["selection_value"] for j in scored], abs=1e-4)
    best = scored[max(range(len(scored)), key=lambda i: values[i])]
    assert raw["chosen"] == best and expl.text == cands[best]["text"]


@pytest.mark.slow
def test_best_of_n_at_temperature_zero_scores_identical_candidates_once(
    local: LocalLLM, real_records: list[LatentRecord]
) -> None:
    cfg = ExplainConfig(n_candidates=2, candidate_temperature=0.0)
    [expl] = BestOfNExplainer(cfg).explain(real_records[:1], context(local, max_new_tokens=8))
    first, second = json.loads(expl.raw)["candidates"]
    assert first["text"] == second["text"]
    if first["status"] == "ok":
        assert second["duplicate_of"] == 0 and second["selection_status"] is None
        assert first["selection_status"] == "ok"


# ------------------------------------------------------------ scripted LLM runs
def test_best_of_n_selection_never_sees_the_held_out_score_examples() -> None:
    llm = ScriptedLLM(
        ["Explanation: weather words", "Explanation: city names", "city names", "Capital cities"],
        p_yes=knows_cities,
    )
    cfg = ExplainConfig(n_candidates=4, candidate_temperature=0.9)
    [expl] = BestOfNExplainer(cfg).explain([RECORD], context(llm))
    raw = json.loads(expl.raw)
    assert llm.temperatures == [0.9]
    assert [c["selection_value"] for c in raw["candidates"]] == [0.5, 1.0, None, 1.0]
    assert raw["candidates"][2]["duplicate_of"] == 1
    assert raw["chosen"] == 1 and expl.text == "city names"  # ties -> the first
    assert (expl.prompt_tokens, expl.completion_tokens) == (
        llm.prompt_tokens,
        llm.completion_tokens,
    )
    # Candidates saw the even-numbered explain examples; selection judged the odd-numbered
    # ones and the negatives (plus the content-free calibration text), never record.score.
    shown = "".join(m["content"] for m in llm.generated[0])
    assert "Paris" in shown and "Tokyo" in shown and "London" not in shown
    assert not any(c in shown for c in ("Lisbon", "Vienna"))
    judged = set(llm.judged)
    assert not any(c in t for t in judged for c in ("Lisbon", "Vienna", "Paris", "Tokyo"))
    assert {"London", "Berlin", "Rome"} <= {c for t in judged for c in CITIES if c in t}
    assert any("flour" in t for t in judged) and "N/A" in judged


@pytest.mark.parametrize(
    ("replies", "status", "error"),
    [
        ([None], "llm_error", "no usable candidate among 3: HTTP 500: boom"),
        ([""], "unparsable", "no usable candidate among 3: empty reply"),
        (["I'm sorry, I can't.", None], "refusal", "no usable candidate among 3: refusal"),
    ],
)
def test_best_of_n_without_a_usable_candidate_records_the_failure(
    replies: list[str | None], status: str, error: str
) -> None:
    llm = ScriptedLLM(replies)
    [expl] = BestOfNExplainer(ExplainConfig(n_candidates=3)).explain([RECORD], context(llm))
    assert (expl.status, expl.text, expl.latent) == (status, "", 5)
    assert expl.error is not None and expl.error.startswith(error)
    assert llm.judged == []  # nothing to select
    assert json.loads(expl.raw)["chosen"] is None
    assert expl.prompt_tokens == 30


def test_best_of_n_keeps_the_one_usable_candidate_among_failures() -> None:
    llm = ScriptedLLM([None, "", "Explanation: city names"], p_yes=knows_cities)
    [expl] = BestOfNExplainer(ExplainConfig(n_candidates=3)).explain([RECORD], context(llm))
    assert (expl.status, expl.text) == ("ok", "city names")
    assert [c["status"] for c in json.loads(expl.raw)["candidates"]] == [
        "llm_error",
        "unparsable",
        "ok",
    ]


def test_best_of_n_keeps_the_first_candidate_when_nothing_can_be_held_back() -> None:
    llm = ScriptedLLM(["Explanation: alpha", "Explanation: beta"])
    record = replace(RECORD, explain=RECORD.explain[:1])
    [expl] = BestOfNExplainer(ExplainConfig(n_candidates=2)).explain([record], context(llm))
    assert (expl.status, expl.text) == ("ok", "alpha") and llm.judged == []


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        (ExplainConfig(n_candidates=0), "explain.n_candidates must be >= 1"),
        (ExplainConfig(candidate_explainer="best_of_n"), "cannot be 'best_of_n' itself"),
        (ExplainConfig(candidate_explainer="nope"), "unknown explainer 'nope'"),
        (ExplainConfig(selection_scorer="nope"), "unknown scorer 'nope'"),
    ],
)
def test_best_of_n_config_errors(cfg: ExplainConfig, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        BestOfNExplainer(cfg)


@pytest.mark.parametrize("name", ["contrastive", "token_pairs", "best_of_n"])
def test_misbehaving_llm_gives_status_rows(name: str) -> None:
    llm = ScriptedLLM([None, "", "I'm sorry, I cannot help.", "Explanation: city names"])
    records = [replace(RECORD, latent=i) for i in range(4)]
    cfg = ExplainConfig(n_candidates=1)
    out = EXPLAINERS.get(name)(cfg).explain(records, context(llm))
    assert [(e.latent, e.status) for e in out] == [
        (0, "llm_error"),
        (1, "unparsable"),
        (2, "refusal"),
        (3, "ok"),
    ]
    assert out[3].text == "city names"
    assert all(e.error for e in out[:3]) and out[3].error is None


def test_token_pairs_flags_a_copy_of_the_worked_example() -> None:
    llm = ScriptedLLM(
        [
            "Explanation of neuron 2 behavior: the main thing this neuron does is find days "
            "of the week.",
            "Explanation of neuron 2 behavior: the main thing this neuron does is find city names.",
        ]
    )
    out = EXPLAINERS.get("token_pairs")(ExplainConfig()).explain([RECORD, RECORD], context(llm))
    assert [(e.status, e.text) for e in out] == [
        ("unparsable", ""),
        ("ok", "city names"),
    ]
    assert out[0].error is not None and "worked example" in out[0].error
    assert out[0].raw.endswith("find days of the week.")


def test_contrastive_flags_a_copied_example_line() -> None:
    llm = ScriptedLLM(["A1: I went to Paris last summer.\nA2: ...", "Explanation: city names"])
    out = EXPLAINERS.get("contrastive")(ExplainConfig()).explain([RECORD, RECORD], context(llm))
    assert [(e.status, e.text) for e in out] == [("unparsable", ""), ("ok", "city names")]
    assert out[0].error is not None and "copies an example line" in out[0].error


@pytest.mark.parametrize("name", ["default", "contrastive", "token_pairs", "best_of_n"])
def test_signed_latent_directions_are_explained_like_any_other(name: str) -> None:
    """AbsTopK: unit d_sae + i is latent i's negative direction; its record's activations
    are already magnitudes, so an explainer treats it as one more latent."""
    d_sae = 256
    records = [replace(RECORD, latent=3), replace(RECORD, latent=d_sae + 3)]
    llm = ScriptedLLM(["Explanation: city names"], p_yes=knows_cities)
    out = EXPLAINERS.get(name)(ExplainConfig(n_candidates=2)).explain(records, context(llm))
    assert [(e.latent, e.status, e.text) for e in out] == [
        (3, "ok", "city names"),
        (d_sae + 3, "ok", "city names"),
    ]
    prompts = ["".join(m["content"] for m in p) for p in llm.generated]
    assert prompts[0] == prompts[-1]  # same examples, same prompt


def test_pick_contrast_prefers_hard_negatives() -> None:
    def neg(window: int, role: str) -> Example:
        return Example(window, ("x",), (0.0,), role)

    pool = [neg(1, "nonactivating"), neg(2, "hard_similar"), neg(3, "hard_similar")]
    pool += [neg(4, "hard_neighbour"), neg(5, "nonactivating")]
    assert [e.window for e in pick_contrast(pool, 10)] == [4, 2, 3, 1, 5]
    assert [e.window for e in pick_contrast(pool, 2)] == [4, 2]
    assert pick_contrast(pool, 0) == []


def test_split_explain_alternates() -> None:
    ex = RECORD.explain
    assert split_explain(ex) == (ex[0::2], ex[1::2])
    assert split_explain(ex[:1]) == (ex[:1], [])
    assert split_explain([]) == ([], [])
    assert not math.isnan(len(ex))
