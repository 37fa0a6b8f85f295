"""What a checkpoint path holds, read cheaply so that formats are recognised by content:
the files of the folder and, for each weight file, its tensor names and shapes.

Safetensors and ``.npz`` files are read from their headers only; torch files with
``torch.load(weights_only=True, mmap=True)`` (no tensor data is read, nothing pickled is run).
A :class:`Probe` memoises what it read, and :meth:`Probe.describe` says it in words for the
error raised when no format matches."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["TORCH_SUFFIXES", "Probe", "Shape", "torch_file"]

Shape = tuple[int, ...]
TORCH_SUFFIXES = (".pt", ".pth", ".ckpt")
WEIGHT_SUFFIXES = (".safetensors", ".npz", *TORCH_SUFFIXES)
_MAX_FILES, _MAX_TENSORS = 20, 12


def _safetensors_header(path: Path) -> dict[str, Any]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        return {k: tuple(fh.get_slice(k).get_shape()) for k in fh.keys()}  # noqa: SIM118


def _npz_header(path: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            if not member.endswith(".npy"):
                continue
            with archive.open(member) as fh:
                version = np.lib.format.read_magic(fh)
                if version == (1, 0):
                    shape, _, _ = np.lib.format.read_array_header_1_0(fh)
                else:
                    shape, _, _ = np.lib.format.read_array_header_2_0(fh)
            out[member.removesuffix(".npy")] = tuple(int(n) for n in shape)
    return out


def _torch_header(path: Path) -> dict[str, Any]:
    try:  # a zip checkpoint maps lazily; a legacy pickle one is read whole
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(obj, dict):
        return {"": type(obj).__name__}
    return {
        str(k): tuple(v.shape) if isinstance(v, torch.Tensor) else _value(v) for k, v in obj.items()
    }


def _value(value: Any) -> Any:
    """A non-tensor entry as found (short values) or its type."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _value(v) for k, v in value.items()}
    return type(value).__name__


class Probe:
    """Lazy, memoised view of what lies at a checkpoint path."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.folder = path if path.is_dir() else path.parent
        self._read: dict[Path, dict[str, Any]] = {}
        self._errors: dict[Path, str] = {}

    @property
    def files(self) -> list[str]:
        """File and folder names in the folder (the file itself when ``path`` is a file)."""
        if not self.path.is_dir():
            return [self.path.name]
        try:
            return sorted(p.name + ("/" if p.is_dir() else "") for p in self.path.iterdir())
        except OSError:
            return []

    def weight_files(self) -> list[Path]:
        """``path`` itself when it is a file, else the weight files in the folder."""
        if not self.path.is_dir():
            return [self.path]
        return [self.path / n for n in self.files if n.endswith(WEIGHT_SUFFIXES)]

    def tensors(self, file: Path) -> dict[str, Any]:
        """Entry name -> shape (tensors) or value; {} when unreadable (the reason is kept)."""
        if file in self._read:
            return self._read[file]
        found: dict[str, Any] = {}
        try:
            if file.suffix == ".safetensors":
                found = _safetensors_header(file)
            elif file.suffix == ".npz":
                found = _npz_header(file)
            elif file.is_file():
                found = _torch_header(file)
        except pickle.UnpicklingError:
            self._errors[file] = "needs arbitrary pickles (not a weights-only state dict)"
        except Exception as exc:
            # A probe never raises: besides OSError, bad zips and bad safetensors headers,
            # torch's weights-only unpickler fails on arbitrary bytes (a YAML or text file)
            # with IndexError, KeyError, TypeError, ...; such a file is then simply not a
            # weights file, and the reason is kept for the error message.
            self._errors[file] = f"unreadable ({type(exc).__name__}: {str(exc)[:120]})"
        self._read[file] = found
        return found

    def has(self, file: Path, names: set[str] | frozenset[str]) -> bool:
        """Whether ``file`` holds every entry in ``names``."""
        return file.is_file() and names <= self.tensors(file).keys()

    def describe(self) -> str:
        """What was found, for error messages: the files, and what each weight file holds."""
        files = self.files
        listed = ", ".join(files[:_MAX_FILES]) + (" ..." if len(files) > _MAX_FILES else "")
        parts = [f"files: {listed or 'none'}"]
        for file in self.weight_files()[:4]:
            if file.is_dir():
                continue
            entries = self.tensors(file)
            if file in self._errors:
                parts.append(f"{file.name}: {self._errors[file]}")
                continue
            shown = [
                f"{k} {list(v)}" if isinstance(v, tuple) else f"{k}={v!r}"
                for k, v in list(entries.items())[:_MAX_TENSORS]
            ]
            more = " ..." if len(entries) > _MAX_TENSORS else ""
            parts.append(f"{file.name} holds {', '.join(shown) or 'nothing'}{more}")
        return "; ".join(parts)


def torch_file(path: Path, preferred: str = "") -> Path | None:
    """``path`` when it is a file (other than safetensors, npz or JSON); in a folder,
    ``preferred`` when present, else its only torch file (None when there is none or several)."""
    if not path.is_dir():
        return None if path.suffix in (".safetensors", ".npz", ".json") else path
    if preferred and (path / preferred).is_file():
        return path / preferred
    found = [p for p in sorted(path.iterdir()) if p.is_file() and p.suffix in TORCH_SUFFIXES]
    return found[0] if len(found) == 1 else None
