"""Formats are recognised by what the files hold (tensor names and shapes), not by their names;
``sae_format`` forces one; when nothing matches, the error says what was found and what each
format expects.

OpenAI's ``sparse_autoencoder`` is not installed: its state dicts are written by the
line-for-line reference of its ``model.py`` in ``test_openai_format`` (``Autoencoder.state_dict``
adds ``activation`` and ``activation_state_dict`` to the module's tensors, including the
``stats_last_nonzero`` / ``latents_activation_frequency`` / ``latents_mean_square`` buffers).
dictionary_learning checkpoints are written by its own classes (the ``dl`` fixture)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from autointerp.cli.options import add_run_options, config_from_args
from autointerp.config import RunConfig
from autointerp.errors import CheckpointError, ConfigError
from autointerp.saes import FORMATS, load_sae, load_saes
from tests.helpers import write_saelens
from tests.saes.test_dictionary_learning import _build, _save, dl  # noqa: F401  (fixture)
from tests.saes.test_openai_format import D_IN, _reference

HOOK = "blocks.2.hook_resid_post"


def _error(path: Path, **kwargs: Any) -> str:
    with pytest.raises(CheckpointError) as info:
        load_sae(path, **kwargs)
    return str(info.value)


def _gemmascope_npz(path: Path, d_in: int = 8, d_sae: int = 16) -> Path:
    rng = np.random.default_rng(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        path,
        W_enc=rng.normal(size=(d_in, d_sae)).astype(np.float32),
        W_dec=rng.normal(size=(d_sae, d_in)).astype(np.float32),
        b_enc=np.zeros(d_sae, np.float32),
        b_dec=np.zeros(d_in, np.float32),
        threshold=np.full(d_sae, 0.1, np.float32),
    )
    return path


@pytest.mark.parametrize("activation", ["TopK", "ReLU"])
def test_openai_state_dict_saved_as_ae_pt(tmp_path: Path, activation: str) -> None:
    """The user's case: OpenAI weights saved as ae.pt were taken for dictionary_learning
    ("config.json is missing"). By content they are OpenAI's, as a file or as its folder."""
    ref = _reference(activation)
    folder = tmp_path / "my-sae"
    folder.mkdir()
    torch.save(ref.state_dict(), folder / "ae.pt")
    x = torch.randn(32, D_IN, generator=torch.Generator().manual_seed(0)) * 2
    for spec in (folder / "ae.pt", folder):
        sae = load_sae(spec, hook=HOOK)
        assert sae.info.format == "openai"
        assert sae.info.architecture == ("topk" if activation == "TopK" else "standard")
        with torch.no_grad():
            torch.testing.assert_close(sae.encode(x), ref.encode(x)[0], atol=1e-4, rtol=1e-4)


def test_openai_state_dict_under_any_name(tmp_path: Path) -> None:
    path = tmp_path / "weights.bin"
    torch.save(_reference("TopK").state_dict(), path)
    assert load_sae(path, hook=HOOK).info.format == "openai"


def test_dictionary_learning_ae_pt_still_loads(dl: dict[str, Any], tmp_path: Path) -> None:  # noqa: F811
    folder = _save(_build(dl, "GatedAutoEncoder", None), tmp_path / "t", "GatedAutoEncoder")
    for spec in (folder, folder / "ae.pt"):
        assert load_sae(spec).info.format == "dictionary_learning"
    (folder / "config.json").unlink()
    msg = _error(folder)
    assert "config.json is missing" in msg and "trainer.dict_class" in msg


