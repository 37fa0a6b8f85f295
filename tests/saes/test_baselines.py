"""Baselines: ``random:SPEC[:seed=N]`` (same architecture and shape, redrawn weights) and
``neurons:HOOK[:k=K]`` (the subject model's own units, optionally top-k sparsified)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from autointerp.errors import CheckpointError, ConfigError
from autointerp.saes import SparseCoder, load_sae
from tests.helpers import write_saelens

D_IN, D_SAE = 16, 64


@pytest.fixture
def jumprelu_sae(tmp_path: Path) -> Path:
    return write_saelens(tmp_path / "sae", d_in=D_IN, d_sae=D_SAE, architecture="jumprelu", k=None)


def _buffers(sae: SparseCoder) -> dict[str, torch.Tensor]:
    return dict(sae.named_buffers())


# --------------------------------------------------------------------------- random:
def test_random_keeps_architecture_and_shape_but_not_weights(jumprelu_sae: Path) -> None:
    original = load_sae(jumprelu_sae)
    rand = load_sae(f"random:{jumprelu_sae}")
    assert type(rand) is type(original)
    assert (rand.info.architecture, rand.d_in, rand.d_sae) == ("jumprelu", D_IN, D_SAE)
    assert rand.info.hook_name == original.info.hook_name
    assert rand.info.format == "random(saelens)"
    assert rand.info.extra["random_seed"] == 0
    assert rand.info.sha256 != original.info.sha256
    theirs, ours = _buffers(original), _buffers(rand)
    assert theirs.keys() == ours.keys()
    for name, tensor in ours.items():
        assert tensor.shape == theirs[name].shape
        assert not torch.allclose(tensor, theirs[name]), name
    assert (ours["threshold"] >= 0).all()
    # Scales stay comparable: each tensor keeps roughly its own std.
    ratio = ours["W_enc"].std() / theirs["W_enc"].std()
    assert 0.8 < float(ratio) < 1.25
    acts = rand.encode(torch.randn(8, D_IN))
    assert acts.shape == (8, D_SAE) and (acts >= 0).all()


def test_random_is_deterministic_per_seed(jumprelu_sae: Path) -> None:
    default, zero = load_sae(f"random:{jumprelu_sae}"), load_sae(f"random:{jumprelu_sae}:seed=0")
    one, one_again = (load_sae(f"random:{jumprelu_sae}:seed=1") for _ in range(2))
    two = load_sae(f"random:{jumprelu_sae}:seed=2")
    for name, tensor in _buffers(one).items():
        torch.testing.assert_close(tensor, _buffers(one_again)[name], atol=0, rtol=0)
        torch.testing.assert_close(_buffers(default)[name], _buffers(zero)[name], atol=0, rtol=0)
        assert not torch.allclose(tensor, _buffers(two)[name]), name
    assert (one.info.extra["random_seed"], two.info.extra["random_seed"]) == (1, 2)
    assert one.info.sha256 == one_again.info.sha256 != two.info.sha256
    assert len(one.info.sha256) == 16 and int(one.info.sha256, 16) >= 0


def test_random_topk_keeps_k(tmp_path: Path) -> None:
    path = write_saelens(tmp_path / "sae", d_in=D_IN, d_sae=D_SAE, architecture="topk", k=4)
    rand = load_sae(f"random:{path}:seed=5")
    assert (rand.info.architecture, rand.info.k) == ("topk", 4)
    assert ((rand.encode(torch.randn(6, D_IN)) > 0).sum(-1) <= 4).all()


@pytest.mark.parametrize("options", [":seed=abc", ":seed=-1", ":sed=3", ":seed=", ":k=2"])
def test_random_bad_options(jumprelu_sae: Path, options: str) -> None:
    with pytest.raises(ConfigError, match="is not valid; expected seed="):
        load_sae(f"random:{jumprelu_sae}{options}")


def test_random_without_checkpoint() -> None:
    with pytest.raises(ConfigError, match="expected random:<checkpoint>"):
        load_sae("random:")


def test_random_of_a_missing_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        load_sae(f"random:{tmp_path / 'nope'}:seed=1")


# --------------------------------------------------------------------------- neurons:
def test_neurons_bad_options() -> None:
    for spec in ("neurons:blocks.1.mlp.hook_post:k=0", "neurons:blocks.1.mlp.hook_post:j=3"):
        with pytest.raises(ConfigError, match="expected k=<int >= 1>"):
            load_sae(spec)
    with pytest.raises(ConfigError, match="expected neurons:<hook point>"):
        load_sae("neurons:")


def test_neurons_need_the_subject_model() -> None:
    with pytest.raises(CheckpointError, match="needs the subject model"):
        load_sae("neurons:blocks.1.mlp.hook_post")


@pytest.fixture(scope="module")
def subject(tiny_llama: Path) -> Any:
    from autointerp.models.loader import load_subject_model

    return load_subject_model(str(tiny_llama), device="cpu")


def test_neurons_are_relu_of_the_mlp_units(subject: Any) -> None:
    sae = load_sae("neurons:blocks.1.mlp.hook_post", subject=subject)
    width = subject.model.config.intermediate_size
    assert (sae.info.architecture, sae.info.format) == ("neurons", "baseline")
    assert (sae.d_in, sae.d_sae) == (width, width)
    assert sae.info.hook_name == "blocks.1.mlp.hook_post"
    assert sae.info.model_name == subject.name
    x = torch.randn(5, width, generator=torch.Generator().manual_seed(0))
    acts = sae.encode(x)
    torch.testing.assert_close(acts, x.relu(), atol=0, rtol=0)
    torch.testing.assert_close(sae.decode(acts), acts, atol=0, rtol=0)


def test_neurons_top_k(subject: Any) -> None:
    sae = load_sae("neurons:blocks.1.mlp.hook_post:k=3", subject=subject)
    assert sae.info.k == 3
    x = torch.randn(7, sae.d_in, generator=torch.Generator().manual_seed(1))
    top = x.topk(3, dim=-1)
    expected = torch.zeros_like(x).scatter_(-1, top.indices, top.values).relu()
    torch.testing.assert_close(sae.encode(x), expected, atol=0, rtol=0)
    assert ((sae.encode(x) > 0).sum(-1) <= 3).all()


def test_neuron_baselines_have_distinct_hashes(subject: Any) -> None:
    """The hash keys stored results: different hooks or k must not collide."""
    specs = [
        "neurons:blocks.1.mlp.hook_post",
        "neurons:blocks.1.mlp.hook_post:k=3",
        "neurons:blocks.1.mlp.hook_post:k=4",
        "neurons:blocks.2.mlp.hook_post",
        "neurons:blocks.1.hook_resid_post",
    ]
    hashes = [load_sae(spec, subject=subject).info.sha256 for spec in specs]
    assert len(set(hashes)) == len(specs)
    assert load_sae(specs[1], subject=subject).info.sha256 == hashes[1]


def test_neurons_at_the_residual_stream(subject: Any) -> None:
    sae = load_sae("neurons:layers.2.hook_resid_post", subject=subject)
    assert sae.info.hook_name == "blocks.2.hook_resid_post"  # canonical spelling
    assert sae.d_in == subject.model.config.hidden_size
