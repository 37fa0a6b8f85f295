"""The OpenAI-compatible client against a scripted HTTP server on loopback: retries only on
retryable errors, with a cap; fatal errors at once; timeouts; concurrency limits; failures
recorded per request instead of raised."""

from __future__ import annotations

import math
import socket
import time

import pytest

from autointerp.config import LLMConfig
from autointerp.errors import LLMUnavailableError
from autointerp.llm.openai_http import OpenAICompatibleLLM
from tests.servers.scripted_openai import Fault, ScriptedServer

PROMPT = [{"role": "user", "content": "hello"}]


def _llm(url: str, **kw: object) -> OpenAICompatibleLLM:
    options: dict[str, object] = {"timeout_s": 2.0, "max_retries": 3, **kw}
    cfg = LLMConfig(backend="openai", base_url=url, model="", **options)  # type: ignore[arg-type]
    llm = OpenAICompatibleLLM(cfg)
    llm.policy = type(llm.policy)(max_retries=cfg.max_retries, base_delay=0.01, max_delay=0.5)
    return llm


def test_generate_and_judge_happy_path() -> None:
    with ScriptedServer(p_yes=0.75) as srv:
        llm = _llm(srv.url)
        llm.check()
        assert llm.model == "scripted-model" and llm.supports_logprobs
        assert llm.name == f"openai:scripted-model@{srv.url}"
        out = llm.generate([PROMPT, PROMPT], max_new_tokens=5)
        assert [o.text for o in out] == ["Explanation: test pattern"] * 2
        assert (out[0].prompt_tokens, out[0].completion_tokens) == (11, 3)
        judged = llm.judge([PROMPT])
        assert judged[0].p_yes == pytest.approx(0.75) and judged[0].mass == pytest.approx(1.0)
        last = srv.requests[-1]
        assert last["max_tokens"] == 1 and last["logprobs"] is True and last["top_logprobs"] == 20


@pytest.mark.parametrize("status", [429, 500, 502, 503, 408])
def test_retryable_statuses_are_retried(status: int) -> None:
    with ScriptedServer() as srv:
        llm = _llm(srv.url)
        llm.check()
        srv.faults.extend([Fault(status), Fault(status)])
        before = len(srv.requests)
        out = llm.generate([PROMPT], max_new_tokens=5)
        assert out[0].error is None and out[0].text
        assert len(srv.requests) - before == 3


def test_retry_after_header_is_honoured() -> None:
    with ScriptedServer() as srv:
        llm = _llm(srv.url)
        llm.check()
        srv.faults.append(Fault(429, headers={"Retry-After": "0.3"}))
        start = time.perf_counter()
        assert llm.generate([PROMPT], max_new_tokens=5)[0].error is None
        assert time.perf_counter() - start >= 0.3


@pytest.mark.parametrize("status", [400, 404, 422])
def test_fatal_statuses_are_not_retried(status: int) -> None:
    with ScriptedServer() as srv:
        llm = _llm(srv.url)
        llm.check()
        srv.faults.extend([Fault(status)] * 3)
        before = len(srv.requests)
        out = llm.generate([PROMPT], max_new_tokens=5)
        assert len(srv.requests) - before == 1
        assert out[0].error and f"HTTP {status}" in out[0].error


def test_retries_are_capped_and_failures_recorded_not_raised() -> None:
    with ScriptedServer() as srv:
        llm = _llm(srv.url)
        llm.check()
        srv.faults.extend([Fault(503)] * 10)
        before = len(srv.requests)
        out = llm.judge([PROMPT])
        assert len(srv.requests) - before == 4  # 1 try + max_retries=3
        assert math.isnan(out[0].p_yes) and "gave up after 4 attempts" in (out[0].error or "")


def test_timeouts_are_retried() -> None:
    with ScriptedServer() as srv:
        llm = _llm(srv.url, timeout_s=0.3)
        llm.check()
        srv.faults.append(Fault(delay=1.0))
        out = llm.generate([PROMPT], max_new_tokens=5)
        assert out[0].error is None
        assert len([r for r in srv.requests if r.get("max_tokens") == 5]) == 2


def test_concurrency_is_bounded() -> None:
    with ScriptedServer() as srv:
        llm = _llm(srv.url, max_concurrency=3)
        llm.check()
        srv.delay = 0.15
        out = llm.generate([PROMPT] * 12, max_new_tokens=5)
        assert all(o.error is None for o in out)
        assert 2 <= srv.max_in_flight <= 3


def test_unreachable_endpoint_fails_the_preflight_with_the_url() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    llm = _llm(f"http://127.0.0.1:{port}/v1")
    with pytest.raises(LLMUnavailableError, match=f"127.0.0.1:{port}"):
        llm.check()


