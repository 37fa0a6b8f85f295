"""EleutherAI sparsify checkpoints built and saved by sparsify itself (random weights) load
into autointerp and encode/decode exactly as sparsify's own loaded coder does; run folders
load one coder per hook point; malformed checkpoints give clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file

from autointerp.errors import CheckpointError
from autointerp.models.hooks import parse_hook_name
from autointerp.saes import load_sae, load_saes

sparsify = pytest.importorskip("sparsify")

D_IN, D_SAE, K = 32, 128, 8
TOL: dict[str, Any] = {"atol": 1e-4, "rtol": 1e-4}
MODEL = "EleutherAI/pythia-70m"


def _save_and_reload(path: Path, seed: int = 0, **cfg: Any) -> Any:
    """A sparsify coder with random weights, saved with ``save_to_disk`` and loaded back."""
    config = sparsify.SparseCoderConfig(num_latents=D_SAE, k=K, **cfg)
    coder = sparsify.SparseCoder(D_IN, config)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in coder.parameters():  # encoder.weight/bias, W_dec, b_dec (, W_skip)
            param.copy_(torch.randn(param.shape, generator=gen) * 0.3)
    coder.save_to_disk(path)
    return sparsify.SparseCoder.load_from_disk(path)


def _input(n: int = 64) -> torch.Tensor:
    return torch.randn(n, D_IN, generator=torch.Generator().manual_seed(1)) * 2


CASES = [
    pytest.param({}, id="topk"),
    pytest.param({"activation": "groupmax"}, id="groupmax"),
    pytest.param({"skip_connection": True}, id="topk-skip"),
    pytest.param({"transcode": True}, id="transcoder"),
    pytest.param({"transcode": True, "skip_connection": True}, id="skip-transcoder"),
    pytest.param({"transcode": True, "activation": "groupmax"}, id="groupmax-transcoder"),
]


@pytest.mark.parametrize("cfg", CASES)
def test_encode_decode_match_sparsify(tmp_path: Path, cfg: dict[str, Any]) -> None:
    path = tmp_path / "layers.3.mlp"
    ref = _save_and_reload(path, **cfg)
    ours = load_sae(path)
    transcode = cfg.get("transcode", False)
    assert ours.info.format == "sparsify"
    assert (ours.info.architecture, ours.info.k) == (cfg.get("activation", "topk"), K)
    assert (ours.d_in, ours.d_sae, ours.d_out) == (D_IN, D_SAE, D_IN)
    assert ours.has_skip == cfg.get("skip_connection", False)
    assert ours.info.apply_b_dec_to_input == (not transcode)
    if transcode:
        assert (ours.info.hook_name, ours.info.hook_name_out) == (
            "layers.3.mlp:input",
            "layers.3.mlp",
        )
        assert parse_hook_name(ours.info.hook_name).read_input
    else:
        assert (ours.info.hook_name, ours.info.hook_name_out) == ("layers.3.mlp", None)

    x = _input()
    with torch.no_grad():
        top_acts, top_indices, _ = ref.encode(x)
        ref_acts = torch.zeros(len(x), D_SAE).scatter_(-1, top_indices, top_acts)
        ref_out = ref(x).sae_out  # decode(top_acts, top_indices) (+ x @ W_skip.T)
        acts = ours.encode(x)
        out = ours.decode(acts, x)
    torch.testing.assert_close(acts, ref_acts, **TOL)
    torch.testing.assert_close(out, ref_out, **TOL)
    torch.testing.assert_close(ours.decode(ref_acts, x), ref_out, **TOL)
    per_token = (acts > 0).sum(-1)
    assert per_token.float().mean() > K / 2 and (per_token <= K).all()
    if cfg.get("activation") == "groupmax":  # at most one latent per group of D_SAE // K
        assert ((acts.unflatten(-1, (K, -1)) > 0).sum(-1) <= 1).all()


def _run_folder(tmp_path: Path) -> Path:
    """A run folder as sparsify's trainer writes it: hook-point folders + config.json."""
    from sparsify.__main__ import RunConfig

    run = tmp_path / "run"
    for seed, hook in enumerate(["layers.10.mlp", "layers.2.mlp"]):
        _save_and_reload(run / hook, seed=seed)
    RunConfig(sae=sparsify.SparseCoderConfig(), model=MODEL).save_json(run / "config.json")
    return run


def test_run_folder_loads_one_coder_per_hook_point(tmp_path: Path) -> None:
    run = _run_folder(tmp_path)
    coders = load_saes(run)
    assert [c.info.hook_name for c in coders] == ["layers.2.mlp", "layers.10.mlp"]
    assert all(c.info.model_name == MODEL for c in coders)
    assert not torch.equal(coders[0].W_dec, coders[1].W_dec)
    single = load_saes(run / "layers.2.mlp")
    assert len(single) == 1 and single[0].info.model_name == MODEL


