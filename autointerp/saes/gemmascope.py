"""Gemma Scope checkpoints: ``params.npz`` (Gemma Scope 1) or ``params.safetensors`` +
``config.json`` (Gemma Scope 2) holding ``W_enc, W_dec, b_enc, b_dec, threshold`` of a JumpReLU
SAE that reads the raw activation (no ``b_dec`` subtraction). Gemma Scope 1 embedding SAEs
(``gemma-scope-2b-pt-res/embedding/...``) read ``hook_embed``; as SAELens does, their encoder
is divided and their decoder multiplied by sqrt(d_in), since they were trained on the
embedding before Gemma's sqrt(d_model) scaling.

The weight files name no hook point. Gemma Scope 1 releases give it (and the model) by their
path (``gemma-scope-2b-pt-res/layer_12/width_16k/average_l0_82``); Gemma Scope 2 by the
``config.json`` beside the weights (``hf_hook_point_in``, ``model_name``) or the folder name
(``resid_post/layer_17_width_16k_l0_small``). Otherwise pass ``--hook`` (and ``--model``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from autointerp.errors import CheckpointError
from autointerp.models.hooks import EMBED
from autointerp.saes.base import ARCHITECTURES, SaeInfo, SparseCoder
from autointerp.saes.formats import FORMATS, CheckpointFormat, file_sha256, read_mapping
from autointerp.saes.probe import Probe
from autointerp.saes.weights import load_npz, load_safetensors

__all__ = ["gemmascope2_hook", "gemmascope_hook", "load_gemmascope"]

NPZ, SAFETENSORS, CONFIG = "params.npz", "params.safetensors", "config.json"
_RELEASE = re.compile(r"gemma-scope-(\d+b)-(pt|it)-(res|mlp|att|transcoders)", re.IGNORECASE)
_SITES = {
    "res": "hook_resid_post",
    "mlp": "hook_mlp_out",
    "att": "attn.hook_z",
    "transcoders": "ln2.hook_normalized",
}
# Gemma Scope 2: folder name -> site, and the transformers module its config names.
_RELEASE_2 = re.compile(r"gemma-scope-2-(\d+[mb])-(pt|it)", re.IGNORECASE)
_FOLDER_SITES_2 = {
    "resid_post": "hook_resid_post",
    "attn_out": "attn.hook_z",
    "mlp_out": "hook_mlp_out",
    "transcoder": "ln2.hook_normalized",
}
_HF_POINTS_2 = {
    "output": "hook_resid_post",
    "self_attn.o_proj.input": "attn.hook_z",
    "post_feedforward_layernorm.output": "hook_mlp_out",
    "pre_feedforward_layernorm.output": "ln2.hook_normalized",
}
_HF_POINT = re.compile(r"(?:model\.)?layers\.(\d+)\.(.+)")
# Gemma Scope 2 writes lower-case names; its affine skip is stored (d_in, d_out), see the loader.
_CANONICAL = {"w_enc": "W_enc", "w_dec": "W_dec", "w_skip": "W_skip"}


def _weights_file(path: Path) -> Path | None:
    """``path`` itself when it is an ``.npz``/``.safetensors`` file, else the folder's
    params file."""
    if path.is_file() and path.suffix in (".npz", ".safetensors"):
        return path
    for name in (NPZ, SAFETENSORS):
        if path.is_dir() and (path / name).is_file():
            return path / name
    return None


def _detect(probe: Probe) -> bool:
    file = _weights_file(probe.path)
    if file is None or (file.parent / "cfg.json").is_file():  # cfg.json: SAELens's layout
        return False
    names = probe.tensors(file).keys()
    return bool({"W_enc", "w_enc"} & names) and {"threshold", "b_enc", "b_dec"} <= names


def _by_name(path: Path) -> bool:
    file = _weights_file(path)
    return file is not None and file.name in (NPZ, SAFETENSORS)


def gemmascope_hook(path: Path) -> tuple[str, str | None, str | None]:
    """(hook_name or '', hook_name_out, model name) inferred from a Gemma Scope 1 path."""
    text = path.as_posix()
    release = _RELEASE.search(text)
    layer = re.search(r"/layer_(\d+)(?:/|$)", text[release.end() :]) if release else None
    if release is None or (layer is None and not _is_embedding(path)):
        return "", None, None
    size, variant, site = release.group(1).lower(), release.group(2), release.group(3).lower()
    model = f"google/gemma-2-{size}" + ("-it" if variant.lower() == "it" else "")
    if layer is None:
        return EMBED, None, model
    hook = f"blocks.{layer.group(1)}.{_SITES[site]}"
    out = f"blocks.{layer.group(1)}.hook_mlp_out" if site == "transcoders" else None
    return hook, out, model


def _is_embedding(path: Path) -> bool:
    """A Gemma Scope 1 embedding SAE (``gemma-scope-2b-pt-res/embedding/width_4k/...``)."""
    release = _RELEASE.search(path.as_posix())
    if release is None or release.group(3).lower() != "res":
        return False
    return re.search(r"/embedding(?:/|$)", path.as_posix()[release.end() :]) is not None


def _hf_point(point: object) -> str:
    """``model.layers.17.output`` -> ``blocks.17.hook_resid_post`` ('' when unknown)."""
    match = _HF_POINT.fullmatch(point) if isinstance(point, str) else None
    site = _HF_POINTS_2.get(match.group(2)) if match else None
    return f"blocks.{match.group(1)}.{site}" if match and site else ""


def _gemma3_model(name: object, path: Path) -> str | None:
    """The subject model's hub id, normalised as SAELens does (``gemma-v3-1b-pt`` ->
    ``google/gemma-3-1b-pt``; the 270m model has no ``-pt`` suffix)."""
    if not isinstance(name, str) or not name:
        release = _RELEASE_2.search(path.as_posix())
        if release is None:
            return None
        name = f"gemma-3-{release.group(1).lower()}-{release.group(2).lower()}"
    name = name if "/" in name else f"google/{name}"
    name = name.replace("-v3", "-3")
    return name.replace("-pt", "") if "270m" in name else name


def gemmascope2_hook(folder: Path, cfg: dict[str, Any]) -> tuple[str, str | None, str | None]:
    """(hook_name or '', hook_name_out, model name) of a Gemma Scope 2 folder."""
    hook, hook_out = _hf_point(cfg.get("hf_hook_point_in")), None
    layer = re.match(r"layer_(\d+)_", folder.name)
    site = next(
        (s for key, s in _FOLDER_SITES_2.items() if folder.parent.name.startswith(key)), None
    )
    if not hook and layer and site:
        hook = f"blocks.{layer.group(1)}.{site}"
    if hook.endswith("ln2.hook_normalized"):
        hook_out = _hf_point(cfg.get("hf_hook_point_out")) or hook.replace(
            "ln2.hook_normalized", "hook_mlp_out"
        )
    return hook, hook_out, _gemma3_model(cfg.get("model_name"), folder)


def load_gemmascope(path: Path) -> SparseCoder:
    file = _weights_file(path)
    if file is None:
        raise CheckpointError(f"{path}: no {NPZ} or {SAFETENSORS}")
    raw = load_npz(file) if file.suffix == ".npz" else load_safetensors(file)
    weights = {_CANONICAL.get(name, name): tensor for name, tensor in raw.items()}
    if "affine_skip_connection" in weights:  # Gemma Scope 2 affine transcoders
        weights["W_skip"] = weights.pop("affine_skip_connection").T
    w_enc = weights.get("W_enc")
    if w_enc is None or w_enc.ndim != 2:
        raise CheckpointError(f"{file}: no 2-D array 'W_enc' (found {', '.join(raw) or 'none'})")
    d_in, d_sae = (int(n) for n in w_enc.shape)
    w_dec = weights.get("W_dec")
    d_out = int(w_dec.shape[-1]) if isinstance(w_dec, torch.Tensor) and w_dec.ndim == 2 else d_in
    if (file.parent / CONFIG).is_file():
        cfg = read_mapping(file.parent / CONFIG)
        arch = cfg.get("architecture", "jump_relu")
        if arch != "jump_relu":
            raise CheckpointError(
                f"{file.parent / CONFIG}: architecture {arch!r} is not supported; expected "
                "jump_relu"
            )
        hook, hook_out, model = gemmascope2_hook(file.parent, cfg)
    else:
        hook, hook_out, model = gemmascope_hook(file.parent)
    extra: dict[str, Any] = {}
    if _is_embedding(file.parent) and isinstance(w_dec, torch.Tensor):
        # As SAELens loads them: trained on the unscaled embedding, read at hook_embed, which
        # Gemma scales by sqrt(d_model).
        scale = float(np.sqrt(d_in))
        weights = {**weights, "W_enc": w_enc / scale, "W_dec": w_dec * scale}
        extra["embedding_scale"] = scale
    info = SaeInfo(
        path=str(file),
        format="gemmascope",
        architecture="jumprelu",
        d_in=d_in,
        d_sae=d_sae,
        hook_name=hook,
        model_name=model,
        dtype=str(w_enc.dtype).removeprefix("torch."),
        sha256=file_sha256(file)[:16],
        apply_b_dec_to_input=False,
        d_out=d_out if d_out != d_in or hook_out else None,
        hook_name_out=hook_out,
        extra=extra,
    )
    return ARCHITECTURES.get("jumprelu")(info, weights)


FORMATS.add(
    "gemmascope",
    CheckpointFormat(
        name="gemmascope",
        detect=_detect,
        by_name=_by_name,
        load=load_gemmascope,
        expects=f"{NPZ} (or {SAFETENSORS} + {CONFIG}; any .npz/.safetensors file name) with "
        "W_enc [d_in, d_sae], W_dec [d_sae, d_in], b_enc, b_dec, threshold [d_sae]",
        example="autointerp inspect gemma-scope-2b-pt-res/layer_12/width_16k/average_l0_82",
    ),
)
