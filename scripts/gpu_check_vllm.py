"""The vLLM half of scripts/gpu_check.py, run by a Python that has vLLM (vLLM pins its own
torch and transformers): ``python gpu_check_vllm.py IN.json OUT.json``. Loads our ``vllm``
backend (the engine in process) on the given model, times a judge pass over the prompts and
an explanation pass, and writes P(yes) per prompt. The ``__main__`` guard is required: vLLM's
engine starts worker processes that import this file."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main(spec_path: str, out_path: str) -> None:
    from autointerp.config import LLMConfig
    from autointerp.llm.vllm_engine import VLLMEngineLLM

    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    cfg = LLMConfig(backend="vllm", model=spec["model"], max_model_len=1024)
    llm = VLLMEngineLLM(cfg, **spec.get("engine", {}))
    prompts = spec["prompts"]
    llm.judge(prompts[:4])  # warm-up
    start = time.perf_counter()
    judged = llm.judge(prompts)
    judge_seconds = time.perf_counter() - start
    asks = [
        [{"role": "user", "content": f"Name what the words {p[1]['content'][6:30]!r} share."}]
        for p in prompts
    ]
    start = time.perf_counter()
    made = llm.generate(asks, max_new_tokens=48)
    generate_seconds = time.perf_counter() - start
    out = {
        "p_yes": [j.p_yes for j in judged],
        "judge_seconds": judge_seconds,
        "generate_seconds": generate_seconds,
        "n_generated": sum(1 for m in made if m.error is None),
    }
    Path(out_path).write_text(json.dumps(out), encoding="utf-8")
    llm.close()  # stop the engine before exit (see VLLMEngineLLM.close)


if __name__ == "__main__":
    main(*sys.argv[1:3])