def test_bad_credentials_fail_the_preflight() -> None:
    with ScriptedServer() as srv:
        llm = _llm(srv.url)
        srv.faults.append(Fault(401))
        with pytest.raises(LLMUnavailableError, match="HTTP 401.*API key"):
            llm.check()


def test_server_without_logprobs_switches_to_generated_answers() -> None:
    with ScriptedServer(logprobs=False) as srv:
        llm = _llm(srv.url)
        llm.check()
        assert not llm.supports_logprobs


def test_empty_and_malformed_replies_are_recorded() -> None:
    with ScriptedServer(reply_text="") as srv:
        llm = _llm(srv.url)
        llm.check()
        srv.faults.append(Fault(body={"choices": []}))
        out = llm.generate([PROMPT, PROMPT], max_new_tokens=5)
        assert [o.text for o in out] == ["", ""]
        judged = llm.judge([PROMPT])
        assert judged[0].p_yes == pytest.approx(0.8)


def test_plain_text_prompts_use_the_completions_endpoint() -> None:
    with ScriptedServer() as srv:
        llm = _llm(srv.url)
        llm.check()
        out = llm.generate(["The capital of France is", PROMPT], max_new_tokens=5)
        assert [o.text for o in out] == ["Explanation: test pattern"] * 2
        assert (out[0].prompt_tokens, out[0].completion_tokens) == (5, 3)
        plain = [r for r in srv.requests if "prompt" in r]
        assert plain == [
            {
                "model": "scripted-model",
                "prompt": "The capital of France is",
                "max_tokens": 5,
                "temperature": 0.0,
            }
        ]
        choice = llm.choose(["Is it? Answer:"], ["yes", "no"])[0]
        assert choice.error is None and choice.probs["yes"] == pytest.approx(0.8)
        assert srv.requests[-1]["logprobs"] == 20 and "prompt" in srv.requests[-1]


def test_prompt_logprobs_echo_the_text() -> None:
    with ScriptedServer() as srv:
        llm = _llm(srv.url)
        llm.check()
        with_top, plain, empty_top = (
            llm.prompt_logprobs(["the cat sat"], top_k=k)[0] for k in (2, 0, 1)
        )
        assert with_top.error is None
        assert with_top.tokens == ["the", " cat", " sat"] and with_top.offsets == [0, 3, 7]
        assert math.isnan(with_top.logprobs[0]) and with_top.logprobs[1:] == [-1.0, -1.0]
        assert with_top.top == [{}, {" cat": -1.0, " x": -2.0}, {" sat": -1.0, " x": -2.0}]
        assert with_top.prompt_tokens == 3
        assert plain.top == [{}, {}, {}] and empty_top.top == [{}, {" cat": -1.0}, {" sat": -1.0}]
        last = srv.requests[-1]
        assert last["echo"] is True and last["logprobs"] == 1 and last["prompt"] == "the cat sat"


def test_prompt_logprobs_without_server_support_are_errors_not_raised() -> None:
    with ScriptedServer(echo_logprobs=False) as srv:
        llm = _llm(srv.url)
        llm.check()
        out = llm.prompt_logprobs(["the cat sat", "a dog"])
        assert all("no prompt log-probabilities" in (o.error or "") for o in out)
        assert all(o.tokens == [] for o in out)
    with ScriptedServer(reject=lambda body: 400 if body.get("echo") else None) as srv:
        llm = _llm(srv.url)
        llm.check()
        before = len(srv.requests)
        out = llm.prompt_logprobs(["the cat sat"])  # one probe (refused), then the text
        assert "HTTP 400" in (out[0].error or "") and len(srv.requests) - before == 2
        out = llm.prompt_logprobs(["a dog"])  # known not to echo: no probe again
        assert "HTTP 400" in (out[0].error or "") and len(srv.requests) - before == 3


TEXTS = ["the cat sat", "a dog ran far", "birds", "the end of it all"]


