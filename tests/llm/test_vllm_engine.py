"""The in-process vLLM engine backend ("vllm"): optional (autointerp never imports vllm on
its own; selecting it without vllm says how to install it), and, in vLLM's own environment
(.venv-vllm, CPU build), the same answers as the local backend on the same SmolLM2 weights:
generate (chat and plain text), choose (yes/no and digits) and prompt log-probabilities.

vLLM pins its own torch and transformers, so the engine runs in a subprocess with
``.venv-vllm/bin/python`` (tests/llm/vllm_engine_script.py) and writes its answers as JSON.
Without that environment the comparison is skipped, unless AUTOINTERP_REQUIRE_VLLM=1 (set by
``make test``) makes that a failure.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from autointerp.config import LLMConfig
from autointerp.errors import LLMUnavailableError
from autointerp.llm import BACKENDS, make_llm
from autointerp.llm.local import LocalLLM

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("vllm_engine_script.py")

SPEC: dict[str, Any] = {
    "generate": [
        [{"role": "user", "content": "What is the capital of France?"}],
        "The capital of France is",
    ],
    "max_new_tokens": 12,
    "choose": {
        "yes_no": {
            "prompts": [
                [{"role": "user", "content": "Is Paris in France? Answer yes or no."}],
                [
                    {"role": "system", "content": "Answer every question with Yes or No."},
                    {"role": "user", "content": "Text: it cost 45 dollars\nIs there a number?"},
                ],
            ],
            "options": ["yes", "no"],
        },
        "digits": {
            "prompts": [
                "On a scale from 1 to 5, how sunny is a clear summer day? Answer: ",
                [{"role": "user", "content": "Pick a number from 1 to 5. Reply with the digit."}],
            ],
            "options": ["1", "2", "3", "4", "5"],
        },
    },
    "texts": ["The quick brown fox jumps over the lazy dog.", "def f(x):\n    return x", "x", ""],
    "top_k": 3,
}


@pytest.mark.slow
def test_importing_autointerp_does_not_import_vllm() -> None:
    code = (
        "import sys, autointerp, autointerp.llm, autointerp.llm.vllm_engine, autointerp.cli\n"
        "assert 'vllm' in autointerp.llm.BACKENDS\n"
        "print(sorted(m for m in sys.modules if m == 'vllm' or m.startswith('vllm.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"


@pytest.mark.skipif(
    importlib.util.find_spec("vllm") is not None, reason="vllm is installed in this environment"
)
def test_selecting_vllm_without_it_says_how_to_install() -> None:
    assert "vllm" in BACKENDS
    with pytest.raises(LLMUnavailableError, match=r"pip install 'autointerp\[vllm\]'"):
        make_llm(LLMConfig(backend="vllm"))


def _vllm_python() -> Path:
    venv = Path(os.environ.get("AUTOINTERP_VLLM_VENV", ROOT / ".venv-vllm"))
    venv = venv if venv.is_absolute() else (ROOT / venv)  # subprocesses run elsewhere
    python = venv / "bin" / "python"
    if not python.exists():
        message = f"vLLM environment {venv} missing; create it with scripts/install_vllm.sh {venv}"
        if os.environ.get("AUTOINTERP_REQUIRE_VLLM") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return python


@pytest.fixture(scope="module")
def engine_answers(smollm2_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    python = _vllm_python()
    work = tmp_path_factory.mktemp("vllm-engine")
    (work / "tmp").mkdir()
    (work / "in.json").write_text(json.dumps(SPEC))
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "VLLM_NO_USAGE_STATS": "1",
        "DO_NOT_TRACK": "1",
        "VLLM_TARGET_DEVICE": "cpu",
        "VLLM_HOST_IP": "127.0.0.1",
        "TORCH_COMPILE_DISABLE": "1",
        "TMPDIR": str(work / "tmp"),
        "VLLM_CACHE_ROOT": str(work / "cache"),
    }
    env.pop("VLLM_CPU_KVCACHE_SPACE", None)
    cmd = [
        str(python),
        str(SCRIPT),
        str(smollm2_dir),
        str(work / "in.json"),
        str(work / "out.json"),
    ]
    failures = []
    # One retry. The failures seen (CI, twice in a row) were aborts at exit after the work
    # was done ("terminate called without an active exception": the engine was stopped by
    # vLLM's daemon thread during interpreter exit); the script now stops it first.
    for _ in range(2):
        proc = subprocess.run(
            cmd, check=False, env=env, capture_output=True, text=True, timeout=600, cwd=work
        )
        if proc.returncode == 0:
            break
        failures.append(
            f"exit status {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    else:
        pytest.fail("the vLLM engine script failed twice:\n" + "\n---\n".join(failures))
    answers: dict[str, Any] = json.loads((work / "out.json").read_text())
    return answers


@pytest.fixture(scope="module")
def local(smollm2: Any) -> LocalLLM:
    return LocalLLM(LLMConfig(), smollm2)


@pytest.mark.vllm
@pytest.mark.slow
def test_engine_generates_like_the_local_backend(
    engine_answers: dict[str, Any], local: LocalLLM, smollm2_dir: Path
) -> None:
    assert engine_answers["name"] == f"vllm:{smollm2_dir}"
    ours = local.generate(SPEC["generate"], max_new_tokens=SPEC["max_new_tokens"])
    for theirs, mine in zip(engine_answers["generate"], ours, strict=True):
        assert theirs["error"] is None and "Paris" in theirs["text"]
        # Same tokenisation of the chat template and of the plain text.
        assert theirs["prompt_tokens"] == mine.prompt_tokens
        assert 0 < theirs["completion_tokens"] <= SPEC["max_new_tokens"]
        # Greedy decoding in bf16 vs fp32: the first words agree.
        assert theirs["text"].split()[:3] == mine.text.split()[:3]


@pytest.mark.vllm
@pytest.mark.slow
@pytest.mark.parametrize("case", ["yes_no", "digits"])
def test_engine_chooses_like_the_local_backend(
    engine_answers: dict[str, Any], local: LocalLLM, case: str
) -> None:
    item = SPEC["choose"][case]
    ours = local.choose(item["prompts"], item["options"])
    for theirs, mine in zip(engine_answers["choose"][case], ours, strict=True):
        assert theirs["error"] is None and theirs["prompt_tokens"] == mine.prompt_tokens
        for option in item["options"]:  # bf16 engine vs fp32 reference
            assert theirs["probs"][option] == pytest.approx(mine.probs[option], abs=0.05)
        assert theirs["mass"] == pytest.approx(mine.mass, rel=0.25)


@pytest.mark.vllm
@pytest.mark.slow
def test_engine_prompt_logprobs_match_the_local_backend(
    engine_answers: dict[str, Any], local: LocalLLM
) -> None:
    ours = local.prompt_logprobs(SPEC["texts"], top_k=SPEC["top_k"])
    for theirs, mine in zip(engine_answers["prompt_logprobs"], ours, strict=True):
        assert theirs["error"] is None
        assert theirs["tokens"] == mine.tokens and theirs["offsets"] == mine.offsets
        assert theirs["prompt_tokens"] == mine.prompt_tokens
        if not mine.tokens:
            continue
        assert theirs["logprobs"][0] is None and math.isnan(mine.logprobs[0])
        assert theirs["logprobs"][1:] == pytest.approx(mine.logprobs[1:], abs=0.35)
        for top_theirs, top_mine in zip(theirs["top"], mine.top, strict=True):
            assert len(top_theirs) == len(top_mine)
            ranked = sorted(top_mine.values(), reverse=True)
            if len(ranked) > 1 and ranked[0] - ranked[1] > 0.3:  # a clear favourite
                assert next(iter(top_theirs)) == next(iter(top_mine))
            for token in set(top_theirs) & set(top_mine):
                assert top_theirs[token] == pytest.approx(top_mine[token], abs=0.35)
