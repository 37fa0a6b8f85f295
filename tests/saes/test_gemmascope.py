"""Gemma Scope checkpoints (``params.npz``; Gemma Scope 2's ``params.safetensors`` +
``config.json``) load into autointerp, encode/decode with the published JumpReLU formula,
and get their hook point and model from Google's release layout."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from autointerp.errors import CheckpointError
from autointerp.saes import load_sae

D_IN, D_SAE = 32, 128
RELEASE = "gemma-scope-2b-pt-res/layer_12/width_16k/average_l0_82"


def _params(seed: int = 0, d_out: int = D_IN) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "W_enc": (rng.normal(size=(D_IN, D_SAE)) * 0.3).astype(np.float32),
        "W_dec": (rng.normal(size=(D_SAE, d_out)) * 0.3).astype(np.float32),
        "b_enc": (rng.normal(size=D_SAE) * 0.2).astype(np.float32),
        "b_dec": (rng.normal(size=d_out) * 0.2).astype(np.float32),
        "threshold": rng.uniform(0.1, 0.8, size=D_SAE).astype(np.float32),
    }


def _write_npz(folder: Path, params: dict[str, np.ndarray]) -> Path:
    folder.mkdir(parents=True)
    np.savez(folder / "params.npz", **params)
    return folder


def _reference(params: dict[str, np.ndarray], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gemma Scope's JumpReLU: no b_dec subtraction on the way in."""
    pre = x @ params["W_enc"] + params["b_enc"]
    acts = (pre > params["threshold"]) * np.maximum(pre, 0)
    return acts, acts @ params["W_dec"] + params["b_dec"]


def _check_matches(folder: Path, params: dict[str, np.ndarray], **load: str) -> None:
    sae = load_sae(folder, **load)
    x = np.random.default_rng(9).normal(size=(40, D_IN)).astype(np.float32) * 2
    ref_acts, ref_recon = _reference(params, x)
    with torch.no_grad():
        acts = sae.encode(torch.from_numpy(x))
        torch.testing.assert_close(acts, torch.from_numpy(ref_acts), atol=1e-4, rtol=1e-4)
        assert (acts > 0).any() and (acts == 0).any()
        recon = sae.decode(acts, torch.from_numpy(x))
        torch.testing.assert_close(recon, torch.from_numpy(ref_recon), atol=1e-4, rtol=1e-4)


def test_gemma_scope_npz_matches_the_published_formula(tmp_path: Path) -> None:
    params = _params()
    folder = _write_npz(tmp_path / RELEASE, params)
    sae = load_sae(folder)
    info = sae.info
    assert (info.format, info.architecture) == ("gemmascope", "jumprelu")
    assert (sae.d_in, sae.d_sae) == (D_IN, D_SAE)
    assert info.hook_name == "blocks.12.hook_resid_post"
    assert info.model_name == "google/gemma-2-2b"
    assert not info.apply_b_dec_to_input and not info.transcoder
    _check_matches(folder, params)
    # The params.npz file itself is an equally good spec.
    assert load_sae(folder / "params.npz").info.hook_name == "blocks.12.hook_resid_post"


@pytest.mark.parametrize(
    ("release", "hook", "model"),
    [
        ("gemma-scope-2b-pt-mlp", "blocks.3.hook_mlp_out", "google/gemma-2-2b"),
        ("gemma-scope-2b-pt-att", "blocks.3.attn.hook_z", "google/gemma-2-2b"),
        ("gemma-scope-9b-it-res", "blocks.3.hook_resid_post", "google/gemma-2-9b-it"),
    ],
)
def test_release_names_the_site(tmp_path: Path, release: str, hook: str, model: str) -> None:
    folder = _write_npz(tmp_path / release / "layer_3" / "width_16k" / "canonical", _params())
    info = load_sae(folder).info
    assert (info.hook_name, info.model_name, info.hook_name_out) == (hook, model, None)


def test_transcoder_release(tmp_path: Path) -> None:
    params = _params(seed=2)
    folder = tmp_path / "gemma-scope-2b-pt-transcoders" / "layer_5" / "width_16k" / "average_l0_9"
    _write_npz(folder, params)
    sae = load_sae(folder)
    assert sae.info.transcoder
    assert sae.info.hook_name == "blocks.5.ln2.hook_normalized"
    assert sae.info.hook_name_out == "blocks.5.hook_mlp_out"
    _check_matches(folder, params)


def test_path_without_the_layout_needs_hook(tmp_path: Path) -> None:
    params = _params(seed=1)
    folder = _write_npz(tmp_path / "downloads" / "my_sae", params)
    with pytest.raises(CheckpointError, match="--hook") as info:
        load_sae(folder)
    assert "params.npz" in str(info.value)
    sae = load_sae(folder, hook="blocks.4.hook_resid_post")
    assert (sae.info.hook_name, sae.info.model_name) == ("blocks.4.hook_resid_post", None)
    _check_matches(folder, params, hook="blocks.4.hook_resid_post")


_RAN: list[str] = []


def _side_effect(tag: str) -> str:
    _RAN.append(tag)
    return tag


class Payload:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return _side_effect, ("payload ran",)


