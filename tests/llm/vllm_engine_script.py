"""Run our "vllm" backend (the in-process engine) in vLLM's own environment and write its
answers as JSON: ``python vllm_engine_script.py MODEL_DIR INPUT.json OUTPUT.json``.

tests/llm/test_vllm_engine.py runs it with ``.venv-vllm/bin/python`` (vLLM pins its own
torch and transformers) and compares the answers with the local backend's. The
``__main__`` guard is required: vLLM's engine starts worker processes that import this file.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any


def main(model_dir: str, inputs_path: str, output_path: str) -> None:
    from autointerp.config import LLMConfig
    from autointerp.llm import BACKENDS
    from autointerp.llm.vllm_engine import VLLMEngineLLM

    spec: dict[str, Any] = json.loads(Path(inputs_path).read_text(encoding="utf-8"))
    cfg = LLMConfig(backend="vllm", model=model_dir, max_model_len=1024)
    assert BACKENDS.get("vllm") is VLLMEngineLLM
    llm = VLLMEngineLLM(
        cfg, dtype="bfloat16", enforce_eager=True, kv_cache_memory_bytes=512 * 2**20
    )

    def clean(obj: Any) -> Any:  # NaN is not JSON
        if isinstance(obj, float) and math.isnan(obj):
            return None
        if isinstance(obj, dict):
            return {k: clean(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [clean(v) for v in obj]
        return obj

    try:
        out = answers(llm, spec)
    finally:
        llm.close()  # stop the engine before exit (see VLLMEngineLLM.close)
    Path(output_path).write_text(json.dumps(clean(out)), encoding="utf-8")


def answers(llm: Any, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": llm.name,
        "generate": [
            asdict(c) for c in llm.generate(spec["generate"], max_new_tokens=spec["max_new_tokens"])
        ],
        "choose": {
            key: [asdict(c) for c in llm.choose(item["prompts"], item["options"])]
            for key, item in spec["choose"].items()
        },
        "prompt_logprobs": [
            asdict(t) for t in llm.prompt_logprobs(spec["texts"], top_k=spec["top_k"])
        ],
    }


if __name__ == "__main__":
    main(*sys.argv[1:4])
