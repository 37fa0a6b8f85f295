"""ITDA dictionaries (Leask et al. 2025), as the authors' ``train.py`` (github.com/davidkaczer/
itda, ``run_training_loop``) saves them in a run folder and uploads them as a W&B artifact:

* ``atoms.pt`` -- ``torch.save(atoms)``: one float tensor [n_atoms, d_model], unit-norm rows;
* ``atom_indices.pt`` -- ``torch.save(atom_indices)``: int64 [n_atoms, 2], the (training
  sequence, token position) each atom was taken from (optional here: provenance only);
* ``metadata.yaml`` -- ``yaml.dump`` of the trainer config: ``k`` (pursuit steps; the authors'
  ``ITDA.from_pretrained`` uses 40 when it is missing), ``layer`` (the atoms read
  ``blocks.{layer}.hook_resid_post``, as in the authors' ``bench.py``), ``lm_name``,
  ``activation_dim``, ``loss_threshold``, ``dataset``, ...

Atoms are re-normalised on load as the authors' ``bench.py`` does (a no-op for their trained
dictionaries); encoding is their matching pursuit (see ``architectures/itda.py``). Both ``.pt``
files are read with ``torch.load(weights_only=True)`` only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from autointerp.errors import CheckpointError
from autointerp.saes.architectures.itda import ITDASAE
from autointerp.saes.base import SaeInfo, check_tensor
from autointerp.saes.formats import FORMATS, CheckpointFormat, file_sha256, read_mapping
from autointerp.saes.probe import Probe
from autointerp.saes.weights import load_torch_tensor

__all__ = ["ATOMS", "ATOM_INDICES", "DEFAULT_K", "METADATA", "load_itda"]

ATOMS, ATOM_INDICES, METADATA = "atoms.pt", "atom_indices.pt", "metadata.yaml"
DEFAULT_K = 40
"""``ITDA.from_pretrained``'s ``cfg.get("k", 40)``."""
_EXTRA_KEYS = ("dataset", "loss_threshold", "seq_len", "wandb_name")


def _folder(path: Path) -> Path:
    return path.parent if path.is_file() else path


def _by_name(path: Path) -> bool:
    """A folder (or one of its three files) holding ``atoms.pt``, or ``metadata.yaml`` next to
    ``atom_indices.pt`` (so that a missing ``atoms.pt`` is reported as such)."""
    folder = _folder(path)
    if path.is_file() and path.name not in (ATOMS, ATOM_INDICES, METADATA):
        return False
    return (folder / ATOMS).is_file() or (
        (folder / METADATA).is_file() and (folder / ATOM_INDICES).is_file()
    )


def _detect(probe: Probe) -> bool:
    """By content: ``atoms.pt`` holds one bare tensor (not a state dict) next to
    ``metadata.yaml``."""
    folder = _folder(probe.path)
    if probe.path.is_file() and probe.path.name not in (ATOMS, ATOM_INDICES, METADATA):
        return False
    atoms = folder / ATOMS
    return (
        atoms.is_file() and (folder / METADATA).is_file() and probe.tensors(atoms) == {"": "Tensor"}
    )


def _int_field(meta: dict[str, Any], key: str, where: Path, *, minimum: int) -> int | None:
    value = meta.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise CheckpointError(f"{where}: {key!r} must be an integer >= {minimum}, got {value!r}")
    return value


def _atoms(path: Path) -> torch.Tensor:
    atoms = load_torch_tensor(path)
    if atoms.ndim != 2 or 0 in atoms.shape:
        raise CheckpointError(
            f"{path}: 'atoms' must be a non-empty 2-D tensor [n_atoms, d_model], "
            f"got shape {tuple(atoms.shape)}"
        )
    check_tensor(path, "atoms", atoms, tuple(atoms.shape), "n_atoms, d_model")
    return atoms


def _atom_indices(path: Path, n_atoms: int) -> torch.Tensor | None:
    if not path.exists():
        return None
    indices = load_torch_tensor(path)
    if tuple(indices.shape) != (n_atoms, 2):
        raise CheckpointError(
            f"{path}: 'atom_indices' has shape {tuple(indices.shape)}, expected ({n_atoms}, 2) "
            f"(one (sequence, token) pair per atom in {ATOMS})"
        )
    if indices.is_floating_point() or indices.is_complex() or indices.dtype == torch.bool:
        raise CheckpointError(
            f"{path}: 'atom_indices' has dtype {indices.dtype}, expected an integer type"
        )
    return indices.to(torch.int64)


def load_itda(path: Path) -> ITDASAE:
    folder = _folder(path)
    meta_path = folder / METADATA
    meta = read_mapping(meta_path, syntax="YAML", needed_for="ITDA needs k and layer from it")
    atoms = _atoms(folder / ATOMS)
    n_atoms, d_model = (int(n) for n in atoms.shape)
    declared = _int_field(meta, "activation_dim", meta_path, minimum=1)
    if declared is not None and declared != d_model:
        raise CheckpointError(
            f"{meta_path}: 'activation_dim' is {declared} but the atoms in {ATOMS} are "
            f"{d_model} wide"
        )
    k = _int_field(meta, "k", meta_path, minimum=1)
    layer = _int_field(meta, "layer", meta_path, minimum=0)
    lm_name = meta.get("lm_name")
    weights = atoms.to(torch.float32)
    # ITDA.normalize_decoder, which the authors' bench.py applies after loading.
    weights = weights / weights.norm(dim=1, keepdim=True).clamp_min(1e-9)
    extra: dict[str, Any] = {
        key: meta[key] for key in _EXTRA_KEYS if isinstance(meta.get(key), str | int | float)
    }
    if k is None:
        extra["k_defaulted"] = True
    info = SaeInfo(
        path=str(folder),
        format="itda",
        architecture="itda",
        d_in=d_model,
        d_sae=n_atoms,
        hook_name=f"blocks.{layer}.hook_resid_post" if layer is not None else "",
        model_name=lm_name if isinstance(lm_name, str) and lm_name else None,
        dtype=str(atoms.dtype).removeprefix("torch."),
        sha256=file_sha256(folder / ATOMS)[:16],
        apply_b_dec_to_input=False,
        k=k if k is not None else DEFAULT_K,
        extra=extra,
    )
    sae = ITDASAE(info, {"W_dec": weights})
    sae.atom_indices = _atom_indices(folder / ATOM_INDICES, n_atoms)
    return sae


FORMATS.add(
    "itda",
    CheckpointFormat(
        name="itda",
        detect=_detect,
        by_name=_by_name,
        load=load_itda,
        expects=f"a folder with {ATOMS} + {METADATA} (+ {ATOM_INDICES}), as ITDA's train.py saves",
        example="autointerp inspect artifacts/runs/abcd1234",
    ),
)
