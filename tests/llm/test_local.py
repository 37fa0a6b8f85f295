"""The in-process backend on the real SmolLM2: prefix sharing gives the same P(yes) as
encoding every prompt in full, and generation returns text with token counts."""

from __future__ import annotations

import math

import pytest
import torch

from autointerp.config import LLMConfig
from autointerp.llm.base import yes_no_probability
from autointerp.llm.local import LocalLLM, common_prefix_len, prefix_batches


def _question(text: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": "Answer every question with Yes or No."},
        {
            "role": "user",
            "content": f"A neuron responds to: numbers.\nText: {text}\nDoes the text contain numbers?",
        },
    ]


@pytest.fixture(scope="module")
def llm(smollm2) -> LocalLLM:  # type: ignore[no-untyped-def]
    return LocalLLM(LLMConfig(batch_size=4, judge_batch_size=4), smollm2)


def test_common_prefix_len() -> None:
    assert common_prefix_len([[1, 2, 3], [1, 2, 4], [1, 2]]) == 2
    assert common_prefix_len([[5, 6]]) == 2
    assert common_prefix_len([]) == 0


@pytest.mark.slow
def test_prefix_shared_judgements_equal_full_encodings(llm: LocalLLM) -> None:
    texts = [
        "there were 42 cats",
        "the sky is blue today",
        "call 555 1234 now",
        "plain words only",
        "year 1999",
    ]
    prompts = [_question(t) for t in texts]
    shared = llm.judge(prompts)  # batch 4 + batch 1, common prefix encoded once per batch
    model = llm.subject.model
    for prompt, got in zip(prompts, shared, strict=True):
        ids = torch.tensor([llm.encode(prompt)])
        with torch.no_grad():
            probs = model(ids).logits[0, -1].float().softmax(-1)
        pairs = [(w, float(probs[t])) for w, t in llm._answer_ids(("yes", "no"))]
        expected, mass = yes_no_probability(pairs)
        assert got.p_yes == pytest.approx(expected, abs=1e-4)
        assert got.mass == pytest.approx(mass, abs=1e-4) and got.mass > 0.05
        assert got.prompt_tokens == ids.shape[1]


@pytest.mark.slow
def test_answers_follow_the_content(llm: LocalLLM) -> None:
    yes = llm.judge([_question("The total was 37 and then 85.")])[0].p_yes
    no = llm.judge([_question("The quick brown fox jumps over the dog.")])[0].p_yes
    assert not math.isnan(yes) and not math.isnan(no)
    assert yes > no


@pytest.mark.slow
def test_generate_batches_and_counts_tokens(llm: LocalLLM) -> None:
    prompts = [
        [{"role": "user", "content": "Name a colour."}],
        [{"role": "user", "content": "Say hello to the reader in a short sentence."}],
    ]
    out = llm.generate(prompts, max_new_tokens=8)
    assert len(out) == 2 and all(o.text.strip() for o in out)
    assert all(0 < o.completion_tokens <= 8 for o in out)
    assert out[0].prompt_tokens == len(llm.encode(prompts[0]))
    assert llm.generate(prompts, max_new_tokens=8) == out  # greedy decoding is deterministic


def _check_partition(batches: list[list[int]], n: int, size: int) -> None:
    assert sorted(i for b in batches for i in b) == list(range(n))
    assert all(0 < len(b) <= size for b in batches)


def test_prefix_batches_keep_latents_apart() -> None:
    """Two explanations with 41 prompts each: no batch mixes them."""
    a = [[1] * 40 + [2] * 30 + [5, i] for i in range(41)]
    b = [[1] * 40 + [3] * 30 + [5, i] for i in range(41)]
    seqs = sorted(a + b)
    batches = prefix_batches(seqs, size=32)
    _check_partition(batches, 82, 32)
    assert all(len({seqs[i][40] for i in batch}) == 1 for batch in batches)
    assert len(batches) == 4


def test_prefix_batches_keep_fuzz_pairs_together() -> None:
    """Fuzz prompts come in pairs that share the text's first tokens; that is no boundary."""
    seqs = sorted([[1] * 60 + [t] * 20 + [m] for t in range(2, 8) for m in (0, 1)])
    assert prefix_batches(seqs, size=32) == [list(range(12))]
    batches = prefix_batches(seqs, size=5)
    _check_partition(batches, 12, 5)
    assert len(batches) == 3


def test_prefix_batches_edge_cases() -> None:
    assert prefix_batches([], size=4) == []
    assert prefix_batches([[1, 2, 3]], size=4) == [[0]]
    _check_partition(prefix_batches([[1]] * 10, size=4), 10, 4)


@pytest.mark.slow
def test_choose_reads_several_options_in_one_pass(llm: LocalLLM) -> None:
    """choose() over digits gives a normalised distribution equal to the full forward pass."""
    prompt = [
        {"role": "user", "content": "Which number is largest: 1) 3, 2) 90, 3) 7? Answer 1, 2 or 3."}
    ]
    [got] = llm.choose([prompt], ("1", "2", "3"))
    assert got.error is None and sum(got.probs.values()) == pytest.approx(1.0)
    ids = torch.tensor([llm.encode(prompt)])
    with torch.no_grad():
        probs = model_probs = llm.subject.model(ids).logits[0, -1].float().softmax(-1)
    raw = {
        o: sum(float(probs[t]) for opt, t in llm._answer_ids(("1", "2", "3")) if opt == o)
        for o in "123"
    }
    total = sum(raw.values())
    for o in "123":
        assert got.probs[o] == pytest.approx(raw[o] / total, abs=1e-4)
    assert got.mass == pytest.approx(total, abs=1e-4)
    del model_probs


@pytest.mark.slow
def test_prompt_logprobs_match_a_plain_forward_pass(llm: LocalLLM) -> None:
    texts = ["The cat sat on the mat.", "1, 2, 3, 4, 5, 6"]
    out = llm.prompt_logprobs(texts, top_k=5)
    tok = llm.subject.tokenizer
    for text, got in zip(texts, out, strict=True):
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert "".join(got.tokens) == text and len(got.logprobs) == len(ids)
        assert [
            text[o : o + len(t)] for o, t in zip(got.offsets, got.tokens, strict=True)
        ] == got.tokens
        with torch.no_grad():
            logp = llm.subject.model(torch.tensor([ids])).logits[0].float().log_softmax(-1)
        assert math.isnan(got.logprobs[0])
        for j in range(1, len(ids)):
            assert got.logprobs[j] == pytest.approx(float(logp[j - 1, ids[j]]), abs=1e-3)
            assert len(got.top[j]) <= 5 and max(got.top[j].values()) >= got.logprobs[j] - 1e-3
    # counting continues the pattern: "6" is the top guess at the last position
    assert max(out[1].top[-1], key=out[1].top[-1].__getitem__).strip() == "6"
