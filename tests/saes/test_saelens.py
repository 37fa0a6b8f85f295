"""SAELens checkpoints built and saved by sae-lens itself (random weights) load into
autointerp and encode/decode exactly as sae-lens's own loaded SAE does; malformed checkpoints
give clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file

from autointerp.errors import CheckpointError
from autointerp.saes import SparseCoder, load_sae
from tests.helpers import write_saelens

sae_lens = pytest.importorskip("sae_lens")

D_IN, D_SAE, D_OUT = 48, 192, 40
HOOK = "blocks.3.hook_resid_post"
TC_IN, TC_OUT = "blocks.3.ln2.hook_normalized", "blocks.3.hook_mlp_out"
TOL: dict[str, Any] = {"atol": 1e-4, "rtol": 1e-4}
NORMS = ["layer_norm", "constant_norm_rescale", "expected_average_only_in", "covariance_whitening"]
# SAELens architecture -> the autointerp activation it loads as
OURS = {
    "transcoder": "standard",
    "skip_transcoder": "standard",
    "jumprelu_transcoder": "jumprelu",
    "jumprelu_skip_transcoder": "jumprelu",
}


def _randomise(sae: torch.nn.Module, seed: int) -> None:
    """Every parameter ~ N(0, 0.3^2); thresholds positive and large enough to mask some
    latents that ReLU alone would keep."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in sae.named_parameters():
            param.copy_(torch.randn(param.shape, generator=gen) * 0.3)
            if name == "threshold":
                param.abs_().mul_(5)