def test_nothing_matches_lists_what_was_found_and_expected(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    folder = tmp_path / "mystery"
    folder.mkdir()
    save_file({"enc": torch.zeros(8, 16), "dec": torch.zeros(16, 8)}, str(folder / "w.safetensors"))
    (folder / "notes.txt").write_text("hi")
    msg = _error(folder)
    assert str(folder) in msg and "not a checkpoint autointerp recognises" in msg
    assert "notes.txt" in msg and "w.safetensors holds dec [16, 8], enc [8, 16]" in msg
    for name in FORMATS:
        assert f"{name}: " in msg, name
    assert "pre_bias" in msg and "sae_weights.safetensors" in msg and "--sae-format" in msg


def test_torch_file_of_no_known_layout(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    torch.save({"layer.weight": torch.zeros(3, 4), "step": 7}, path)
    msg = _error(path)
    assert "model.pt holds layer.weight [3, 4], step=7" in msg and "openai expects" in msg
    assert "missing pre_bias, encoder.weight, latent_bias" in msg


@pytest.mark.parametrize(
    ("name", "content"),
    [("notes.yaml", b"k: 32\nlayer: 3\n"), ("sae.bin", b"\x80\x02garbage"), ("empty.pt", b"")],
)
def test_a_file_that_is_no_weights_file(tmp_path: Path, name: str, content: bytes) -> None:
    """Any bytes (text, a broken pickle, nothing) give a CheckpointError naming the file, never
    the unpickler's own IndexError or KeyError."""
    path = tmp_path / name
    path.write_bytes(content)
    assert name in _error(path)


def test_named_like_a_format_but_holding_something_else(tmp_path: Path) -> None:
    """File names alone still pick the loader (its error is the most precise), and the error
    adds what the files hold."""
    folder = tmp_path / "t"
    folder.mkdir()
    torch.save({"weird": torch.zeros(2)}, folder / "ae.pt")
    msg = _error(folder)
    assert "by its file names" in msg and "ae.pt holds weird [2]" in msg


def test_two_formats_match_then_sae_format_chooses(dl: dict[str, Any], tmp_path: Path) -> None:  # noqa: F811
    folder = _save(_build(dl, "AutoEncoderTopK", None), tmp_path / "both", "AutoEncoderTopK")
    _gemmascope_npz(folder / "params.npz", d_in=32)
    msg = _error(folder)
    assert "dictionary_learning, gemmascope" in msg and "--sae-format" in msg
    assert load_sae(folder, sae_format="dictionary_learning").info.format == "dictionary_learning"
    gemma = load_sae(folder, sae_format="gemmascope", hook=HOOK)
    assert (gemma.info.format, gemma.d_in) == ("gemmascope", 32)
    assert [s.info.format for s in load_saes(folder, sae_format="dictionary_learning")] == [
        "dictionary_learning"
    ]


def test_forced_format_that_does_not_fit(tmp_path: Path) -> None:
    path = _gemmascope_npz(tmp_path / "params.npz")
    with pytest.raises(CheckpointError, match="not a readable torch checkpoint"):
        load_sae(path, sae_format="openai", hook=HOOK)
    with pytest.raises(ConfigError, match="unknown checkpoint format 'safetensor'; available"):
        load_sae(path, sae_format="safetensor")


def test_saelens_weights_file_itself(tmp_path: Path) -> None:
    folder = write_saelens(tmp_path / "s", d_in=8, d_sae=16, architecture="jumprelu", k=None)
    sae = load_sae(folder / "sae_weights.safetensors")
    assert (sae.info.format, sae.info.path) == ("saelens", str(folder))


def test_sae_format_in_the_config_and_on_the_command_line(tmp_path: Path) -> None:
    cfg = RunConfig(sae="x", sae_format="openai", hook_out="blocks.1.hook_mlp_out")
    assert cfg.to_dict()["sae_format"] == "openai"
    assert RunConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="sae_format: unknown checkpoint format 'nope'"):
        RunConfig.from_dict({"sae_format": "nope"})
    parser = argparse.ArgumentParser()
    add_run_options(parser)
    args = parser.parse_args(["--sae-format", "gemmascope", "--hook-out", "layers.1.mlp"])
    parsed = config_from_args(args)
    assert (parsed.sae_format, parsed.hook_out) == ("gemmascope", "layers.1.mlp")
    submit = argparse.ArgumentParser()
    add_run_options(submit, service=True)  # 'submit' takes the same options
    assert config_from_args(submit.parse_args(["--sae-format", "openai"])).sae_format == "openai"
    # --format is the same option (the spelling; 'scores' and 'export' keep theirs).
    assert config_from_args(parser.parse_args(["--format", "openai"])).sae_format == "openai"


def test_formats_imports_no_format_module() -> None:
    """Each format module imports ``formats`` (to register), never the other way: a format
    that splits a path into several checkpoints says so (``CheckpointFormat.split``)."""
    import ast

    from autointerp.saes import formats

    tree = ast.parse(Path(formats.__file__).read_text(encoding="utf-8"))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not {m for m in imported if m and m.split(".")[-1] in FORMATS}
    assert FORMATS.get("sparsify").split is not None
    assert [name for name in FORMATS if FORMATS.get(name).split] == ["sparsify"]