def test_npz_with_a_pickled_object_array_is_refused(tmp_path: Path) -> None:
    params: dict[str, np.ndarray] = {**_params(), "meta": np.array([Payload()], dtype=object)}
    folder = _write_npz(tmp_path / RELEASE, params)
    _RAN.clear()
    with pytest.raises(CheckpointError, match="refusing to load pickled arrays"):
        load_sae(folder)
    assert _RAN == [], "the pickled object must never be unpickled"


def test_npz_that_is_not_a_zip(tmp_path: Path) -> None:
    folder = tmp_path / RELEASE
    folder.mkdir(parents=True)
    (folder / "params.npz").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match=r"params\.npz is not a readable \.npz file"):
        load_sae(folder)


def test_npz_without_w_enc(tmp_path: Path) -> None:
    params = _params()
    del params["W_enc"]
    with pytest.raises(CheckpointError, match="no 2-D array 'W_enc'.*W_dec"):
        load_sae(_write_npz(tmp_path / RELEASE, params))


def test_npz_missing_threshold(tmp_path: Path) -> None:
    params = _params()
    del params["threshold"]
    with pytest.raises(CheckpointError, match="'threshold'"):
        load_sae(_write_npz(tmp_path / RELEASE, params))


# --------------------------------------------------------------------------- Gemma Scope 2
def _write_gs2(folder: Path, params: dict[str, np.ndarray], config: dict[str, object]) -> Path:
    folder.mkdir(parents=True)
    names = {"W_enc": "w_enc", "W_dec": "w_dec"}
    tensors = {names.get(k, k): torch.from_numpy(v) for k, v in params.items()}
    save_file(tensors, str(folder / "params.safetensors"))
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_gemma_scope_2_folder(tmp_path: Path) -> None:
    params = _params(seed=3)
    config = {
        "hf_hook_point_in": "model.layers.7.output",
        "width": D_SAE,
        "model_name": "google/gemma-3-1b-pt",
        "architecture": "jump_relu",
        "l0": 20,
        "type": "sae",
    }
    folder = _write_gs2(
        tmp_path / "gemma-scope-2-1b-pt" / "resid_post" / "layer_7_width_16k_l0_small",
        params,
        config,
    )
    sae = load_sae(folder)
    assert sae.info.path.endswith("params.safetensors")
    assert (sae.info.hook_name, sae.info.model_name) == (
        "blocks.7.hook_resid_post",
        "google/gemma-3-1b-pt",
    )
    _check_matches(folder, params)


@pytest.mark.parametrize(
    ("site", "hook"),
    [("attn_out", "blocks.4.attn.hook_z"), ("mlp_out_all", "blocks.4.hook_mlp_out")],
)
def test_gemma_scope_2_site_from_folder_names(tmp_path: Path, site: str, hook: str) -> None:
    """Without hf_hook_point_in, the folder layout names the site; the repo names the model."""
    folder = tmp_path / "gemma-scope-2-270m-pt" / site / "layer_4_width_16k_l0_big"
    _write_gs2(folder, _params(), {"architecture": "jump_relu"})
    info = load_sae(folder).info
    assert (info.hook_name, info.model_name) == (hook, "google/gemma-3-270m")


def test_gemma_scope_2_affine_transcoder(tmp_path: Path) -> None:
    params = _params(seed=4)
    skip = (np.random.default_rng(5).normal(size=(D_IN, D_IN)) * 0.1).astype(np.float32)
    config = {
        "hf_hook_point_in": "model.layers.5.pre_feedforward_layernorm.output",
        "hf_hook_point_out": "model.layers.5.post_feedforward_layernorm.output",
        "model_name": "gemma-v3-4b-it",
        "architecture": "jump_relu",
        "affine_connection": True,
        "type": "transcoder",
    }
    folder = tmp_path / "transcoder_all" / "layer_5_width_16k_l0_big_affine"
    _write_gs2(folder, {**params, "affine_skip_connection": skip}, config)
    sae = load_sae(folder)
    info = sae.info
    assert info.transcoder and info.model_name == "google/gemma-3-4b-it"
    assert (info.hook_name, info.hook_name_out) == (
        "blocks.5.ln2.hook_normalized",
        "blocks.5.hook_mlp_out",
    )
    x = np.random.default_rng(6).normal(size=(12, D_IN)).astype(np.float32)
    ref_acts, ref_out = _reference(params, x)
    with torch.no_grad():
        acts = sae.encode(torch.from_numpy(x))
        torch.testing.assert_close(acts, torch.from_numpy(ref_acts), atol=1e-4, rtol=1e-4)
        out = sae.decode(acts, torch.from_numpy(x))
    torch.testing.assert_close(out, torch.from_numpy(ref_out + x @ skip), atol=1e-4, rtol=1e-4)


def test_gemma_scope_2_other_architecture(tmp_path: Path) -> None:
    folder = tmp_path / "resid_post" / "layer_1_width_16k_l0_small"
    _write_gs2(folder, _params(), {"architecture": "topk"})
    with pytest.raises(CheckpointError, match="architecture 'topk' is not supported"):
        load_sae(folder)
