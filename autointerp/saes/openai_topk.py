"""OpenAI ``sparse_autoencoder`` checkpoints (Gao et al. 2024): a ``torch.save``d state dict
with ``pre_bias``, ``encoder.weight``, ``latent_bias``, ``decoder.weight`` and the activation
(``"TopK"`` + ``{"k", "postact_fn"}``, or ``"ReLU"``). TopK checkpoints layer-normalise their
input, exactly as ``Autoencoder.from_state_dict`` decides. Loaded with
``torch.load(weights_only=True)`` only.

Recognised by content (those tensor names), whatever the file is called: a state dict saved
as ``ae.pt`` is OpenAI's when it holds them, dictionary_learning's otherwise. OpenAI's GPT-2
releases are laid out as ``.../resid_post_mlp_v5_32k/autoencoders/8.pt``; the hook point and
model are read from such paths, otherwise pass ``--hook`` and ``--model``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from autointerp.errors import CheckpointError
from autointerp.saes.base import ARCHITECTURES, SaeInfo, SparseCoder
from autointerp.saes.formats import FORMATS, CheckpointFormat, file_sha256
from autointerp.saes.probe import TORCH_SUFFIXES, Probe, torch_file
from autointerp.saes.weights import load_torch

__all__ = ["load_openai"]

_LOCATIONS = {
    "resid_post_mlp": "hook_resid_post",
    "resid_post_attn": "hook_resid_mid",
    "resid_delta_mlp": "hook_mlp_out",
    "resid_delta_attn": "hook_attn_out",
    "mlp_post_act": "mlp.hook_post",
}


KEYS = frozenset({"pre_bias", "encoder.weight", "latent_bias"})


def _detect(probe: Probe) -> bool:
    file = torch_file(probe.path)
    return file is not None and probe.has(file, KEYS)


def _by_name(path: Path) -> bool:
    return path.is_file() and path.suffix in TORCH_SUFFIXES and path.name != "ae.pt"


def _hook_from_path(path: Path) -> tuple[str, str | None]:
    text = path.as_posix()
    location = next((loc for loc in _LOCATIONS if loc in text), None)
    if location is None or not path.stem.isdigit():
        return "", None
    model = "gpt2" if "gpt2" in text else None  # the released layouts are GPT-2 small's
    return f"blocks.{int(path.stem)}.{_LOCATIONS[location]}", model


def load_openai(path: Path) -> SparseCoder:
    if path.is_dir():
        file = torch_file(path)
        if file is None:
            raise CheckpointError(f"{path}: expected one torch state dict (.pt) in the folder")
        path = file
    state: dict[str, Any] = load_torch(path)
    missing = [k for k in ("pre_bias", "encoder.weight", "latent_bias") if k not in state]
    if missing:
        raise CheckpointError(
            f"{path}: not an OpenAI sparse_autoencoder state dict (missing {', '.join(missing)})"
        )
    encoder = state["encoder.weight"]
    if not isinstance(encoder, torch.Tensor) or encoder.ndim != 2:
        raise CheckpointError(f"{path}: 'encoder.weight' must be a 2-D tensor")
    d_sae, d_in = (int(n) for n in encoder.shape)
    # nn.Linear(d_sae, d_in) stores [d_in, d_sae]; a tied decoder (TiedTranspose) is the
    # encoder itself, saved as decoder.linear.weight or not at all.
    decoder = state.get("decoder.weight")
    w_dec = decoder.T if isinstance(decoder, torch.Tensor) else encoder
    activation = str(state.get("activation", "ReLU"))
    act_state = state.get("activation_state_dict")
    act_state = act_state if isinstance(act_state, dict) else {}
    if activation == "TopK":
        postact = act_state.get("postact_fn", "ReLU")
        if postact != "ReLU":
            raise CheckpointError(f"{path}: TopK with postact_fn={postact!r} is not supported")
        architecture, k = "topk", int(act_state.get("k", 0)) or None
    elif activation == "ReLU":
        architecture, k = "standard", None
    else:
        raise CheckpointError(
            f"{path}: activation {activation!r} is not supported; expected TopK or ReLU"
        )
    hook, model = _hook_from_path(path)
    info = SaeInfo(
        path=str(path),
        format="openai",
        architecture=architecture,
        d_in=d_in,
        d_sae=d_sae,
        hook_name=hook,
        model_name=model,
        dtype=str(encoder.dtype).removeprefix("torch."),
        sha256=file_sha256(path)[:16],
        apply_b_dec_to_input=True,
        normalize_activations="layer_norm" if activation == "TopK" else "none",
        k=k,
    )
    weights = {
        "W_enc": encoder.T,
        "b_enc": state["latent_bias"],
        "W_dec": w_dec,
        "b_dec": state["pre_bias"],
    }
    return ARCHITECTURES.get(architecture)(info, weights)


FORMATS.add(
    "openai",
    CheckpointFormat(
        name="openai",
        detect=_detect,
        by_name=_by_name,
        load=load_openai,
        expects="a torch state dict (any file name, e.g. 8.pt or ae.pt) with tensors pre_bias "
        "[d_in], encoder.weight [d_sae, d_in], latent_bias [d_sae], decoder.weight [d_in, d_sae] "
        "(and activation, activation_state_dict)",
        example="autointerp inspect resid_post_mlp_v5_32k/autoencoders/8.pt",
    ),
)
