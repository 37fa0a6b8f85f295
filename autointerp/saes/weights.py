"""Reading weight files safely: safetensors, npz without pickles, and ``torch.load`` with
``weights_only=True`` only (a checkpoint that needs arbitrary pickles is refused)."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from autointerp.errors import CheckpointError

__all__ = ["load_npz", "load_safetensors", "load_torch", "load_torch_tensor", "safetensors_dtype"]

_DTYPES = {"f16": "float16", "bf16": "bfloat16", "f32": "float32", "f64": "float64"}


def load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        raise CheckpointError(f"{path} is missing")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is not a readable safetensors file: {exc}") from None


def safetensors_dtype(path: Path, key: str) -> str:
    """The stored dtype of one tensor, read from the header only."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            if key in fh.keys():  # noqa: SIM118 - safe_open is not a mapping
                short = str(fh.get_slice(key).get_dtype()).lower()
                return _DTYPES.get(short, short)
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is not a readable safetensors file: {exc}") from None
    return "unknown"


def load_npz(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise CheckpointError(f"{path} is missing")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path} is not a readable .npz file (not a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: torch.from_numpy(np.array(data[name])) for name in data.files}
    except ValueError as exc:
        raise CheckpointError(
            f"{path}: refusing to load pickled arrays ({exc}); save plain arrays with np.savez"
        ) from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise CheckpointError(f"{path} is not a readable .npz file: {exc}") from None


def _unpickler_reason(exc: Exception) -> str:
    """The line of torch's weights-only error that says what was refused."""
    text = str(exc)
    _, found, rest = text.partition("WeightsUnpickler error:")
    lines = [line.strip() for line in (rest if found else text).splitlines() if line.strip()]
    return lines[0].split(" Please use")[0].rstrip(".") if lines else type(exc).__name__


def _torch_load(path: Path) -> object:
    """``torch.load(weights_only=True)``: tensors and plain Python values only."""
    if not path.is_file():
        raise CheckpointError(f"{path} is missing")
    with path.open("rb") as fh:
        head = fh.read(4)
    # torch.save writes a zip archive (or, before torch 1.6, a pickle: protocol opcode 0x80).
    if head != b"PK\x03\x04" and not head.startswith(b"\x80"):
        raise CheckpointError(f"{path} is not a readable torch checkpoint (neither zip nor pickle)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path} is not a weights-only checkpoint: it needs arbitrary pickled objects, which "
            f"autointerp never loads from checkpoints ({_unpickler_reason(exc)}). Re-save its "
            "state_dict."
        ) from None
    except (RuntimeError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"{path} is not a readable torch checkpoint: {exc}") from None


def load_torch(path: Path) -> dict[str, Any]:
    """A state dict saved with ``torch.save``, read with ``weights_only=True``."""
    obj = _torch_load(path)
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path} must hold a state dict, not {type(obj).__name__}")
    return obj


def load_torch_tensor(path: Path) -> torch.Tensor:
    """A single tensor saved with ``torch.save(tensor, path)``, read with ``weights_only=True``."""
    obj = _torch_load(path)
    if not isinstance(obj, torch.Tensor):
        raise CheckpointError(f"{path} must hold a single tensor, not {type(obj).__name__}")
    return obj
