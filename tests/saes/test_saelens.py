"""SAELens checkpoints built by sae-lens itself load into autointerp and encode/decode exactly
as sae-lens does; malformed checkpoints give clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from autointerp.errors import CheckpointError
from autointerp.saes import load_sae
from tests.helpers import write_saelens

sae_lens = pytest.importorskip("sae_lens")

D_IN, D_SAE = 48, 192


def _randomise(sae: torch.nn.Module, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in sae.named_parameters():
            param.copy_(torch.randn(param.shape, generator=gen) * 0.3)
            if name == "threshold":
                param.abs_()


def _reference(kind: str, tmp: Path, **extra: object):  # type: ignore[no-untyped-def]
    meta = sae_lens.saes.sae.SAEMetadata(hook_name="blocks.3.hook_resid_post", model_name="m")
    common = {"d_in": D_IN, "d_sae": D_SAE, "metadata": meta, **extra}
    cls, cfg_cls = {
        "standard": (sae_lens.StandardSAE, sae_lens.StandardSAEConfig),
        "jumprelu": (sae_lens.JumpReLUSAE, sae_lens.JumpReLUSAEConfig),
        "topk": (sae_lens.TopKSAE, sae_lens.TopKSAEConfig),
    }[kind]
    sae = cls(cfg_cls(**common))
    _randomise(sae, seed=len(kind))
    sae.save_model(tmp)
    return sae_lens.SAE.load_from_disk(tmp)


CASES = [
    ("standard", {}),
    ("standard", {"apply_b_dec_to_input": False}),
    ("standard", {"normalize_activations": "layer_norm"}),
    ("jumprelu", {}),
    ("topk", {"k": 7}),
    ("topk", {"k": 7, "rescale_acts_by_decoder_norm": True}),
    ("topk", {"k": 7, "normalize_activations": "constant_norm_rescale"}),
]


@pytest.mark.parametrize(
    ("kind", "extra"), CASES, ids=[f"{k}-{'-'.join(e) or 'plain'}" for k, e in CASES]
)
def test_encode_decode_match_sae_lens(tmp_path: Path, kind: str, extra: dict[str, object]) -> None:
    ref = _reference(kind, tmp_path, **extra)
    ours = load_sae(tmp_path)
    assert ours.info.architecture == kind
    assert (ours.d_in, ours.d_sae) == (D_IN, D_SAE)
    assert ours.info.hook_name == "blocks.3.hook_resid_post"
    x = torch.randn(64, D_IN, generator=torch.Generator().manual_seed(1)) * 2
    with torch.no_grad():
        ref_acts = ref.encode(x)
        ours_acts = ours.encode(x)
        torch.testing.assert_close(ours_acts, ref_acts, atol=1e-4, rtol=1e-4)
        assert (ours_acts > 0).any(), "the test input should make some latents fire"
        torch.testing.assert_close(
            ours.decode(ours_acts, x), ref.decode(ref_acts), atol=1e-4, rtol=1e-4
        )


def test_pre_v6_config_with_topk_activation_fn(tmp_path: Path) -> None:
    """Older SAELens configs put hook_name at the top level and TopK in activation_fn."""
    path = write_saelens(tmp_path, d_in=16, d_sae=32, architecture="standard", k=None)
    cfg = json.loads((path / "cfg.json").read_text())
    del cfg["metadata"], cfg["architecture"]
    cfg.update(
        hook_name="blocks.1.hook_resid_pre",
        model_name="gpt2",
        activation_fn_str="topk",
        activation_fn_kwargs={"k": 4},
    )
    (path / "cfg.json").write_text(json.dumps(cfg))
    sae = load_sae(path)
    assert (sae.info.architecture, sae.info.k, sae.info.model_name) == ("topk", 4, "gpt2")
    acts = sae.encode(torch.randn(5, 16))
    assert ((acts > 0).sum(-1) <= 4).all()


def test_demo_checkpoint_loads() -> None:
    sae = load_sae("demo")
    assert sae.info.architecture == "topk"
    assert sae.info.model_name == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert sae.d_in == 576 and sae.d_sae >= 2048


# --------------------------------------------------------------------------- errors
def _error(path: Path | str) -> str:
    with pytest.raises(CheckpointError) as info:
        load_sae(path)
    return str(info.value)


def test_missing_path(tmp_path: Path) -> None:
    assert "does not exist" in _error(tmp_path / "nope")


def test_folder_without_checkpoint_files(tmp_path: Path) -> None:
    msg = _error(tmp_path)
    assert "not a checkpoint" in msg and "cfg.json" in msg


def test_missing_weights_file(tmp_path: Path) -> None:
    path = write_saelens(tmp_path, d_in=8, d_sae=16)
    (path / "sae_weights.safetensors").unlink()
    assert "sae_weights.safetensors is missing" in _error(path)


def test_malformed_json(tmp_path: Path) -> None:
    path = write_saelens(tmp_path, d_in=8, d_sae=16)
    (path / "cfg.json").write_text("{not json")
    msg = _error(path)
    assert "cfg.json" in msg and "not valid JSON" in msg


def test_unknown_architecture(tmp_path: Path) -> None:
    path = write_saelens(tmp_path, d_in=8, d_sae=16, architecture="wavelet")
    msg = _error(path)
    assert "'wavelet' is not supported" in msg and "topk" in msg


def test_shape_mismatch_between_config_and_weights(tmp_path: Path) -> None:
    path = write_saelens(tmp_path, d_in=8, d_sae=16, cfg_extra={"d_sae": 32})
    msg = _error(path)
    assert "W_enc" in msg and "(8, 16)" in msg and "(8, 32)" in msg


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights(tmp_path: Path, bad: float) -> None:
    path = write_saelens(tmp_path, d_in=8, d_sae=16)
    weights = load_file(str(path / "sae_weights.safetensors"))
    weights["W_dec"][3, 2] = bad
    save_file(weights, str(path / "sae_weights.safetensors"))
    msg = _error(path)
    assert "W_dec" in msg and "NaN or Inf" in msg


def test_integer_weights(tmp_path: Path) -> None:
    path = write_saelens(tmp_path, d_in=8, d_sae=16)
    weights = load_file(str(path / "sae_weights.safetensors"))
    weights["b_enc"] = torch.zeros(16, dtype=torch.int32)
    save_file(weights, str(path / "sae_weights.safetensors"))
    assert "b_enc" in _error(path) and "int32" in _error(path)


def test_missing_tensor(tmp_path: Path) -> None:
    path = write_saelens(tmp_path, d_in=8, d_sae=16, architecture="jumprelu")
    weights = load_file(str(path / "sae_weights.safetensors"))
    del weights["threshold"]
    save_file(weights, str(path / "sae_weights.safetensors"))
    assert "'threshold'" in _error(path)


def test_corrupt_safetensors(tmp_path: Path) -> None:
    path = write_saelens(tmp_path, d_in=8, d_sae=16)
    (path / "sae_weights.safetensors").write_bytes(b"\x00garbage")
    assert "not a readable safetensors file" in _error(path)


def test_bad_k(tmp_path: Path) -> None:
    path = write_saelens(tmp_path, d_in=8, d_sae=16, k=99)
    assert "k=99" in _error(path)


def test_unsupported_normalisation(tmp_path: Path) -> None:
    path = write_saelens(
        tmp_path, d_in=8, d_sae=16, cfg_extra={"normalize_activations": "whatever"}
    )
    assert "normalize_activations='whatever'" in _error(path)
