"""SAELens checkpoints: ``cfg.json`` + ``sae_weights.safetensors``.

Reads v6 configs (``architecture`` + ``metadata.hook_name``) and pre-6.0 configs (top-level
``hook_name``/``model_name``, ``activation_fn_str``/``activation_fn_kwargs``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autointerp.errors import CheckpointError
from autointerp.saes.base import ARCHITECTURES, SaeInfo, SparseCoder
from autointerp.saes.formats import FORMATS, CheckpointFormat, file_sha256, read_json

__all__ = ["load_saelens", "saelens_info"]

CFG = "cfg.json"
WEIGHTS = "sae_weights.safetensors"


def _detect(path: Path) -> bool:
    return (
        path.is_dir()
        and ((path / WEIGHTS).exists() or (path / CFG).exists())
        and not (path / "sae.safetensors").exists()
    )


def _architecture(cfg: dict[str, Any], cfg_path: Path) -> tuple[str, int | None]:
    arch = cfg.get("architecture")
    act_fn = cfg.get("activation_fn_str") or cfg.get("activation_fn")
    kwargs = cfg.get("activation_fn_kwargs") or {}
    k = cfg.get("k", kwargs.get("k"))
    if arch in (None, "standard") and act_fn == "topk":
        arch = "topk"
    if arch is None:
        arch = "standard"
    if arch not in ARCHITECTURES:
        raise CheckpointError(
            f"{cfg_path}: architecture {arch!r} is not supported; expected one of "
            f"{', '.join(ARCHITECTURES.names())}"
        )
    return str(arch), (int(k) if k is not None else None)


_DTYPES = {"f16": "float16", "bf16": "bfloat16", "f32": "float32", "f64": "float64"}


def _stored_dtype(weights_path: Path) -> str:
    """The dtype of W_enc as stored (read from the safetensors header only)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(weights_path), framework="pt") as fh:
            if "W_enc" in fh.keys():  # noqa: SIM118 - safe_open is not a mapping
                short = str(fh.get_slice("W_enc").get_dtype()).lower()
                return _DTYPES.get(short, short)
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{weights_path} is not a readable safetensors file: {exc}") from None
    return "unknown"


def saelens_info(path: Path) -> SaeInfo:
    """Parse and check ``cfg.json`` (no weights are read)."""
    cfg_path, weights_path = path / CFG, path / WEIGHTS
    cfg = read_json(cfg_path)
    if not weights_path.is_file():
        raise CheckpointError(
            f"{weights_path} is missing (SAELens checkpoints need {CFG} + {WEIGHTS})"
        )
    raw_meta = cfg.get("metadata")
    meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
    for key in ("d_in", "d_sae"):
        if not isinstance(cfg.get(key), int) or cfg[key] <= 0:
            raise CheckpointError(
                f"{cfg_path}: {key!r} must be a positive integer, got {cfg.get(key)!r}"
            )
    hook_name = meta.get("hook_name") or cfg.get("hook_name")
    if not isinstance(hook_name, str):
        raise CheckpointError(f"{cfg_path}: no hook_name (in 'metadata' or at the top level)")
    arch, k = _architecture(cfg, cfg_path)
    extra = {"rescale_acts_by_decoder_norm": bool(cfg.get("rescale_acts_by_decoder_norm", False))}
    return SaeInfo(
        path=str(path),
        format="saelens",
        architecture=arch,
        d_in=int(cfg["d_in"]),
        d_sae=int(cfg["d_sae"]),
        hook_name=hook_name,
        model_name=meta.get("model_name") or cfg.get("model_name"),
        dtype=_stored_dtype(weights_path),
        sha256=file_sha256(weights_path)[:16],
        apply_b_dec_to_input=bool(cfg.get("apply_b_dec_to_input", True)),
        normalize_activations=str(cfg.get("normalize_activations") or "none"),
        k=k,
        extra=extra,
    )


def load_saelens(path: Path) -> SparseCoder:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    info = saelens_info(path)
    try:
        weights = load_file(str(path / WEIGHTS))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(
            f"{path / WEIGHTS} is not a readable safetensors file: {exc}"
        ) from None
    return ARCHITECTURES.get(info.architecture)(info, weights)


FORMATS.add(
    "saelens",
    CheckpointFormat(
        name="saelens",
        detect=_detect,
        load=load_saelens,
        expects=f"a folder with {CFG} + {WEIGHTS}",
    ),
)
