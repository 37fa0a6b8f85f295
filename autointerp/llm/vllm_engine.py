"""The in-process vLLM engine backend ("vllm"): one engine, whole batches, prefix caching.

Every call hands the whole batch to the engine at once (``LLM.chat`` for chat messages,
``LLM.generate`` for plain texts); the engine schedules it and, with prefix caching on,
encodes the instructions and explanation that many scoring prompts share only once.

* ``choose`` generates one token and reads its log-probabilities: those of every spelling
  of every option (``logprob_token_ids``, exact), or the top 20 on vLLM versions without it.
* ``prompt_logprobs`` tokenises each text as is (no special tokens, like the local backend)
  and reads the engine's prompt log-probabilities (``SamplingParams(prompt_logprobs=k)``).
* Token accounting comes from the engine's outputs (prompt and generated token ids).

vLLM is an optional dependency (``pip install 'autointerp[vllm]'``): this module imports it
only when the backend is built, and imports nothing heavy from autointerp, so it also runs
in vLLM's own environment. If a batch fails in the engine (a prompt longer than
``max_model_len``), its prompts are retried one by one and only the bad ones get ``error``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from autointerp.config import LLMConfig
from autointerp.errors import LLMUnavailableError
from autointerp.llm.base import (
    BACKENDS,
    LLM,
    Choice,
    Completion,
    Prompt,
    TextLogprobs,
    option_probabilities,
    option_variants,
)

__all__ = ["VLLMEngineLLM"]

T = TypeVar("T")
TOP_LOGPROBS = 20
INSTALL_HINT = "pip install 'autointerp[vllm]'"


def _import_vllm() -> Any:
    try:
        import vllm
    except ImportError as exc:
        raise LLMUnavailableError(
            f"the 'vllm' LLM backend needs vLLM, which is not installed ({exc}); install it "
            f"with {INSTALL_HINT}, or choose llm.backend 'local' or 'openai'"
        ) from exc
    return vllm


def _resolve_model(name: str) -> str:
    """A known offline model (SmolLM2) -> its local safetensors directory; else ``name``."""
    from autointerp.models.offline import OFFLINE_MODELS, offline_model_dir

    if name.lower() in OFFLINE_MODELS:
        path = offline_model_dir(name)
        if path is not None:
            return str(path)
    return name


@BACKENDS.register("vllm")
class VLLMEngineLLM(LLM):
    """A vLLM engine in this process. ``engine_kwargs`` go to ``vllm.LLM`` as they are
    (``dtype``, ``enforce_eager``, ``kv_cache_memory_bytes``, ...)."""

    supports_logprobs = True

    def __init__(self, cfg: LLMConfig, **engine_kwargs: Any) -> None:
        vllm = _import_vllm()
        self.cfg = cfg
        self._vllm = vllm
        kwargs: dict[str, Any] = {
            "model": _resolve_model(cfg.model),
            "enable_prefix_caching": True,
            "gpu_memory_utilization": cfg.gpu_memory_utilization,
            "max_model_len": cfg.max_model_len,
            "max_logprobs": TOP_LOGPROBS,
            **engine_kwargs,
        }
        try:
            self.engine = vllm.LLM(**kwargs)
        except Exception as exc:  # vLLM raises many kinds (ValueError, RuntimeError, OSError)
            raise LLMUnavailableError(
                f"vLLM could not load {kwargs['model']!r}: {type(exc).__name__}: {exc}"
            ) from exc
        self.tokenizer = self.engine.get_tokenizer()
        self.name = f"vllm:{cfg.model}"
        self._option_ids: dict[str, list[tuple[str, int]]] = {}

    def close(self) -> None:
        """Stop the engine's processes now, in this thread. Left to garbage collection or
        to interpreter exit, the stop runs on vLLM's daemon monitor thread, which exit can
        cut off in native code: the process then aborts ("terminate called without an
        active exception") after its work is done."""
        engine = self.__dict__.pop("engine", None)
        core = getattr(getattr(engine, "llm_engine", None), "engine_core", None)
        if core is not None:
            core.shutdown()

    # ------------------------------------------------------------------------ running
    def _params(self, **kw: Any) -> Any:
        return self._vllm.SamplingParams(**kw)

    def _run(self, prompts: Sequence[Prompt | dict[str, Any]], params: Any) -> list[Any]:
        """Engine outputs in prompt order (chat and plain prompts in one batch each); a
        failed prompt's output is the exception."""
        chats = [i for i, p in enumerate(prompts) if isinstance(p, list)]
        plains = [i for i, p in enumerate(prompts) if not isinstance(p, list)]
        out: list[Any] = [None] * len(prompts)
        for idx, call in (
            (chats, lambda ps: self.engine.chat(ps, params, use_tqdm=False)),
            (plains, lambda ps: self.engine.generate(ps, params, use_tqdm=False)),
        ):
            if idx:
                results = self._isolating(call, [prompts[i] for i in idx])
                for i, result in zip(idx, results, strict=True):
                    out[i] = result
        return out

    @staticmethod
    def _isolating(call: Callable[[list[Any]], list[T]], batch: list[Any]) -> list[T | Exception]:
        try:
            return list(call(batch))
        except Exception:  # find the bad prompts: one by one
            results: list[T | Exception] = []
            for prompt in batch:
                try:
                    results.append(call([prompt])[0])
                except Exception as exc:
                    results.append(exc)
            return results

    # ----------------------------------------------------------------------- generate
    def generate(
        self,
        prompts: Sequence[Prompt],
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
        desc: str | None = None,
    ) -> list[Completion]:
        params = self._params(max_tokens=max_new_tokens, temperature=temperature)
        completions = []
        for out in self._run(prompts, params):
            if isinstance(out, Exception):
                completions.append(Completion("", error=f"{type(out).__name__}: {out}"))
                continue
            gen = out.outputs[0]
            completions.append(Completion(gen.text, len(out.prompt_token_ids), len(gen.token_ids)))
        return completions

    # ------------------------------------------------------------------------- choose
    def _answer_ids(self, options: Sequence[str]) -> list[tuple[str, int]]:
        """(option, token id) for every single-token spelling of every option."""
        out: list[tuple[str, int]] = []
        for option in options:
            if option not in self._option_ids:
                ids = []
                for form in option_variants(option):
                    enc = self.tokenizer.encode(form, add_special_tokens=False)
                    if len(enc) == 1:
                        ids.append((option, int(enc[0])))
                self._option_ids[option] = ids
            out += [(o, t) for o, t in self._option_ids[option] if t not in {i for _, i in out}]
        return out

    def choose(
        self, prompts: Sequence[Prompt], options: Sequence[str], *, desc: str | None = None
    ) -> list[Choice]:
        failed = dict.fromkeys(options, math.nan)
        answer_ids = self._answer_ids(options)
        exact = bool(answer_ids) and "logprob_token_ids" in getattr(
            self._vllm.SamplingParams, "__struct_fields__", ()
        )
        params = (
            self._params(max_tokens=1, temperature=0, logprob_token_ids=[t for _, t in answer_ids])
            if exact
            else self._params(max_tokens=1, temperature=0, logprobs=TOP_LOGPROBS)
        )
        choices = []
        for out in self._run(prompts, params):
            if isinstance(out, Exception):
                choices.append(Choice(failed, 0.0, error=f"{type(out).__name__}: {out}"))
                continue
            n_prompt = len(out.prompt_token_ids)
            step = out.outputs[0].logprobs[0] if out.outputs[0].logprobs else None
            if not step:
                choices.append(Choice(failed, 0.0, n_prompt, "no logprobs in the engine output"))
                continue
            if exact:
                by_id = {tid: lp.logprob for tid, lp in step.items()}
                pairs = [(o, math.exp(by_id[t])) for o, t in answer_ids if t in by_id]
            else:
                pairs = [(lp.decoded_token or "", math.exp(lp.logprob)) for lp in step.values()]
            probs, mass = option_probabilities(pairs, options)
            error = None if mass > 0 else f"no probability on {'/'.join(options)}"
            choices.append(Choice(probs, mass, n_prompt, error))
        return choices

    # ---------------------------------------------------------------- prompt logprobs
    def prompt_logprobs(
        self, texts: Sequence[str], *, top_k: int = 0, desc: str | None = None
    ) -> list[TextLogprobs]:
        encoded = []
        for text in texts:
            enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
            encoded.append((list(enc["input_ids"]), [int(a) for a, _ in enc["offset_mapping"]]))
        if top_k > TOP_LOGPROBS:
            error = f"top_k={top_k}: the vLLM backend returns at most {TOP_LOGPROBS} alternatives"
            return [TextLogprobs([], [], [], [], len(ids), error) for ids, _ in encoded]
        params = self._params(max_tokens=1, temperature=0, prompt_logprobs=top_k)
        runnable = [i for i, (ids, _) in enumerate(encoded) if ids]
        outs = self._run([{"prompt_token_ids": encoded[i][0]} for i in runnable], params)
        results = [TextLogprobs([], [], [], [], 0) for _ in texts]  # empty texts stay empty
        for i, out in zip(runnable, outs, strict=True):
            ids, offsets = encoded[i]
            if isinstance(out, Exception):
                error = f"{type(out).__name__}: {out}"
                results[i] = TextLogprobs([], [], [], [], len(ids), error)
                continue
            lps: list[float] = [math.nan]
            top: list[dict[str, float]] = [{}]
            for j, step in enumerate((out.prompt_logprobs or [])[1:], start=1):
                lps.append(float(step[ids[j]].logprob) if step and ids[j] in step else math.nan)
                best = sorted((step or {}).values(), key=lambda lp: lp.rank)
                alternatives: dict[str, float] = {}
                for lp in best:
                    if lp.rank is not None and lp.rank <= top_k:
                        alternatives.setdefault(lp.decoded_token or "", float(lp.logprob))
                top.append(alternatives)
            pieces = [self.tokenizer.decode([t]) for t in ids]
            results[i] = TextLogprobs(pieces, offsets, lps, top, len(ids))
        return results
