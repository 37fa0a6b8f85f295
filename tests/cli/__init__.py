"""Tests of autointerp.cli, and what they share: the console script run as a user would
run it (a subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}


def cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "autointerp.cli", *args],
        capture_output=True,
        text=True,
        env={**ENV, **(env or {})},
        check=False,
        cwd=cwd,
        timeout=600,
    )
