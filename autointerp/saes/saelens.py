"""SAELens checkpoints: ``cfg.json`` + ``sae_weights.safetensors`` (+ optional
``sparsity.safetensors``).

Reads v6 configs (``architecture`` + ``metadata.hook_name``) and pre-6.0 configs (top-level
``hook_name`` or ``hook_point``, ``activation_fn_str``/``activation_fn_kwargs``, boolean
``normalize_activations``). Transcoder architectures map onto the plain activation plus
``d_out``/``hook_name_out`` (and ``W_skip`` for skip transcoders); sae-lens 6 does not save
``hook_name_out``, so unless it can be inferred (MLP input -> MLP output) it stays unknown
(``''``) and only steering asks for it. Hook names may be TransformerLens names or module
paths (``model.layers.15``). BatchTopK and Matryoshka SAEs are saved by SAELens as
``jumprelu``; their training checkpoints (``topk_threshold``) are converted the same way.
``hook_z`` SAEs read the flattened per-head attention outputs, which is what autointerp's
``attn.hook_z`` hook gives; with ``hook_head_index=H`` they read head H only, the hook point
``attn.hook_z:head=H``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from autointerp.errors import CheckpointError
from autointerp.saes.base import ARCHITECTURES, SaeInfo, SparseCoder
from autointerp.saes.formats import (
    FORMATS,
    CheckpointFormat,
    file_sha256,
    positive_int,
    read_mapping,
)
from autointerp.saes.probe import Probe
from autointerp.saes.sparsify import is_sparsify_cfg
from autointerp.saes.weights import load_safetensors, safetensors_dtype

__all__ = ["load_saelens", "saelens_info"]

CFG = "cfg.json"
WEIGHTS = "sae_weights.safetensors"
SPARSITY = "sparsity.safetensors"

# SAELens architecture name -> (autointerp activation, is a transcoder)
_ALIASES: dict[str, tuple[str, bool]] = {
    "transcoder": ("standard", True),
    "skip_transcoder": ("standard", True),
    "jumprelu_transcoder": ("jumprelu", True),
    "jumprelu_skip_transcoder": ("jumprelu", True),
    "batchtopk": ("jumprelu", False),
    "matryoshka_batchtopk": ("jumprelu", False),
}
_SKIP = ("skip_transcoder", "jumprelu_skip_transcoder")
_BATCHTOPK = ("batchtopk", "matryoshka_batchtopk")
# Where a transcoder's output goes when its config does not say: MLP input -> MLP output.
_TRANSCODER_OUT = {"ln2.hook_normalized": "hook_mlp_out", "hook_mlp_in": "hook_mlp_out"}


def _folder(path: Path) -> Path:
    return path.parent if path.is_file() and path.name in (WEIGHTS, CFG) else path


def _detect(probe: Probe) -> bool:
    folder = _folder(probe.path)
    if not folder.is_dir() or not (folder / CFG).is_file() or is_sparsify_cfg(folder / CFG):
        return False
    return probe.has(folder / WEIGHTS, frozenset({"W_dec"}))


def _by_name(path: Path) -> bool:
    path = _folder(path)
    if not path.is_dir() or (path / "sae.safetensors").exists():  # that is sparsify's layout
        return False
    if (path / WEIGHTS).exists():
        return True
    return (path / CFG).exists() and not is_sparsify_cfg(path / CFG)


def _saelens_architecture(cfg: dict[str, Any]) -> str:
    arch = cfg.get("architecture")
    act_fn = cfg.get("activation_fn_str") or cfg.get("activation_fn")
    if arch in (None, "standard") and act_fn == "topk":
        return "topk"
    return "standard" if arch is None else str(arch)


def _architecture(saelens_arch: str, cfg_path: Path) -> tuple[str, bool]:
    arch, transcoder = _ALIASES.get(saelens_arch, (saelens_arch, False))
    if arch not in ARCHITECTURES:
        names = sorted({*ARCHITECTURES.names(), *_ALIASES} - {"neurons", "groupmax"})
        raise CheckpointError(
            f"{cfg_path}: architecture {saelens_arch!r} is not supported; expected one of "
            f"{', '.join(names)}"
        )
    return arch, transcoder


def _normalization(cfg: dict[str, Any]) -> str:
    value = cfg.get("normalize_activations")
    if isinstance(value, bool):  # pre-6.0: True meant the dataset-wide scaling, as SAELens reads it
        return "expected_average_only_in" if value else "none"
    return str(value or "none")


def _hook_name_out(hook_name: str, found: Any) -> str:
    """The transcoder's output hook point: as its config names it, inferred from an MLP-input
    hook, else '' (unknown: what steers refuses and asks for ``hook_out``)."""
    if isinstance(found, str) and found:
        return found
    for suffix_in, suffix_out in _TRANSCODER_OUT.items():
        if hook_name.endswith(suffix_in):
            return hook_name[: -len(suffix_in)] + suffix_out
    return ""


def _hook_name(hook_name: str, head: Any, cfg_path: Path) -> str:
    """``hook_name``, with ``:head=H`` for an SAE on one head of attn.hook_z (SAELens reads
    ``activations[:, :, hook_head_index]`` of hook_z's [batch, pos, n_heads, d_head])."""
    if head is None:
        return hook_name
    if not isinstance(head, int) or isinstance(head, bool) or head < 0:
        raise CheckpointError(f"{cfg_path}: hook_head_index must be an integer >= 0, got {head!r}")
    if not hook_name.endswith("attn.hook_z"):
        raise CheckpointError(
            f"{cfg_path}: hook_head_index={head} is supported on blocks.<L>.attn.hook_z "
            f"(one head's output), not on {hook_name!r}"
        )
    return f"{hook_name}:head={head}"


def _sparsity_summary(path: Path, d_sae: int) -> dict[str, Any]:
    """Dead-latent count from SAELens's optional log10 feature sparsity file."""
    if not (path / SPARSITY).is_file():
        return {}
    tensors = load_safetensors(path / SPARSITY)
    log_sparsity = tensors.get("sparsity")
    if log_sparsity is None or tuple(log_sparsity.shape) != (d_sae,):
        shape = None if log_sparsity is None else tuple(log_sparsity.shape)
        raise CheckpointError(
            f"{path / SPARSITY}: expected a tensor 'sparsity' of shape ({d_sae},) (log10 "
            f"feature densities), got {shape if shape else 'none'}"
        )
    dead = int((log_sparsity < -9).sum())  # SAELens writes log10(0 + 1e-10) = -10 for dead
    return {"sparsity_file": SPARSITY, "dead_latents_in_sparsity_file": dead}


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _extra(
    cfg: dict[str, Any], meta: dict[str, Any], arch: str, saelens_arch: str
) -> dict[str, Any]:
    """Architecture options the coder needs, plus what ``inspect`` should show."""
    extra: dict[str, Any] = {"saelens_architecture": saelens_arch}
    if meta.get("training_architecture"):
        extra["training_architecture"] = meta["training_architecture"]
    if arch in ("topk", "abstopk") or saelens_arch in _BATCHTOPK:
        extra["rescale_acts_by_decoder_norm"] = bool(cfg.get("rescale_acts_by_decoder_norm"))
    if arch == "matching_pursuit":
        extra["max_iterations"] = cfg.get("max_iterations")
        extra["residual_threshold"] = float(cfg.get("residual_threshold", 1e-2))
        extra["stop_on_duplicate_support"] = bool(cfg.get("stop_on_duplicate_support", True))
    if cfg.get("reshape_activations", "none") != "none":
        extra["reshape_activations"] = cfg["reshape_activations"]
    return extra


def saelens_info(path: Path) -> SaeInfo:
    """Parse and check ``cfg.json`` (no weights are read)."""
    cfg_path, weights_path = path / CFG, path / WEIGHTS
    cfg = read_mapping(cfg_path)
    if not weights_path.is_file():
        raise CheckpointError(
            f"{weights_path} is missing (SAELens checkpoints need {CFG} + {WEIGHTS})"
        )
    raw_meta = cfg.get("metadata")
    meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
    d_in, d_sae = positive_int(cfg, "d_in", cfg_path), positive_int(cfg, "d_sae", cfg_path)
    hook_name = _first(meta.get("hook_name"), cfg.get("hook_name"), cfg.get("hook_point"))
    if not isinstance(hook_name, str):
        raise CheckpointError(f"{cfg_path}: no hook_name (in 'metadata' or at the top level)")
    head = _first(
        meta.get("hook_head_index"), cfg.get("hook_head_index"), cfg.get("hook_point_head_index")
    )
    saelens_arch = _saelens_architecture(cfg)
    arch, transcoder = _architecture(saelens_arch, cfg_path)
    k = None
    if arch in ("topk", "abstopk"):
        k = _first(cfg.get("k"), (cfg.get("activation_fn_kwargs") or {}).get("k"))
    hook_out = _first(meta.get("hook_name_out"), cfg.get("hook_name_out"))
    return SaeInfo(
        path=str(path),
        format="saelens",
        architecture=arch,
        d_in=d_in,
        d_sae=d_sae,
        hook_name=_hook_name(hook_name, head, cfg_path),
        model_name=_first(meta.get("model_name"), cfg.get("model_name")),
        dtype=safetensors_dtype(weights_path, "W_dec"),
        sha256=file_sha256(weights_path)[:16],
        apply_b_dec_to_input=bool(cfg.get("apply_b_dec_to_input", not transcoder)),
        normalize_activations=_normalization(cfg),
        k=int(k) if k is not None else None,
        d_out=int(cfg["d_out"]) if transcoder and cfg.get("d_out") else None,
        hook_name_out=_hook_name_out(hook_name, hook_out) if transcoder else None,
        extra={**_extra(cfg, meta, arch, saelens_arch), **_sparsity_summary(path, d_sae)},
    )


def load_saelens(path: Path) -> SparseCoder:
    path = _folder(path)
    info = saelens_info(path)
    weights = load_safetensors(path / WEIGHTS)
    skip = info.extra["saelens_architecture"] in _SKIP
    if ("W_skip" in weights) != skip:
        problem = (
            "has no tensor 'W_skip'" if skip else "has W_skip, which only skip transcoders use"
        )
        raise CheckpointError(
            f"{path / WEIGHTS}: {problem} (architecture {info.extra['saelens_architecture']!r})"
        )
    if info.extra["saelens_architecture"] in _BATCHTOPK and "topk_threshold" in weights:
        weights = _batchtopk_as_jumprelu(weights, info)
    return ARCHITECTURES.get(info.architecture)(info, _scalars_to_vectors(weights, info))


def _batchtopk_as_jumprelu(weights: dict[str, torch.Tensor], info: SaeInfo) -> dict[str, Any]:
    """A BatchTopK training checkpoint -> the JumpReLU weights SAELens saves for inference
    (the running threshold for every latent, decoder norms folded into the encoder)."""
    out = {name: t for name, t in weights.items() if name != "topk_threshold"}
    threshold = weights["topk_threshold"]
    if threshold.numel() != 1 or not threshold.is_floating_point():
        raise CheckpointError(f"{info.path}: 'topk_threshold' must be a float scalar")
    fold = ("W_enc", "b_enc", "W_dec")
    if info.extra["rescale_acts_by_decoder_norm"] and all(
        name in out and out[name].is_floating_point() for name in fold
    ):
        norm = out["W_dec"].to(torch.float32).norm(dim=-1).clamp(min=1e-8)
        out["W_enc"] = out["W_enc"] * norm
        out["b_enc"] = out["b_enc"] * norm
        out["W_dec"] = out["W_dec"] / norm[:, None]
    out["threshold"] = threshold.reshape(()).to(torch.float32)
    return out


def _scalars_to_vectors(weights: dict[str, torch.Tensor], info: SaeInfo) -> dict[str, Any]:
    """A scalar threshold (BatchTopK) applies to every latent."""
    thr = weights.get("threshold")
    if thr is not None and thr.ndim == 0:
        weights = {**weights, "threshold": thr.expand(info.d_sae).clone()}
    return weights


FORMATS.add(
    "saelens",
    CheckpointFormat(
        name="saelens",
        detect=_detect,
        by_name=_by_name,
        load=load_saelens,
        expects=f"a folder with {CFG} (d_in, d_sae, architecture, hook_name) + {WEIGHTS} "
        "(W_enc [d_in, d_sae], W_dec [d_sae, d_out], b_enc, b_dec, ...)",
        example="autointerp inspect path/to/saelens_folder   # cfg.json + sae_weights.safetensors",
    ),
)