@pytest.mark.parametrize("shuffled", [False, True])
def test_prompt_logprobs_go_as_lists_within_the_token_budget(shuffled: bool) -> None:
    """A latent's texts go to the completions endpoint as one list per batch_tokens; each
    text gets its own echoed log-probabilities, equal to those of one request per text,
    whatever order the server lists the choices in."""
    with ScriptedServer(shuffle_choices=shuffled) as srv:
        single = _llm(srv.url, batch_tokens=0)
        single.check()
        alone = single.prompt_logprobs(TEXTS, top_k=1)
        listed = _llm(srv.url)
        listed.check()
        before, sent = len(srv.requests), listed.requests
        together = listed.prompt_logprobs(TEXTS, top_k=1)
        # the echo probe, then one list: two requests for four texts
        assert len(srv.requests) - before == listed.requests - sent == 2
        assert srv.requests[-1]["prompt"] == TEXTS
        assert together == alone and all(o.error is None for o in together)
        assert [o.tokens for o in together][1] == ["a", " dog", " ran", " far"]
        small = _llm(srv.url, batch_tokens=8)  # ~3-5 estimated tokens a text: lists of two
        small.check()
        before = len(srv.requests)
        assert small.prompt_logprobs(TEXTS, top_k=1) == alone
        lists = [r["prompt"] for r in srv.requests[before:] if isinstance(r["prompt"], list)]
        assert lists and all(len(p) <= 2 for p in lists)
        assert sorted(t for p in lists for t in p) == sorted(TEXTS)


def test_a_server_without_lists_gets_one_request_per_text() -> None:
    with ScriptedServer(lists=False) as srv:
        llm = _llm(srv.url)
        llm.check()
        out = llm.prompt_logprobs(TEXTS, top_k=1)
        assert all(o.error is None for o in out) and llm.lists is False
        before = len(srv.requests)
        llm.prompt_logprobs(TEXTS, top_k=1)  # lists are off now: no list is tried again
        assert len(srv.requests) - before == len(TEXTS)
        assert not any(isinstance(r["prompt"], list) for r in srv.requests[before:])


def test_a_malformed_list_reply_falls_back_to_single_requests() -> None:
    """A list answered with too few choices is malformed: retried, then each text is asked
    on its own, so no text fails because of its neighbours."""
    short = {
        "id": "x",
        "object": "text_completion",
        "created": 0,
        "model": "scripted-model",
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None, "text": ""}],
    }
    with ScriptedServer() as srv:
        llm = _llm(srv.url, max_retries=1)
        llm.check()
        llm.prompt_logprobs(["probe me"])  # the echo probe, on its own
        srv.faults.extend([Fault(body=short), Fault(body=short)])
        out = llm.prompt_logprobs(TEXTS, top_k=1)
        assert all(o.error is None for o in out)
        assert [o.tokens[0] for o in out] == ["the", "a", "birds", "the"]


def _chat(text: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": "Answer yes or no."}, {"role": "user", "content": text}]


@pytest.mark.parametrize("shuffled", [False, True])
def test_chat_as_text_sends_judgements_and_generations_as_lists(shuffled: bool) -> None:
    """With llm.chat_as_text, chat prompts go to the completions endpoint as plain text,
    several per request: judgements equal those of one request per prompt, each prompt's
    choice matched by its index."""
    prompts = [_chat(t) for t in TEXTS]
    with ScriptedServer(p_yes=0.7, shuffle_choices=shuffled) as srv:
        single = _llm(srv.url, batch_tokens=0, chat_as_text=True)
        alone = single.judge(prompts)
        listed = _llm(srv.url, chat_as_text=True)
        listed.check()
        before, sent = len(srv.requests), listed.requests
        together = listed.judge(prompts)
        assert listed.requests - sent == len(srv.requests) - before == 1
        body = srv.requests[-1]
        assert body["prompt"][1] == (
            "System: Answer yes or no.\n\nUser: a dog ran far\n\nAssistant:"
        )
        assert body["max_tokens"] == 1 and body["logprobs"] == 20
        assert [j.p_yes for j in together] == [j.p_yes for j in alone]
        assert all(j.p_yes == pytest.approx(0.7) and j.error is None for j in together)
        out = listed.generate(prompts, max_new_tokens=8)
        assert [o.text for o in out] == ["Explanation: test pattern"] * 4
        assert isinstance(srv.requests[-1]["prompt"], list)
        assert listed.requests - sent == 2


def test_chat_as_text_off_keeps_one_chat_request_per_prompt() -> None:
    with ScriptedServer() as srv:
        llm = _llm(srv.url)
        llm.check()
        before = len(srv.requests)
        llm.judge([_chat(t) for t in TEXTS])
        assert len(srv.requests) - before == len(TEXTS)
        assert all("messages" in r for r in srv.requests[before:])


def test_a_server_without_lists_answers_chat_as_text_one_by_one() -> None:
    with ScriptedServer(lists=False, p_yes=0.6) as srv:
        llm = _llm(srv.url, chat_as_text=True)
        out = llm.judge([_chat(t) for t in TEXTS])
        assert all(j.p_yes == pytest.approx(0.6) for j in out) and llm.lists is False
        assert all(isinstance(r.get("prompt"), str) for r in srv.requests[-len(TEXTS) :])
