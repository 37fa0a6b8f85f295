"""dictionary_learning checkpoints (Marks et al.; SAEBench's trainers): ``ae.pt`` (a state dict,
loaded with ``weights_only=True``) next to ``config.json``, whose ``trainer.dict_class`` names
the class. ``trainer.submodule_name`` (``resid_post_layer_12``) and ``trainer.lm_name`` give
the hook point and model.

Recognised by content: a torch state dict holding one of the dictionary classes' tensor sets
(``_CLASS_KEYS``); an OpenAI ``sparse_autoencoder`` state dict saved as ``ae.pt`` is not one."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from autointerp.errors import CheckpointError
from autointerp.saes.base import ARCHITECTURES, SaeInfo, SparseCoder
from autointerp.saes.formats import FORMATS, CheckpointFormat, file_sha256, read_mapping
from autointerp.saes.probe import Probe, torch_file
from autointerp.saes.weights import load_torch

__all__ = ["load_dictionary_learning"]

AE, CONFIG = "ae.pt", "config.json"
_SUBMODULE = re.compile(r"(resid_post|resid_pre|mlp_out|attn_out)_layer_(\d+)")


def _folder(path: Path) -> Path:
    return path.parent if path.is_file() else path


# The tensors each dictionary class's state_dict() holds (what tells it apart on disk).
_CLASS_KEYS: dict[str, frozenset[str]] = {
    "AutoEncoder": frozenset({"encoder.weight", "encoder.bias", "decoder.weight", "bias"}),
    "AutoEncoderTopK / BatchTopKSAE": frozenset(
        {"encoder.weight", "encoder.bias", "decoder.weight", "b_dec", "k", "threshold"}
    ),
    "JumpReluAutoEncoder / MatryoshkaBatchTopKSAE": frozenset(
        {"W_enc", "b_enc", "W_dec", "b_dec", "threshold"}
    ),
    "GatedAutoEncoder": frozenset(
        {"encoder.weight", "gate_bias", "mag_bias", "r_mag", "decoder.weight", "decoder_bias"}
    ),
}


def _detect(probe: Probe) -> bool:
    file = torch_file(probe.path, AE)
    return file is not None and any(probe.has(file, keys) for keys in _CLASS_KEYS.values())


def _by_name(path: Path) -> bool:
    folder = _folder(path)
    return (folder / AE).is_file() and (path.is_dir() or path.name == AE)


def _t(sd: dict[str, Any], key: str, path: Path) -> torch.Tensor:
    value = sd.get(key)
    if not isinstance(value, torch.Tensor):
        raise CheckpointError(f"{path}: state dict has no tensor {key!r}")
    return value


def _weights(dict_class: str, sd: dict[str, Any], path: Path) -> tuple[str, dict[str, Any]]:
    """(architecture, autointerp tensors) for each dictionary_learning class."""
    if dict_class == "AutoEncoder":
        bias = _t(sd, "bias", path)
        return "standard", {
            "W_enc": _t(sd, "encoder.weight", path).T,
            "b_enc": _t(sd, "encoder.bias", path),
            "W_dec": _t(sd, "decoder.weight", path).T,
            "b_dec": bias,
        }
    if dict_class == "AutoEncoderTopK":
        return "topk", {
            "W_enc": _t(sd, "encoder.weight", path).T,
            "b_enc": _t(sd, "encoder.bias", path),
            "W_dec": _t(sd, "decoder.weight", path).T,
            "b_dec": _t(sd, "b_dec", path),
        }
    if dict_class in ("BatchTopKSAE", "MatryoshkaBatchTopKSAE"):
        if dict_class == "BatchTopKSAE":
            w_enc, b_enc = _t(sd, "encoder.weight", path).T, _t(sd, "encoder.bias", path)
            w_dec = _t(sd, "decoder.weight", path).T
        else:
            w_enc, b_enc, w_dec = (
                _t(sd, "W_enc", path),
                _t(sd, "b_enc", path),
                _t(sd, "W_dec", path),
            )
        threshold = _t(sd, "threshold", path).float()
        # encode(use_threshold=True): relu(pre) * (relu(pre) > threshold), the same as a
        # JumpReLU with max(threshold, 0) for every latent.
        return "jumprelu", {
            "W_enc": w_enc,
            "b_enc": b_enc,
            "W_dec": w_dec,
            "b_dec": _t(sd, "b_dec", path),
            "threshold": threshold.clamp(min=0).expand(w_enc.shape[1]).clone(),
        }
    if dict_class == "JumpReluAutoEncoder":
        return "jumprelu", {
            k: _t(sd, k, path) for k in ("W_enc", "b_enc", "W_dec", "b_dec", "threshold")
        }
    if dict_class == "GatedAutoEncoder":
        return "gated", {
            "W_enc": _t(sd, "encoder.weight", path).T,
            "b_gate": _t(sd, "gate_bias", path),
            "b_mag": _t(sd, "mag_bias", path),
            "r_mag": _t(sd, "r_mag", path),
            "W_dec": _t(sd, "decoder.weight", path).T,
            "b_dec": _t(sd, "decoder_bias", path),
        }
    raise CheckpointError(
        f"{path}: dict_class {dict_class!r} is not supported; expected AutoEncoder, "
        "AutoEncoderTopK, BatchTopKSAE, MatryoshkaBatchTopKSAE, JumpReluAutoEncoder or "
        "GatedAutoEncoder"
    )


def load_dictionary_learning(path: Path) -> SparseCoder:
    file = torch_file(path, AE) if path.is_dir() else path
    if file is None:
        raise CheckpointError(f"{path}: no {AE} (a dictionary_learning state dict)")
    folder = file.parent
    if not (folder / CONFIG).is_file():
        raise CheckpointError(
            f"{folder / CONFIG} is missing: dictionary_learning saves it next to {file.name}, and "
            "its trainer.dict_class names the class (the tensors alone do not tell "
            "AutoEncoderTopK from BatchTopKSAE)"
        )
    config = read_mapping(folder / CONFIG)
    trainer = config.get("trainer")
    if not isinstance(trainer, dict) or not isinstance(trainer.get("dict_class"), str):
        raise CheckpointError(f"{folder / CONFIG}: no 'trainer.dict_class'")
    dict_class = trainer["dict_class"]
    state = load_torch(file)
    architecture, weights = _weights(dict_class, state, file)
    w_enc = weights["W_enc"]
    d_in, d_sae = (int(n) for n in w_enc.shape)
    submodule = str(trainer.get("submodule_name", ""))
    match = _SUBMODULE.fullmatch(submodule)
    hook = f"blocks.{match.group(2)}.hook_{match.group(1)}" if match else ""
    k_value = trainer.get("k", state.get("k"))
    k = int(k_value.item() if isinstance(k_value, torch.Tensor) else k_value) if k_value else None
    info = SaeInfo(
        path=str(folder),
        format="dictionary_learning",
        architecture=architecture,
        d_in=d_in,
        d_sae=d_sae,
        hook_name=hook,
        model_name=str(trainer["lm_name"]) if trainer.get("lm_name") else None,
        dtype=str(w_enc.dtype).removeprefix("torch."),
        sha256=file_sha256(file)[:16],
        # JumpReluAutoEncoder.apply_b_dec_to_input is False and not saved in its state dict.
        apply_b_dec_to_input=dict_class != "JumpReluAutoEncoder",
        k=k if architecture == "topk" else None,
        extra={"dict_class": dict_class},
    )
    return ARCHITECTURES.get(architecture)(info, weights)


FORMATS.add(
    "dictionary_learning",
    CheckpointFormat(
        name="dictionary_learning",
        detect=_detect,
        by_name=_by_name,
        load=load_dictionary_learning,
        expects=f"a folder with {AE} + {CONFIG} (trainer.dict_class); {AE} holds one of "
        + "; ".join(f"{cls}: {', '.join(sorted(keys))}" for cls, keys in _CLASS_KEYS.items()),
        example="autointerp inspect saebench/resid_post_layer_12/trainer_0",
    ),
)
