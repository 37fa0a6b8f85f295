"""Start and stop a real vLLM (CPU build) OpenAI-compatible server for the tests.

The server runs from its own virtual environment (``scripts/install_vllm.sh``; ``make test``
creates it) in a new process group, so that stopping it by PID also stops its engine and
worker processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

SERVED_NAME = "smollm2-135m-instruct"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes], grace: float = 20.0) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        proc.poll()  # reap the leader, or it lingers as a zombie member of the group
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


@contextmanager
def vllm_server(
    venv: Path, model_dir: Path, workdir: Path, timeout: float = 300.0
) -> Iterator[str]:
    """Yield the base URL of a healthy server serving ``model_dir``; stop it afterwards."""
    port = _free_port()
    tmp = workdir / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "VLLM_NO_USAGE_STATS": "1",
        "DO_NOT_TRACK": "1",
        "VLLM_TARGET_DEVICE": "cpu",
        "VLLM_HOST_IP": "127.0.0.1",
        # vLLM compiles a logprob helper with g++ on the first request otherwise (~12 s).
        "TORCH_COMPILE_DISABLE": "1",
        # Sockets and scratch files vLLM leaves behind go here, not into /tmp.
        "TMPDIR": str(tmp),
        "VLLM_CACHE_ROOT": str(workdir / "cache"),
    }
    env.pop("VLLM_CPU_KVCACHE_SPACE", None)  # would override --kv-cache-memory-bytes
    log = (workdir / "vllm.log").open("wb")
    cmd = [
        str(venv / "bin" / "python"),
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(model_dir),
        "--served-model-name",
        SERVED_NAME,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        # float32: bfloat16 is several times slower on CPUs without AMX/AVX-512 BF16.
        "--dtype",
        "float32",
        "--max-model-len",
        "2048",
        "--enforce-eager",
        "--kv-cache-memory-bytes",
        "768M",
        "--disable-uvicorn-access-log",
    ]
    proc = subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"vLLM exited during start-up:\n{_tail(workdir / 'vllm.log')}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"vLLM not healthy after {timeout:.0f}s:\n{_tail(workdir / 'vllm.log')}"
                )
            time.sleep(0.5)
        yield f"{url}/v1"
    finally:
        _stop(proc)
        log.close()


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
