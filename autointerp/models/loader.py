"""Load a subject model and its tokenizer: a local directory, a known offline model, or a
hub id (only when the hub is reachable)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from autointerp.errors import ModelError
from autointerp.models.offline import OFFLINE_MODELS, offline_model_dir

__all__ = [
    "SubjectModel",
    "canonical_model_name",
    "cpu_has_amx_bf16",
    "load_subject_model",
    "resolve_batch_size",
    "resolve_device",
    "resolve_dtype",
]

log = logging.getLogger(__name__)

_LOADED: dict[tuple[str, str, str], SubjectModel] = {}


@dataclass
class SubjectModel:
    """A causal LM with its tokenizer, as used for caching and as the local LLM."""

    name: str
    """The name the user gave (hub id, alias or path), used in provenance columns."""
    path: str
    """The local directory it was loaded from (or the hub id)."""
    model: Any
    tokenizer: Any
    device: torch.device
    dtype: torch.dtype

    @property
    def n_layers(self) -> int:
        return int(self.model.config.num_hidden_layers)

    @property
    def d_model(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def max_positions(self) -> int | None:
        value = getattr(self.model.config, "max_position_embeddings", None)
        return int(value) if value else None


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise ModelError(f"device {device!r} is not a valid torch device") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(f"device {device!r} was requested but CUDA is not available")
    return resolved


def canonical_model_name(name: str) -> str:
    """Known offline aliases map to their hub id; anything else is returned unchanged."""
    spec = OFFLINE_MODELS.get(name.lower())
    return spec.hub_id if spec else name


def cpu_has_amx_bf16() -> bool:
    """True on CPUs with AMX bf16 tiles (Sapphire Rapids and later), where bf16 matmuls are
    several times faster than fp32; without them bf16 is slower than fp32 on CPU."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return "amx_bf16" in flags


def resolve_dtype(dtype: str, device: torch.device) -> str:
    """``auto`` -> bfloat16 where the hardware runs it fast (CUDA with bf16 support, or a CPU
    with AMX), else float32; anything else is returned unchanged."""
    if dtype != "auto":
        return dtype
    if device.type == "cuda":
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float32"
    return "bfloat16" if cpu_has_amx_bf16() else "float32"


def resolve_batch_size(batch_size: int, device: torch.device) -> int:
    """0 -> a batch size for the device (windows per forward pass); else unchanged."""
    if batch_size > 0:
        return batch_size
    return 128 if device.type == "cuda" else 32


def load_subject_model(name: str, *, device: str = "auto", dtype: str = "float32") -> SubjectModel:
    """Load (once per process) the model called ``name``.

    Resolution: an existing local directory; else a model autointerp can run offline
    (SmolLM2-135M-Instruct); else a hub id via transformers (needs the hub to be reachable).
    """
    dev = resolve_device(device)
    dtype = resolve_dtype(dtype, dev)
    torch_dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}.get(dtype)
    if torch_dtype is None:
        raise ModelError(f"dtype {dtype!r} is not supported; expected auto, float32 or bfloat16")
    local = Path(name).expanduser()
    if local.is_dir():
        path, local_only = str(local.resolve()), True
        if not (local / "config.json").is_file():
            raise ModelError(f"{local} is not a transformers model directory (no config.json)")
    else:
        offline = offline_model_dir(name)
        path, local_only = (str(offline), True) if offline else (name, False)
    key = (path, str(dev), dtype)
    if key in _LOADED:
        return _LOADED[key]

    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=local_only)
        model = AutoModelForCausalLM.from_pretrained(
            path, dtype=torch_dtype, local_files_only=local_only
        )
    except (OSError, ValueError) as exc:
        where = "local directory" if local_only else "hub id (is the hub reachable?)"
        raise ModelError(f"could not load subject model {name!r} as a {where}: {exc}") from exc
    model.to(dev)  # type: ignore[arg-type]
    model.eval()
    model.requires_grad_(False)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    subject = SubjectModel(
        name=canonical_model_name(name),
        path=path,
        model=model,
        tokenizer=tokenizer,
        device=dev,
        dtype=torch_dtype,
    )
    _LOADED[key] = subject
    return subject