def _input(*shape: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * 2


def _metadata(arch: str = "standard", hook: str = HOOK) -> Any:
    if arch in OURS:
        return sae_lens.saes.sae.SAEMetadata(hook_name=TC_IN, hook_name_out=TC_OUT, model_name="m")
    return sae_lens.saes.sae.SAEMetadata(hook_name=hook, model_name="m")


def _save_and_reload(arch: str, path: Path, **cfg: Any) -> Any:
    """Build a sae-lens SAE with random weights, save it as sae-lens does, load it back."""
    sae_cls, cfg_cls = sae_lens.registry.get_sae_class(arch)
    if arch in OURS:
        cfg = {"d_out": D_OUT, "apply_b_dec_to_input": False, **cfg}
    metadata = cfg.pop("metadata", None) or _metadata(arch)
    sae = sae_cls(cfg_cls(d_in=D_IN, d_sae=D_SAE, metadata=metadata, **cfg))
    _randomise(sae, seed=len(arch))
    sae.save_model(path)
    return sae_lens.SAE.load_from_disk(path)


def _assert_same(ours: SparseCoder, ref: Any, x: torch.Tensor) -> torch.Tensor:
    """Latents equal ``ref.encode(x)``; ``decode(acts, x)`` equals ``ref(x)`` (which adds the
    skip term for skip transcoders and undoes input normalisation)."""
    with torch.no_grad():
        ref_acts, acts = ref.encode(x), ours.encode(x)
        ref_out, out = ref(x), ours.decode(acts, x)
    torch.testing.assert_close(acts, ref_acts, **TOL)
    torch.testing.assert_close(out, ref_out, **TOL)
    assert (acts != 0).sum(-1).float().mean() >= 1, "the test input should make latents fire"
    return acts


CASES = [
    pytest.param("standard", {}, id="standard"),
    pytest.param("standard", {"apply_b_dec_to_input": False}, id="standard-no-b_dec-in"),
    *[pytest.param("standard", {"normalize_activations": n}, id=f"standard-{n}") for n in NORMS],
    pytest.param("gated", {}, id="gated"),
    pytest.param(
        "gated",
        {"apply_b_dec_to_input": False, "normalize_activations": "layer_norm"},
        id="gated-no-b_dec-in-layer_norm",
    ),
    pytest.param("jumprelu", {}, id="jumprelu"),
    pytest.param("jumprelu", {"normalize_activations": "constant_norm_rescale"}, id="jumprelu-cnr"),
    pytest.param("topk", {"k": 7}, id="topk"),
    pytest.param("topk", {"k": 7, "rescale_acts_by_decoder_norm": True}, id="topk-rescale"),
    pytest.param(
        "topk",
        {"k": 7, "rescale_acts_by_decoder_norm": True, "normalize_activations": "layer_norm"},
        id="topk-rescale-layer_norm",
    ),
    pytest.param("topk", {"k": 7, "normalize_activations": "constant_norm_rescale"}, id="topk-cnr"),
    pytest.param("abstopk", {"k": 7}, id="abstopk"),
    pytest.param("abstopk", {"k": 7, "rescale_acts_by_decoder_norm": True}, id="abstopk-rescale"),
    pytest.param("matching_pursuit", {}, id="mp"),
    pytest.param("matching_pursuit", {"max_iterations": 5}, id="mp-max5"),
    pytest.param(
        "matching_pursuit",
        {"max_iterations": 3, "stop_on_duplicate_support": False, "residual_threshold": 0.0},
        id="mp-max3-no-early-stop",
    ),
    pytest.param(
        "matching_pursuit",
        {"apply_b_dec_to_input": False, "normalize_activations": "layer_norm"},
        id="mp-no-b_dec-in-layer_norm",
    ),
    pytest.param("transcoder", {}, id="transcoder"),
    pytest.param("skip_transcoder", {}, id="skip_transcoder"),
    pytest.param("jumprelu_transcoder", {}, id="jumprelu_transcoder"),
    pytest.param("jumprelu_skip_transcoder", {}, id="jumprelu_skip_transcoder"),
]


@pytest.mark.parametrize(("arch", "cfg"), CASES)
def test_encode_decode_match_sae_lens(tmp_path: Path, arch: str, cfg: dict[str, Any]) -> None:
    ref = _save_and_reload(arch, tmp_path, **cfg)
    ours = load_sae(tmp_path)
    transcoder = arch in OURS
    assert ours.info.architecture == OURS.get(arch, arch)
    assert ours.info.extra["saelens_architecture"] == arch
    assert (ours.d_in, ours.d_sae, ours.d_out) == (D_IN, D_SAE, D_OUT if transcoder else D_IN)
    assert (ours.info.hook_name, ours.info.hook_name_out) == (
        (TC_IN, TC_OUT) if transcoder else (HOOK, None)
    )
    assert ours.info.normalize_activations == cfg.get("normalize_activations", "none")
    assert ours.info.apply_b_dec_to_input == cfg.get("apply_b_dec_to_input", not transcoder)
    assert ours.has_skip == ("skip" in arch)
    acts = _assert_same(ours, ref, _input(64, D_IN))
    if arch == "abstopk":
        assert (acts < 0).any() and (acts > 0).any(), "AbsTopK latents fire in both directions"
        assert ((acts != 0).sum(-1) == 7).all()
    if arch == "matching_pursuit":
        assert ((acts != 0).sum(-1) <= cfg.get("max_iterations", D_IN)).all()


@pytest.mark.parametrize("max_iterations", [None, 4])
def test_matching_pursuit_encode_is_bit_exact(tmp_path: Path, max_iterations: int | None) -> None:
    """Same greedy steps in the same order: no tolerance needed."""
    ref = _save_and_reload("matching_pursuit", tmp_path, max_iterations=max_iterations)
    ours = load_sae(tmp_path)
    x = _input(3, 20, D_IN)  # extra batch dims are flattened and restored
    with torch.no_grad():
        assert torch.equal(ours.encode(x), ref.encode(x))


def test_abstopk_units_split_signed_latents(tmp_path: Path) -> None:
    _save_and_reload("abstopk", tmp_path, k=7)
    ours = load_sae(tmp_path)
    x = _input(32, D_IN)
    acts, units = ours.encode(x), ours.encode_units(x)
    assert ours.signed and ours.n_units == 2 * D_SAE and units.shape == (32, 2 * D_SAE)
    assert (units >= 0).all()
    torch.testing.assert_close(units[:, :D_SAE] - units[:, D_SAE:], acts)
    assert ours.unit(D_SAE + 5) == (5, "-") and ours.unit(5) == (5, "+")


def test_transcoder_with_layer_norm_input(tmp_path: Path) -> None:
    ref = _save_and_reload("transcoder", tmp_path, normalize_activations="layer_norm")
    _assert_same(load_sae(tmp_path), ref, _input(64, D_IN))


def test_hook_z_flattened_heads(tmp_path: Path) -> None:
    """sae-lens fed [B, n_heads, d_head] and autointerp fed [B, n_heads * d_head] agree."""
    n_heads, d_head = 4, D_IN // 4
    meta = _metadata(hook="blocks.0.attn.hook_z")
    ref = _save_and_reload("standard", tmp_path, reshape_activations="hook_z", metadata=meta)
    ours = load_sae(tmp_path)
    assert ours.info.hook_name == "blocks.0.attn.hook_z"
    assert ours.info.extra["reshape_activations"] == "hook_z"
    z = _input(16, n_heads, d_head)
    with torch.no_grad():
        ref_acts, ref_out = ref.encode(z), ref(z)
        acts = ours.encode(z.flatten(-2))
        out = ours.decode(acts, z.flatten(-2))
    torch.testing.assert_close(acts, ref_acts, **TOL)
    torch.testing.assert_close(out.unflatten(-1, (n_heads, d_head)), ref_out, **TOL)


TRAINING = [
    pytest.param("batchtopk", {"k": 4.0}, id="batchtopk-rescale"),
    pytest.param(
        "batchtopk", {"k": 4.0, "rescale_acts_by_decoder_norm": False}, id="batchtopk-plain"
    ),
    pytest.param(
        "matryoshka_batchtopk", {"k": 4.0, "matryoshka_widths": [64, D_SAE]}, id="matryoshka"
    ),
    pytest.param("topk", {"k": 7}, id="topk-rescale"),
    pytest.param("jumprelu", {}, id="jumprelu"),
    pytest.param("gated", {}, id="gated"),
]


@pytest.mark.parametrize(("arch", "cfg"), TRAINING)
def test_training_sae_saved_for_inference(tmp_path: Path, arch: str, cfg: dict[str, Any]) -> None:
    """A sae-lens training SAE saved as sae-lens saves it for inference (BatchTopK becomes
    jumprelu) and as a training checkpoint (``save_model``) both match the inference SAE
    sae-lens loads."""
    sae_cls, cfg_cls = sae_lens.registry.get_sae_training_class(arch)
    train = sae_cls(cfg_cls(d_in=D_IN, d_sae=D_SAE, metadata=_metadata(), **cfg))
    _randomise(train, seed=3)
    if hasattr(train, "topk_threshold"):
        train.topk_threshold.fill_(1.5)
    train.save_inference_model(tmp_path / "inference")
    train.save_model(tmp_path / "training")
    ref = sae_lens.SAE.load_from_disk(tmp_path / "inference")
    x = _input(64, D_IN)
    for folder in ("inference", "training"):
        ours = load_sae(tmp_path / folder)
        expected = "jumprelu" if "batchtopk" in arch else arch
        assert (ours.info.architecture, ours.info.hook_name) == (expected, HOOK)
        acts = _assert_same(ours, ref, x)
        if "batchtopk" in arch:
            assert ours.info.extra.get("training_architecture") == arch
            assert ((acts > 0) & (acts <= 1.5)).sum() == 0, "threshold 1.5 applies everywhere"


# --------------------------------------------------------------------------- sparsity file
def test_sparsity_file_reports_dead_latents(tmp_path: Path) -> None:
    _save_and_reload("standard", tmp_path)
    density = torch.rand(D_SAE, generator=torch.Generator().manual_seed(0)) * 0.1
    density[[3, 50, 77]] = 0.0
    save_file({"sparsity": torch.log10(density + 1e-10)}, str(tmp_path / "sparsity.safetensors"))
    extra = load_sae(tmp_path).info.extra
    assert extra["dead_latents_in_sparsity_file"] == 3
    assert extra["sparsity_file"] == "sparsity.safetensors"


def test_sparsity_file_is_optional(tmp_path: Path) -> None:
    _save_and_reload("standard", tmp_path)
    assert "dead_latents_in_sparsity_file" not in load_sae(tmp_path).info.extra


def test_sparsity_file_of_the_wrong_width(tmp_path: Path) -> None:
    _save_and_reload("standard", tmp_path)
    save_file({"sparsity": torch.zeros(D_SAE - 1)}, str(tmp_path / "sparsity.safetensors"))
    msg = _error(tmp_path)
    assert "sparsity.safetensors" in msg and f"({D_SAE},)" in msg


# --------------------------------------------------------------------------- pre-6.0 configs
def _pre_v6(cfg: dict[str, Any], old_names: bool) -> dict[str, Any]:
    """A sae-lens 6 cfg.json rewritten the way sae-lens 5 (or, with ``old_names``, sae-lens
    < 3: ``hook_point``, boolean ``normalize_activations``) wrote it."""
    meta = cfg.pop("metadata")
    cfg.pop("reshape_activations")
    arch = cfg.pop("architecture")
    cfg.update(
        model_name=meta["model_name"],
        sae_lens_training_version="5.5.2",
        hook_head_index=None,
        activation_fn_str="relu",
        activation_fn_kwargs={},
        finetuning_scaling_factor=False,
    )
    if arch == "topk":
        cfg.update(activation_fn_str="topk", activation_fn_kwargs={"k": cfg.pop("k")})
        cfg.pop("rescale_acts_by_decoder_norm")
    elif arch != "standard":
        cfg["architecture"] = arch
    if old_names:
        del cfg["hook_head_index"]
        cfg.update(hook_point=meta["hook_name"], hook_point_head_index=None)
        cfg["normalize_activations"] = cfg["normalize_activations"] != "none"
    else:
        cfg["hook_name"] = meta["hook_name"]
    return cfg


@pytest.mark.parametrize(
    ("arch", "cfg", "old_names"),
    [
        pytest.param("topk", {"k": 6}, False, id="v5-topk-activation_fn"),
        pytest.param("jumprelu", {}, False, id="v5-jumprelu"),
        pytest.param("standard", {}, True, id="v2-hook_point"),
        pytest.param(
            "standard",
            {"normalize_activations": "expected_average_only_in"},
            True,
            id="v2-normalize-true",
        ),
    ],
)
def test_pre_v6_config(tmp_path: Path, arch: str, cfg: dict[str, Any], old_names: bool) -> None:
    _save_and_reload(arch, tmp_path, **cfg)
    cfg_path = tmp_path / "cfg.json"
    cfg_path.write_text(json.dumps(_pre_v6(json.loads(cfg_path.read_text()), old_names)))
    ref = sae_lens.SAE.load_from_disk(tmp_path)  # sae-lens's own reading of the old config
    ours = load_sae(tmp_path)
    assert (ours.info.architecture, ours.info.k) == (arch, cfg.get("k"))
    assert (ours.info.hook_name, ours.info.model_name) == (HOOK, "m")
    assert ours.info.normalize_activations == ref.cfg.normalize_activations
    _assert_same(ours, ref, _input(64, D_IN))


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
    _save_and_reload("standard", tmp_path)
    (tmp_path / "sae_weights.safetensors").unlink()
    msg = _error(tmp_path)
    assert str(tmp_path / "sae_weights.safetensors") in msg and "is missing" in msg


def test_malformed_json(tmp_path: Path) -> None:
    path = write_saelens(tmp_path, d_in=8, d_sae=16)
    (path / "cfg.json").write_text("{not json")
    msg = _error(path)
    assert "cfg.json" in msg and "not valid JSON" in msg


def test_unknown_architecture(tmp_path: Path) -> None:
    path = write_saelens(tmp_path, d_in=8, d_sae=16, architecture="wavelet")
    msg = _error(path)
    assert str(path / "cfg.json") in msg and "'wavelet' is not supported" in msg
    for supported in ("standard", "gated", "jumprelu", "topk", "abstopk", "matching_pursuit"):
        assert supported in msg
    assert "skip_transcoder" in msg and "batchtopk" in msg


def test_unsupported_sae_lens_architecture(tmp_path: Path) -> None:
    """A real sae-lens checkpoint of an architecture autointerp does not implement."""
    cfg = sae_lens.TemporalSAEConfig(
        d_in=D_IN,
        d_sae=D_SAE,
        n_heads=4,
        bottleneck_factor=8,
        metadata=_metadata(),
    )
    sae_lens.TemporalSAE(cfg).save_model(tmp_path)
    assert "'temporal' is not supported" in _error(tmp_path)


def test_shape_mismatch_between_config_and_weights(tmp_path: Path) -> None:
    path = write_saelens(tmp_path, d_in=8, d_sae=16, cfg_extra={"d_sae": 32})
    msg = _error(path)
    assert str(path) in msg and "W_enc" in msg and "(8, 16)" in msg and "(8, 32)" in msg


def test_transcoder_d_out_mismatch(tmp_path: Path) -> None:
    _save_and_reload("transcoder", tmp_path)
    cfg = json.loads((tmp_path / "cfg.json").read_text())
    (tmp_path / "cfg.json").write_text(json.dumps({**cfg, "d_out": D_OUT + 1}))
    msg = _error(tmp_path)
    assert "W_dec" in msg and f"({D_SAE}, {D_OUT})" in msg and f"d_out={D_OUT + 1}" in msg


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights(tmp_path: Path, bad: float) -> None:
    path = write_saelens(tmp_path, d_in=8, d_sae=16)
    weights = load_file(str(path / "sae_weights.safetensors"))
    weights["W_dec"][3, 2] = bad
    save_file(weights, str(path / "sae_weights.safetensors"))
    msg = _error(path)
    assert str(path) in msg and "W_dec" in msg and "NaN or Inf" in msg


def test_integer_weights(tmp_path: Path) -> None:
    path = write_saelens(tmp_path, d_in=8, d_sae=16)
    weights = load_file(str(path / "sae_weights.safetensors"))
    weights["b_enc"] = torch.zeros(16, dtype=torch.int32)
    save_file(weights, str(path / "sae_weights.safetensors"))
    msg = _error(path)
    assert str(path) in msg and "b_enc" in msg and "int32" in msg


def test_missing_tensor(tmp_path: Path) -> None:
    path = write_saelens(tmp_path, d_in=8, d_sae=16, architecture="jumprelu")
    weights = load_file(str(path / "sae_weights.safetensors"))
    del weights["threshold"]
    save_file(weights, str(path / "sae_weights.safetensors"))
    assert "'threshold'" in _error(path)


def test_skip_transcoder_without_w_skip(tmp_path: Path) -> None:
    _save_and_reload("skip_transcoder", tmp_path)
    weights = load_file(str(tmp_path / "sae_weights.safetensors"))
    del weights["W_skip"]
    save_file(weights, str(tmp_path / "sae_weights.safetensors"))
    msg = _error(tmp_path)
    assert "sae_weights.safetensors" in msg and "no tensor 'W_skip'" in msg


def test_w_skip_in_a_plain_sae(tmp_path: Path) -> None:
    path = write_saelens(tmp_path, d_in=8, d_sae=16)
    weights = load_file(str(path / "sae_weights.safetensors"))
    save_file({**weights, "W_skip": torch.zeros(8, 8)}, str(path / "sae_weights.safetensors"))
    assert "only skip transcoders" in _error(path)


def test_transcoder_without_output_hook(tmp_path: Path) -> None:
    """sae-lens 6 saves no hook_name_out: the transcoder loads with its output hook unknown
    (''), and only steering refuses, naming the field and how to give it."""
    from autointerp.steering import steering_hook

    meta = sae_lens.saes.sae.SAEMetadata(hook_name="blocks.3.hook_resid_mid", model_name="m")
    _save_and_reload("transcoder", tmp_path, metadata=meta)
    sae = load_sae(tmp_path)
    assert sae.info.transcoder and sae.info.hook_name_out == ""
    with pytest.raises(CheckpointError) as info:
        steering_hook(sae)
    msg = str(info.value)
    assert "hook_name_out" in msg and "--hook-out" in msg and "hook_out=" in msg
    given = load_sae(tmp_path, hook_out="blocks.3.hook_mlp_out")
    assert steering_hook(given).name == "blocks.3.hook_mlp_out"


def test_transcoder_output_hook_inferred_from_mlp_input(tmp_path: Path) -> None:
    meta = sae_lens.saes.sae.SAEMetadata(hook_name="blocks.5.hook_mlp_in", model_name="m")
    _save_and_reload("transcoder", tmp_path, metadata=meta)
    assert load_sae(tmp_path).info.hook_name_out == "blocks.5.hook_mlp_out"


def test_single_head_sae_reads_its_head(tmp_path: Path) -> None:
    meta = sae_lens.saes.sae.SAEMetadata(
        hook_name="blocks.0.attn.hook_z", hook_head_index=2, model_name="m"
    )
    _save_and_reload("standard", tmp_path, metadata=meta)
    assert load_sae(tmp_path).info.hook_name == "blocks.0.attn.hook_z:head=2"
    meta = sae_lens.saes.sae.SAEMetadata(
        hook_name="blocks.0.hook_resid_post", hook_head_index=2, model_name="m"
    )
    _save_and_reload("standard", tmp_path / "resid", metadata=meta)
    msg = _error(tmp_path / "resid")
    assert "hook_head_index=2" in msg and "attn.hook_z" in msg


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
