"""EleutherAI sparsify checkpoints: one folder per hook point holding ``cfg.json`` +
``sae.safetensors``, named after the module it reads (``layers.6.mlp``); a training run's
folder holds many such folders (and the run's ``config.json``, which names the model).

Encoding follows ``sparsify.SparseCoder.encode``: ``topk(relu((x - b_dec) @ W_enc.T + b))``
(``groupmax`` keeps one latent per group); transcoders (``transcode``) read the module's
input (hook ``<module>:input``) without subtracting ``b_dec`` and predict its output (hook
``<module>``); ``skip_connection`` adds ``x @ W_skip.T``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch

from autointerp.errors import CheckpointError
from autointerp.saes.base import ARCHITECTURES, SaeInfo, SparseCoder, check_tensor
from autointerp.saes.formats import (
    FORMATS,
    CheckpointFormat,
    file_sha256,
    positive_int,
    read_mapping,
)
from autointerp.saes.probe import Probe
from autointerp.saes.weights import load_safetensors, safetensors_dtype

__all__ = ["hookpoint_folders", "is_sparsify_cfg", "load_sparsify"]

CFG, WEIGHTS = "cfg.json", "sae.safetensors"
# sparsify tensor -> (autointerp name, shape in terms of d_in / d_sae)
_TENSORS: dict[str, tuple[str, tuple[str, ...]]] = {
    "encoder.weight": ("W_enc", ("d_sae", "d_in")),
    "encoder.bias": ("b_enc", ("d_sae",)),
    "W_dec": ("W_dec", ("d_sae", "d_in")),
    "b_dec": ("b_dec", ("d_in",)),
    "W_skip": ("W_skip", ("d_in", "d_in")),
}


def is_sparsify_cfg(cfg_path: Path) -> bool:
    """True for a sparsify ``cfg.json`` (``d_in`` and ``k`` but no SAELens ``d_sae``)."""
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(cfg, dict) and {"d_in", "k"} <= cfg.keys() and "d_sae" not in cfg


def _is_hookpoint(folder: Path) -> bool:
    return (folder / WEIGHTS).is_file() or is_sparsify_cfg(folder / CFG)


def _natural(path: Path) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def hookpoint_folders(path: Path) -> list[Path]:
    """The hook-point folders of a sparsify run folder (or [path] for a single one), in
    natural order (``layers.2`` before ``layers.10``)."""
    if not path.is_dir():
        return []
    if _is_hookpoint(path):
        return [path]
    return sorted((p for p in path.iterdir() if p.is_dir() and _is_hookpoint(p)), key=_natural)


def _detect(probe: Probe) -> bool:
    folders = hookpoint_folders(probe.path)
    return bool(folders) and probe.has(folders[0] / WEIGHTS, frozenset({"encoder.weight", "W_dec"}))


def _by_name(path: Path) -> bool:
    return bool(hookpoint_folders(path))


def _model_name(folder: Path) -> str | None:
    for candidate in (folder.parent / "config.json", folder / "config.json"):
        try:
            data = json.loads(candidate.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and isinstance(data.get("model"), str):
            return str(data["model"])
    return None


def _checked(weights: dict[str, torch.Tensor], file: Path, d_in: int) -> dict[str, torch.Tensor]:
    """Validate the tensors under their sparsify names; return them under autointerp's."""
    encoder = weights.get("encoder.weight")
    if encoder is None or encoder.ndim != 2:
        raise CheckpointError(f"{file}: no 2-D tensor 'encoder.weight'")
    dims = {"d_in": d_in, "d_sae": int(encoder.shape[0])}
    out: dict[str, torch.Tensor] = {}
    for name, (ours, symbolic) in _TENSORS.items():
        tensor = weights.get(name)
        if tensor is None:
            if name != "W_skip":
                raise CheckpointError(f"{file}: no tensor {name!r}")
            continue
        shape = tuple(dims[s] for s in symbolic)
        origin = f"d_in={d_in} from {CFG}, d_sae={dims['d_sae']} from encoder.weight"
        check_tensor(file, name, tensor, shape, origin)
        out[ours] = encoder.T if name == "encoder.weight" else tensor
    return out


def _load_one(path: Path) -> SparseCoder:
    cfg_path, weights_path = path / CFG, path / WEIGHTS
    cfg: dict[str, Any] = read_mapping(cfg_path)
    d_in = positive_int(cfg, "d_in", cfg_path)
    activation = str(cfg.get("activation", "topk"))
    if activation not in ("topk", "groupmax"):
        raise CheckpointError(
            f"{cfg_path}: activation {activation!r} is not supported; expected topk or groupmax"
        )
    tensors = _checked(load_safetensors(weights_path), weights_path, d_in)
    skip = bool(cfg.get("skip_connection", False))
    if skip != ("W_skip" in tensors):
        raise CheckpointError(
            f"{weights_path}: skip_connection={skip} in {CFG} but the weights "
            f"{'lack' if skip else 'have'} a tensor 'W_skip'"
        )
    transcode = bool(cfg.get("transcode", False))
    hookpoint = path.name
    info = SaeInfo(
        path=str(path),
        format="sparsify",
        architecture=activation,
        d_in=d_in,
        d_sae=int(tensors["W_enc"].shape[1]),
        hook_name=f"{hookpoint}:input" if transcode else hookpoint,
        model_name=_model_name(path),
        dtype=safetensors_dtype(weights_path, "encoder.weight"),
        sha256=file_sha256(weights_path)[:16],
        apply_b_dec_to_input=not transcode,
        k=positive_int(cfg, "k", cfg_path),
        hook_name_out=hookpoint if transcode else None,
        extra={"skip_connection": skip},
    )
    return ARCHITECTURES.get(activation)(info, tensors)


def load_sparsify(path: Path) -> SparseCoder:
    folders = hookpoint_folders(path)
    if not folders:
        raise CheckpointError(f"{path} holds no sparsify hook-point folder ({CFG} + {WEIGHTS})")
    if len(folders) > 1:
        names = ", ".join(f.name for f in folders)
        raise CheckpointError(
            f"{path} is a sparsify run folder with {len(folders)} hook points ({names}); "
            f"load one folder (e.g. {folders[0]}) or all of them with load_saes"
        )
    return _load_one(folders[0])


FORMATS.add(
    "sparsify",
    CheckpointFormat(
        name="sparsify",
        detect=_detect,
        by_name=_by_name,
        load=load_sparsify,
        split=hookpoint_folders,
        expects=f"a folder with {CFG} (d_in, k) + {WEIGHTS} (encoder.weight [d_sae, d_in], "
        "encoder.bias, W_dec [d_sae, d_in], b_dec), or a run folder of such folders",
        example="autointerp inspect runs/smollm2/layers.6.mlp",
    ),
)
