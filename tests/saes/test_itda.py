"""ITDA dictionaries saved the way the authors' code saves them load into autointerp and encode
exactly as the authors' matching pursuit does.

The authors' code (github.com/davidkaczer/itda, read at commit 1f5de82) is a set of scripts,
not an installable package (``train.py`` imports wandb, datasets and socketio at module level),
so it is not a test dependency: its save code and its encoder are transcribed below, each
with the file and function it comes from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

from autointerp.cache import cache_activations
from autointerp.config import CacheConfig
from autointerp.errors import CheckpointError
from autointerp.models.loader import load_subject_model
from autointerp.saes import load_sae
from autointerp.saes.architectures.itda import ITDASAE

D_MODEL, N_ATOMS, K, LAYER = 32, 80, 8, 3


# --------------------------------------------------------------------- the authors' code
def mp_encode(D: torch.Tensor, x: torch.Tensor, n_nonzero_coefs: int) -> torch.Tensor:
    """Verbatim from ``train.py::mp_encode`` (davidkaczer/itda)."""
    batch_size = x.size(0)
    num_dict_atoms = D.size(0)

    residuals = x.clone()
    coefficients = torch.zeros(batch_size, num_dict_atoms, device=x.device)

    for _ in range(n_nonzero_coefs):
        correlations = torch.matmul(residuals, D.T)
        best_atoms = torch.argmax(torch.abs(correlations), dim=1)
        coeff_vals = correlations[torch.arange(batch_size), best_atoms]
        coefficients[torch.arange(batch_size), best_atoms] += coeff_vals
        residuals -= coeff_vals.unsqueeze(1) * D[best_atoms]

    return coefficients


def itda_encode(atoms: torch.Tensor, k: int, x: torch.Tensor) -> torch.Tensor:
    """``train.py::ITDA.encode``."""
    x = x.to(dtype=atoms.dtype)
    shape = x.shape
    x = x.reshape(-1, shape[-1])
    activations = mp_encode(atoms, x, k)
    return activations.view(*shape[:-1], -1)


def normalize_decoder(atoms: torch.Tensor) -> torch.Tensor:
    """``train.py::ITDA.normalize_decoder`` (the trainer calls it after adding atoms;
    ``bench.py`` calls it again after loading)."""
    norms = torch.norm(atoms, dim=1).clamp_min(1e-9)
    return atoms / norms.unsqueeze(1)


def trainer_config(**overrides: Any) -> dict[str, Any]:
    """The keys of ``train.py::ITDATrainer.config``."""
    config: dict[str, Any] = {
        "wandb_name": "ITDA",
        "layer": LAYER,
        "lm_name": "EleutherAI/pythia-70m-deduped",
        "device": "cpu",
        "submodule_name": None,
        "steps": 100,
        "activation_dim": D_MODEL,
        "k": K,
        "loss_threshold": 0.125,
        "dataset": "monology/pile-uncopyrighted",
        "seq_len": 128,
        "batch_size": 4,
        "seed": None,
        "max_dict_size": 0,
    }
    config.update(overrides)
    return config


def save_like_itda(
    run_dir: Path, atoms: torch.Tensor, atom_indices: torch.Tensor, config: dict[str, Any]
) -> Path:
    """The end of ``train.py::run_training_loop``: three files in ``artifacts/runs/<id>``
    (uploaded unchanged as the W&B artifact ``atoms.pt``, ``atom_indices.pt``,
    ``metadata.yaml``)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.save(atoms, run_dir / "atoms.pt")
    torch.save(atom_indices, run_dir / "atom_indices.pt")
    with open(run_dir / "metadata.yaml", "w") as f:  # noqa: PTH123 (verbatim)
        yaml.dump(dict(config), f)
    return run_dir


# --------------------------------------------------------------------------- helpers
def _atoms(seed: int = 0, n: int = N_ATOMS, d: int = D_MODEL) -> torch.Tensor:
    """Atoms as the trainer keeps them: activation rows, normalised."""
    return normalize_decoder(torch.randn(n, d, generator=torch.Generator().manual_seed(seed)))


