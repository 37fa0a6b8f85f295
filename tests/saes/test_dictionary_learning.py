"""dictionary_learning checkpoints (ae.pt + config.json) built by dictionary_learning's own
classes load into autointerp and encode/decode exactly as those classes do.

The package's ``__init__`` imports nnsight and friends, so it is installed with ``--no-deps``
and its modules are imported here under a bare package object that skips that ``__init__``."""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from autointerp.errors import CheckpointError
from autointerp.saes import load_sae

D_IN, D_SAE, K = 32, 96, 6


@pytest.fixture(scope="module")
def dl() -> Iterator[dict[str, Any]]:
    """dictionary_learning's classes, imported without running its package ``__init__``."""
    spec = importlib.util.find_spec("dictionary_learning")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("dictionary-learning is not installed (pip install --no-deps ...)")
    root = Path(next(iter(spec.submodule_search_locations)))
    if not (root / "dictionary.py").is_file() or not (root / "trainers" / "top_k.py").is_file():
        pytest.skip(f"dictionary_learning's source files are not under {root}")
    saved = {k: v for k, v in sys.modules.items() if k.split(".")[0] == "dictionary_learning"}
    for name, path in (
        ("dictionary_learning", root),
        ("dictionary_learning.trainers", root / "trainers"),
    ):
        package = types.ModuleType(name)
        package.__path__ = [str(path)]
        sys.modules[name] = package
    try:
        dictionary = importlib.import_module("dictionary_learning.dictionary")
        top_k = importlib.import_module("dictionary_learning.trainers.top_k")
        batch = importlib.import_module("dictionary_learning.trainers.batch_top_k")
        matryoshka = importlib.import_module("dictionary_learning.trainers.matryoshka_batch_top_k")
        yield {
            "AutoEncoder": dictionary.AutoEncoder,
            "GatedAutoEncoder": dictionary.GatedAutoEncoder,
            "JumpReluAutoEncoder": dictionary.JumpReluAutoEncoder,
            "AutoEncoderTopK": top_k.AutoEncoderTopK,
            "BatchTopKSAE": batch.BatchTopKSAE,
            "MatryoshkaBatchTopKSAE": matryoshka.MatryoshkaBatchTopKSAE,
        }
    finally:
        for name in [k for k in sys.modules if k.split(".")[0] == "dictionary_learning"]:
            del sys.modules[name]
        sys.modules.update(saved)


def _build(dl: dict[str, Any], dict_class: str, threshold: float | None) -> torch.nn.Module:
    cls = dl[dict_class]
    if dict_class in ("AutoEncoderTopK", "BatchTopKSAE"):
        ae = cls(D_IN, D_SAE, K)
    elif dict_class == "MatryoshkaBatchTopKSAE":
        ae = cls(D_IN, D_SAE, K, group_sizes=[32, 64])
    else:
        ae = cls(D_IN, D_SAE)
    gen = torch.Generator().manual_seed(len(dict_class))
    with torch.no_grad():
        for name, param in ae.named_parameters():
            param.copy_(torch.randn(param.shape, generator=gen) * 0.3)
            if name == "threshold":
                param.abs_()
        if threshold is not None:  # BatchTopK's learned inference threshold (a buffer)
            ae.threshold.fill_(threshold)
    return ae


def _save(ae: torch.nn.Module, folder: Path, dict_class: str) -> Path:
    folder.mkdir(parents=True)
    torch.save(ae.state_dict(), folder / "ae.pt")
    trainer: dict[str, Any] = {
        "dict_class": dict_class,
        "activation_dim": D_IN,
        "dict_size": D_SAE,
        "lm_name": "m",
        "submodule_name": "resid_post_layer_3",
    }
    if "TopK" in dict_class:
        trainer["k"] = K
    (folder / "config.json").write_text(json.dumps({"trainer": trainer}))
    return folder


CASES = [
    ("AutoEncoder", None, "standard"),
    ("AutoEncoderTopK", None, "topk"),
    ("BatchTopKSAE", 0.25, "jumprelu"),
    ("BatchTopKSAE", None, "jumprelu"),  # threshold still -1: plain ReLU
    ("MatryoshkaBatchTopKSAE", 0.25, "jumprelu"),
    ("JumpReluAutoEncoder", None, "jumprelu"),
    ("GatedAutoEncoder", None, "gated"),
]


@pytest.mark.parametrize(
    ("dict_class", "threshold", "architecture"),
    CASES,
    ids=[f"{c}-{'thr' if t else 'plain'}" for c, t, _ in CASES],
)
def test_encode_decode_match_dictionary_learning(
    dl: dict[str, Any],
    tmp_path: Path,
    dict_class: str,
    threshold: float | None,
    architecture: str,
) -> None:
    ref = _build(dl, dict_class, threshold)
    folder = _save(ref, tmp_path / "resid_post_layer_3" / "trainer_0", dict_class)
    ours = load_sae(folder)
    info = ours.info
    assert (info.format, info.architecture) == ("dictionary_learning", architecture)
    assert (ours.d_in, ours.d_sae) == (D_IN, D_SAE)
    assert info.hook_name == "blocks.3.hook_resid_post"
    assert info.model_name == "m"
    assert info.k == (K if architecture == "topk" else None)
    assert info.extra["dict_class"] == dict_class
    x = torch.randn(64, D_IN, generator=torch.Generator().manual_seed(1)) * 2
    with torch.no_grad():
        ref_acts = ref.encode(x)
        ours_acts = ours.encode(x)
        torch.testing.assert_close(ours_acts, ref_acts, atol=1e-4, rtol=1e-4)
        assert (ours_acts > 0).any(), "the test input should make some latents fire"
        assert (ours_acts == 0).any(), "the test input should leave some latents silent"
        torch.testing.assert_close(
            ours.decode(ours_acts, x), ref.decode(ref_acts), atol=1e-4, rtol=1e-4
        )


def test_ae_pt_path_loads_its_folder(dl: dict[str, Any], tmp_path: Path) -> None:
    folder = _save(_build(dl, "AutoEncoderTopK", None), tmp_path / "t", "AutoEncoderTopK")
    sae = load_sae(folder / "ae.pt")
    assert sae.info.path == str(folder)
    assert (sae.info.architecture, sae.info.k) == ("topk", K)


def test_unknown_dict_class(dl: dict[str, Any], tmp_path: Path) -> None:
    folder = _save(_build(dl, "AutoEncoder", None), tmp_path / "t", "AutoEncoder")
    (folder / "config.json").write_text(json.dumps({"trainer": {"dict_class": "Wavelet"}}))
    with pytest.raises(CheckpointError, match="'Wavelet' is not supported.*AutoEncoderTopK"):
        load_sae(folder)


def test_config_without_dict_class(dl: dict[str, Any], tmp_path: Path) -> None:
    folder = _save(_build(dl, "AutoEncoder", None), tmp_path / "t", "AutoEncoder")
    (folder / "config.json").write_text(json.dumps({"buffer": {}}))
    with pytest.raises(CheckpointError, match=r"config\.json: no 'trainer\.dict_class'"):
        load_sae(folder)


def test_state_dict_of_another_class(dl: dict[str, Any], tmp_path: Path) -> None:
    """A config naming the wrong class: the error names the tensor that is missing."""
    folder = _save(_build(dl, "AutoEncoder", None), tmp_path / "t", "GatedAutoEncoder")
    with pytest.raises(CheckpointError, match=r"ae\.pt: state dict has no tensor 'gate_bias'"):
        load_sae(folder)
