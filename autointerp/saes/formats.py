"""Checkpoint formats behind a registry: each format knows how to recognise a path and
how to load it into a :class:`SparseCoder`."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autointerp.errors import CheckpointError
from autointerp.paths import package_data
from autointerp.registry import Registry
from autointerp.saes.base import SparseCoder

__all__ = [
    "FORMATS",
    "CheckpointFormat",
    "file_sha256",
    "load_sae",
    "read_json",
    "resolve_checkpoint",
]

DEMO_NAME = "demo"


@dataclass(frozen=True)
class CheckpointFormat:
    name: str
    detect: Callable[[Path], bool]
    """True when ``path`` looks like this format (cheap: file names only)."""
    load: Callable[[Path], SparseCoder]
    """Load and validate; raise CheckpointError naming the file and the problem."""
    expects: str
    """What files this format expects (for error messages)."""


FORMATS: Registry[CheckpointFormat] = Registry("checkpoint format")


def resolve_checkpoint(path: str | Path) -> Path:
    """``demo`` -> the demo SAE shipped with autointerp; otherwise the path itself."""
    if str(path) == DEMO_NAME:
        return package_data("demo_sae")
    resolved = Path(path).expanduser()
    if not resolved.exists():
        raise CheckpointError(f"SAE checkpoint {str(path)!r} does not exist")
    return resolved


def load_sae(path: str | Path) -> SparseCoder:
    """Detect the checkpoint format of ``path`` and load it (on CPU, float32)."""
    resolved = resolve_checkpoint(path)
    for name in FORMATS:
        fmt = FORMATS.get(name)
        if fmt.detect(resolved):
            return fmt.load(resolved)
    expected = "; ".join(f"{FORMATS.get(n).name}: {FORMATS.get(n).expects}" for n in FORMATS)
    raise CheckpointError(
        f"{resolved} is not a checkpoint autointerp recognises. Expected {expected}"
    )


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} must hold a JSON object, not {type(data).__name__}")
    return data


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
