"""Subject models load offline: the SmolLM2 GGUF (converted once), local dirs; hub ids fail
with a clear message when the hub is unreachable."""

from __future__ import annotations

from pathlib import Path

import pytest

from autointerp.errors import ModelError
from autointerp.models.loader import canonical_model_name, load_subject_model


@pytest.mark.slow
def test_smollm2_from_the_wheel(smollm2) -> None:  # type: ignore[no-untyped-def]
    assert smollm2.name == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert (smollm2.n_layers, smollm2.d_model) == (30, 576)
    assert Path(smollm2.path, "model.safetensors").is_file()
    ids = smollm2.tokenizer("The capital of France is", return_tensors="pt").input_ids
    logits = smollm2.model(ids).logits[0, -1]
    assert smollm2.tokenizer.decode(logits.argmax()).strip() == "Paris"


@pytest.mark.slow
def test_aliases_share_one_instance(smollm2) -> None:  # type: ignore[no-untyped-def]
    assert canonical_model_name("smollm2") == smollm2.name
    assert load_subject_model("smollm2", device="cpu") is smollm2


def test_local_directory(tiny_llama: Path) -> None:
    model = load_subject_model(str(tiny_llama), device="cpu")
    assert model.d_model == 64 and model.n_layers == 4


def test_directory_without_config(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no config.json"):
        load_subject_model(str(tmp_path), device="cpu")


def test_unknown_hub_id_offline() -> None:
    with pytest.raises(ModelError, match="is the hub reachable"):
        load_subject_model("nobody-here/no-such-model-xyz", device="cpu")


def test_bad_device_and_dtype() -> None:
    with pytest.raises(ModelError, match="dtype"):
        load_subject_model("smollm2", dtype="float64")
    with pytest.raises(ModelError, match="not a valid torch device"):
        load_subject_model("smollm2", device="tpu9")


def test_dtype_auto_and_the_bf16_difference(tiny_llama: Path) -> None:
    """'auto' resolves per hardware; bf16 activations stay within a few % of fp32 (the
    difference autointerp accepts when it picks bf16 for speed)."""
    import torch

    from autointerp.models.hooks import parse_hook_name, run_to_hooks
    from autointerp.models.loader import cpu_has_amx_bf16, load_subject_model, resolve_dtype

    cpu = torch.device("cpu")
    assert resolve_dtype("auto", cpu) == ("bfloat16" if cpu_has_amx_bf16() else "float32")
    assert resolve_dtype("float32", cpu) == "float32"
    fp32 = load_subject_model(str(tiny_llama), dtype="float32")
    bf16 = load_subject_model(str(tiny_llama), dtype="bfloat16")
    assert bf16.dtype == torch.bfloat16 and fp32.dtype == torch.float32
    ids = torch.randint(3, 5000, (2, 16), generator=torch.Generator().manual_seed(0))
    hook = parse_hook_name("blocks.3.hook_resid_post")
    a = run_to_hooks(fp32.model, ids, [hook])[hook]
    b = run_to_hooks(bf16.model, ids, [hook])[hook].float()
    rel = float((a - b).norm() / a.norm())
    assert 0 < rel < 0.05, rel