def _indices(n: int = N_ATOMS) -> torch.Tensor:
    return torch.stack([torch.arange(n) // 7, torch.arange(n) % 7], dim=1)


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return save_like_itda(
        tmp_path / "artifacts" / "runs" / "a1b2c3d4", _atoms(), _indices(), trainer_config()
    )


# ----------------------------------------------------------------------------- tests
@pytest.mark.parametrize("scale", [1.0, 3.0], ids=["unit-atoms", "scaled-atoms"])
def test_encode_decode_match_the_authors_code(tmp_path: Path, scale: float) -> None:
    """Trained dictionaries hold unit-norm atoms; atoms of another norm are normalised on
    load, as ``bench.py`` does before evaluating."""
    atoms = _atoms()
    folder = save_like_itda(tmp_path / "run", atoms * scale, _indices(), trainer_config())
    sae = load_sae(folder)
    assert isinstance(sae, ITDASAE)
    info = sae.info
    assert (info.format, info.architecture, info.k) == ("itda", "itda", K)
    assert (sae.d_in, sae.d_sae, sae.n_units) == (D_MODEL, N_ATOMS, 2 * N_ATOMS)
    assert info.hook_name == f"blocks.{LAYER}.hook_resid_post"
    assert info.model_name == "EleutherAI/pythia-70m-deduped"
    assert info.extra["loss_threshold"] == 0.125
    assert sae.atom_indices is not None and torch.equal(sae.atom_indices, _indices())
    torch.testing.assert_close(sae.decoder_directions(), atoms, atol=1e-6, rtol=0)

    x = torch.randn(4, 16, D_MODEL, generator=torch.Generator().manual_seed(1)) * 3
    ref_atoms = normalize_decoder(atoms * scale)
    with torch.no_grad():
        ref = itda_encode(ref_atoms, K, x)
        ours = sae.encode(x)
        torch.testing.assert_close(ours, ref, atol=1e-4, rtol=1e-4)
        assert (ours > 0).any() and (ours < 0).any(), "ITDA coefficients carry a sign"
        assert int((ours != 0).sum(-1).max()) <= K
        torch.testing.assert_close(sae.decode(ours, x), ref @ ref_atoms, atol=1e-4, rtol=1e-4)
        units = sae.encode_units(x)
        torch.testing.assert_close(
            units[..., :N_ATOMS] - units[..., N_ATOMS:], ref, atol=1e-4, rtol=1e-4
        )


def test_undercomplete_dictionary_and_repeated_atoms(tmp_path: Path) -> None:
    """Early in training a dictionary has fewer atoms than dimensions; the pursuit then picks
    the same atom again, adding to its coefficient, exactly as the authors' loop does."""
    atoms = _atoms(seed=5, n=6)
    folder = save_like_itda(tmp_path / "run", atoms, _indices(6), trainer_config(k=12))
    x = torch.randn(50, D_MODEL, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(
            load_sae(folder).encode(x), itda_encode(atoms, 12, x), atol=1e-4, rtol=1e-4
        )


def test_each_file_of_the_folder_loads_the_folder(run_dir: Path) -> None:
    """``atoms.pt`` is not mistaken for an OpenAI ``.pt`` checkpoint."""
    for name in ("atoms.pt", "atom_indices.pt", "metadata.yaml"):
        sae = load_sae(run_dir / name)
        assert (sae.info.format, sae.info.path) == ("itda", str(run_dir))


def test_defaults_of_the_authors_loader(run_dir: Path) -> None:
    """No ``k``: 40, as ``ITDA.from_pretrained``; no ``layer``: the error asks for --hook;
    no ``atom_indices.pt`` (provenance only): still loads."""
    config = trainer_config()
    del config["k"], config["layer"]
    (run_dir / "metadata.yaml").write_text(yaml.dump(config))
    (run_dir / "atom_indices.pt").unlink()
    with pytest.raises(CheckpointError, match="--hook"):
        load_sae(run_dir)
    sae = load_sae(run_dir, hook="blocks.1.hook_resid_post")
    assert (sae.info.k, sae.info.extra["k_defaulted"]) == (40, True)
    assert sae.atom_indices is None


def _rewrite(run_dir: Path, name: str, value: Any) -> None:
    if name.endswith(".yaml"):
        (run_dir / name).write_text(yaml.dump(value))
    else:
        torch.save(value, run_dir / name)


MALFORMED = [
    pytest.param("atoms.pt", None, r"atoms\.pt is missing", id="no-atoms"),
    pytest.param(
        "atoms.pt",
        torch.ones(N_ATOMS),
        r"atoms\.pt: 'atoms' must be a non-empty 2-D",
        id="atoms-1d",
    ),
    pytest.param(
        "atoms.pt",
        torch.ones(0, D_MODEL),
        r"atoms\.pt: 'atoms' must be a non-empty 2-D",
        id="atoms-empty",
    ),
    pytest.param(
        "atoms.pt", {"atoms": _atoms()}, r"atoms\.pt must hold a single tensor", id="atoms-dict"
    ),
    pytest.param(
        "atoms.pt",
        _atoms().index_fill(0, torch.tensor([3]), float("nan")),
        r"atoms\.pt: tensor 'atoms' contains NaN",
        id="atoms-nan",
    ),
    pytest.param(
        "atoms.pt",
        torch.ones(N_ATOMS, D_MODEL, dtype=torch.int64),
        r"atoms\.pt: tensor 'atoms' has dtype torch\.int64",
        id="atoms-int",
    ),
    pytest.param(
        "atom_indices.pt",
        torch.zeros(N_ATOMS - 1, 2, dtype=torch.long),
        r"atom_indices\.pt: 'atom_indices' has shape \(79, 2\), expected \(80, 2\)",
        id="indices-shape",
    ),
    pytest.param(
        "atom_indices.pt",
        torch.zeros(N_ATOMS, 2),
        r"atom_indices\.pt: 'atom_indices' has dtype torch\.float32",
        id="indices-float",
    ),
    pytest.param("metadata.yaml", None, r"metadata\.yaml is missing", id="no-metadata"),
    pytest.param(
        "metadata.yaml", [1, 2], r"metadata\.yaml must hold a YAML mapping", id="metadata-list"
    ),
    pytest.param(
        "metadata.yaml",
        trainer_config(activation_dim=64),
        r"metadata\.yaml: 'activation_dim' is 64 but the atoms in atoms\.pt are 32 wide",
        id="activation-dim",
    ),
    pytest.param(
        "metadata.yaml",
        trainer_config(k=0),
        r"metadata\.yaml: 'k' must be an integer >= 1, got 0",
        id="k-zero",
    ),
    pytest.param(
        "metadata.yaml",
        trainer_config(layer="three"),
        r"metadata\.yaml: 'layer' must be an integer >= 0",
        id="layer-str",
    ),
]


@pytest.mark.parametrize(("name", "value", "message"), MALFORMED)
def test_malformed_files_name_the_file_and_field(
    run_dir: Path, name: str, value: Any, message: str
) -> None:
    if value is None:
        (run_dir / name).unlink()
    else:
        _rewrite(run_dir, name, value)
    with pytest.raises(CheckpointError, match=message):
        load_sae(run_dir)


def test_broken_yaml(run_dir: Path) -> None:
    (run_dir / "metadata.yaml").write_text("k: [8\n")
    with pytest.raises(CheckpointError, match=r"metadata\.yaml is not valid YAML"):
        load_sae(run_dir)


def test_pickled_objects_are_refused(run_dir: Path) -> None:
    """``atoms.pt`` is read with ``weights_only=True``: a pickled object is never run."""
    torch.save(np.ones((N_ATOMS, D_MODEL)), run_dir / "atoms.pt")
    with pytest.raises(CheckpointError, match=r"atoms\.pt is not a weights-only checkpoint"):
        load_sae(run_dir)


# ------------------------------------------------------------------------ end to end
def test_caching_an_itda_dictionary_on_the_tiny_llama(tiny_llama: Path, tmp_path: Path) -> None:
    """Atoms taken from the model's own activations at ``blocks.1.hook_resid_post`` (as ITDA
    training takes them); the cached per-unit maxima equal the authors' encoder applied to
    the same hidden states (HF ``hidden_states[2]`` is layer 1's output)."""
    subject = load_subject_model(str(tiny_llama))
    gen = np.random.default_rng(0)
    train, tokens = gen.integers(3, 5000, size=(2, 6, 12))
    train[:, 0] = tokens[:, 0] = 1
    with torch.no_grad():
        hidden = subject.model(torch.from_numpy(train), output_hidden_states=True).hidden_states
        rows = hidden[2][:, 1:].reshape(-1, subject.d_model)
        atoms = normalize_decoder(
            rows[torch.randperm(len(rows), generator=torch.Generator().manual_seed(0))[:48]]
        )
        folder = save_like_itda(
            tmp_path / "run",
            atoms,
            _indices(48),
            trainer_config(layer=1, activation_dim=subject.d_model, k=6),
        )
        sae = load_sae(folder)
        stats = cache_activations(
            subject, sae, tokens, CacheConfig(batch_size=4, dtype="float32"), seed=0, progress=False
        )
        x = subject.model(torch.from_numpy(tokens), output_hidden_states=True).hidden_states[2]
        ref = itda_encode(atoms, 6, x[:, 1:].float()).reshape(-1, 48)
    assert stats.d_sae == 96
    expected_max = torch.cat([ref.clamp(min=0).amax(0), (-ref).clamp(min=0).amax(0)])
    torch.testing.assert_close(stats.act_max, expected_max, atol=1e-4, rtol=1e-4)
    assert int(stats.fire_count[:48].sum()) > 0 and int(stats.fire_count[48:].sum()) > 0
    assert int(stats.fire_count.sum()) <= 6 * tokens.shape[0] * (tokens.shape[1] - 1)