def test_load_sae_on_a_run_folder_lists_the_hook_points(tmp_path: Path) -> None:
    run = _run_folder(tmp_path)
    with pytest.raises(CheckpointError) as info:
        load_sae(run)
    msg = str(info.value)
    assert str(run) in msg and "2 hook points" in msg
    assert "layers.2.mlp, layers.10.mlp" in msg


def test_no_run_config_means_no_model_name(tmp_path: Path) -> None:
    _save_and_reload(tmp_path / "layers.0")
    assert load_sae(tmp_path / "layers.0").info.model_name is None


# --------------------------------------------------------------------------- errors
def _error(path: Path) -> str:
    with pytest.raises(CheckpointError) as info:
        load_sae(path)
    return str(info.value)


def _edit_weights(path: Path, changes: dict[str, torch.Tensor | None]) -> Path:
    """Replace (or, for None, delete) tensors of ``sae.safetensors``; returns its path."""
    weights = load_file(str(path / "sae.safetensors"))
    for name, tensor in changes.items():
        if tensor is None:
            del weights[name]
        else:
            weights[name] = tensor
    save_file(weights, str(path / "sae.safetensors"))
    return path / "sae.safetensors"


def test_missing_weights_file(tmp_path: Path) -> None:
    path = tmp_path / "layers.3.mlp"
    _save_and_reload(path)
    (path / "sae.safetensors").unlink()
    msg = _error(path)
    assert str(path / "sae.safetensors") in msg and "is missing" in msg


def test_unknown_activation(tmp_path: Path) -> None:
    path = tmp_path / "layers.3.mlp"
    _save_and_reload(path)
    cfg = json.loads((path / "cfg.json").read_text())
    (path / "cfg.json").write_text(json.dumps({**cfg, "activation": "jumprelu"}))
    msg = _error(path)
    assert str(path / "cfg.json") in msg and "'jumprelu' is not supported" in msg
    assert "topk" in msg and "groupmax" in msg


def test_wrong_shape(tmp_path: Path) -> None:
    path = tmp_path / "layers.3.mlp"
    _save_and_reload(path)
    file = _edit_weights(path, {"W_dec": torch.zeros(D_SAE, D_IN + 1)})
    msg = _error(path)
    assert str(file) in msg and "'W_dec'" in msg and f"({D_SAE}, {D_IN})" in msg


def test_d_in_disagrees_with_encoder(tmp_path: Path) -> None:
    path = tmp_path / "layers.3.mlp"
    _save_and_reload(path)
    cfg = json.loads((path / "cfg.json").read_text())
    (path / "cfg.json").write_text(json.dumps({**cfg, "d_in": D_IN * 2}))
    msg = _error(path)
    assert "'encoder.weight'" in msg and f"d_in={D_IN * 2} from cfg.json" in msg


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights(tmp_path: Path, bad: float) -> None:
    path = tmp_path / "layers.3.mlp"
    _save_and_reload(path)
    encoder = load_file(str(path / "sae.safetensors"))["encoder.weight"]
    encoder[5, 1] = bad
    file = _edit_weights(path, {"encoder.weight": encoder})
    msg = _error(path)
    assert str(file) in msg and "'encoder.weight'" in msg and "NaN or Inf" in msg


def test_integer_weights(tmp_path: Path) -> None:
    path = tmp_path / "layers.3.mlp"
    _save_and_reload(path)
    file = _edit_weights(path, {"encoder.bias": torch.zeros(D_SAE, dtype=torch.int32)})
    msg = _error(path)
    assert str(file) in msg and "'encoder.bias'" in msg and "int32" in msg


def test_missing_tensor(tmp_path: Path) -> None:
    path = tmp_path / "layers.3.mlp"
    _save_and_reload(path)
    file = _edit_weights(path, {"b_dec": None})
    assert f"{file}: no tensor 'b_dec'" in _error(path)


def test_skip_connection_without_w_skip(tmp_path: Path) -> None:
    path = tmp_path / "layers.3.mlp"
    _save_and_reload(path, skip_connection=True)
    _edit_weights(path, {"W_skip": None})
    assert "skip_connection=True" in _error(path)


def test_bad_groupmax_k(tmp_path: Path) -> None:
    path = tmp_path / "layers.3.mlp"
    _save_and_reload(path, activation="groupmax")
    cfg = json.loads((path / "cfg.json").read_text())
    (path / "cfg.json").write_text(json.dumps({**cfg, "k": 7}))
    assert "groupmax needs k > 0 dividing d_sae=128" in _error(path)
