"""OpenAI ``sparse_autoencoder`` checkpoints load into autointerp and encode/decode as the
reference does; checkpoints that need arbitrary pickles are refused without running them.

The package is not on PyPI, so the reference below follows its published ``model.py``
(``Autoencoder``, ``TopK``, ``TiedTranspose``, ``LN``) line for line where it matters."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from autointerp.errors import CheckpointError
from autointerp.saes import load_sae

D_IN, D_SAE, K = 24, 80, 5


# --------------------------------------------------------------------------- the reference
# Names and defaults as in model.py.
def LN(x: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # noqa: N802
    mu = x.mean(dim=-1, keepdim=True)
    x = x - mu
    std = x.std(dim=-1, keepdim=True)
    x = x / (std + eps)
    return x, mu, std


class TiedTranspose(nn.Module):
    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.linear = linear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert self.linear.bias is None
        return F.linear(x, self.linear.weight.t(), None)


class TopK(nn.Module):
    def __init__(self, k: int, postact_fn: Callable[..., torch.Tensor] = nn.ReLU()) -> None:  # noqa: B008
        super().__init__()
        self.k = k
        self.postact_fn = postact_fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        topk = torch.topk(x, k=self.k, dim=-1)
        values = self.postact_fn(topk.values)
        result = torch.zeros_like(x)
        result.scatter_(-1, topk.indices, values)
        return result

    def state_dict(self, destination: Any = None, prefix: str = "", keep_vars: bool = False) -> Any:
        state_dict = super().state_dict(destination=destination, prefix=prefix, keep_vars=keep_vars)
        state_dict.update(
            {prefix + "k": self.k, prefix + "postact_fn": self.postact_fn.__class__.__name__}
        )
        return state_dict


class Autoencoder(nn.Module):
    """latents = activation(encoder(x - pre_bias) + latent_bias);
    recons = decoder(latents) + pre_bias (then un-normalised)."""

    def __init__(
        self,
        n_latents: int,
        n_inputs: int,
        activation: nn.Module,
        tied: bool = False,
        normalize: bool = False,
    ) -> None:
        super().__init__()
        self.pre_bias = nn.Parameter(torch.zeros(n_inputs))
        self.encoder = nn.Linear(n_inputs, n_latents, bias=False)
        self.latent_bias = nn.Parameter(torch.zeros(n_latents))
        self.activation = activation
        self.decoder: nn.Module = (
            TiedTranspose(self.encoder) if tied else nn.Linear(n_latents, n_inputs, bias=False)
        )
        self.normalize = normalize
        self.register_buffer("stats_last_nonzero", torch.zeros(n_latents, dtype=torch.long))
        self.register_buffer("latents_activation_frequency", torch.ones(n_latents))
        self.register_buffer("latents_mean_square", torch.zeros(n_latents))

    def encode_pre_act(self, x: torch.Tensor) -> torch.Tensor:
        x = x - self.pre_bias
        return F.linear(x, self.encoder.weight, self.latent_bias)

    def preprocess(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
        if not self.normalize:
            return x, {}
        x, mu, std = LN(x)
        return x, {"mu": mu, "std": std}

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
        x, info = self.preprocess(x)
        return self.activation(self.encode_pre_act(x)), info

    def decode(self, latents: torch.Tensor, info: dict[str, Any] | None = None) -> torch.Tensor:
        ret = self.decoder(latents) + self.pre_bias
        if self.normalize:
            assert info is not None
            ret = ret * info["std"] + info["mu"]
        return ret

    def state_dict(self, destination: Any = None, prefix: str = "", keep_vars: bool = False) -> Any:
        sd = super().state_dict(destination=destination, prefix=prefix, keep_vars=keep_vars)
        sd[prefix + "activation"] = self.activation.__class__.__name__
        if hasattr(self.activation, "state_dict"):
            sd[prefix + "activation_state_dict"] = self.activation.state_dict()
        return sd


def _reference(activation: str, *, tied: bool = False) -> Autoencoder:
    act: nn.Module = TopK(K) if activation == "TopK" else nn.ReLU()
    # from_state_dict: normalize = activation_class_name == "TopK"
    ae = Autoencoder(D_SAE, D_IN, act, tied=tied, normalize=activation == "TopK")
    gen = torch.Generator().manual_seed(7 + tied)
    with torch.no_grad():
        for param in ae.parameters():
            param.copy_(torch.randn(param.shape, generator=gen) * 0.3)
    return ae


def _save(ae: Autoencoder, root: Path, layer: int = 8) -> Path:
    path = root / "resid_post_mlp_v5_32k" / "autoencoders" / f"{layer}.pt"
    path.parent.mkdir(parents=True)
    torch.save(ae.state_dict(), path)
    return path


# --------------------------------------------------------------------------- equivalence
@pytest.mark.parametrize(("activation", "tied"), [("TopK", False), ("ReLU", False), ("TopK", True)])
def test_encode_decode_match_reference(tmp_path: Path, activation: str, tied: bool) -> None:
    ref = _reference(activation, tied=tied)
    path = _save(ref, tmp_path)
    saved = torch.load(path, weights_only=True)
    assert saved["activation"] == activation
    if activation == "TopK":
        assert saved["activation_state_dict"] == {"k": K, "postact_fn": "ReLU"}
    assert ("decoder.weight" in saved) != tied
    assert "stats_last_nonzero" in saved and "latents_mean_square" in saved

    ours = load_sae(path)
    info = ours.info
    assert info.format == "openai"
    assert info.architecture == ("topk" if activation == "TopK" else "standard")
    assert info.normalize_activations == ("layer_norm" if activation == "TopK" else "none")
    assert info.k == (K if activation == "TopK" else None)
    assert (ours.d_in, ours.d_sae) == (D_IN, D_SAE)
    assert info.hook_name == "blocks.8.hook_resid_post"

    x = torch.randn(48, D_IN, generator=torch.Generator().manual_seed(3)) * 3 + 1
    with torch.no_grad():
        ref_acts, norm_info = ref.encode(x)
        ours_acts = ours.encode(x)
        torch.testing.assert_close(ours_acts, ref_acts, atol=1e-4, rtol=1e-4)
        assert (ours_acts > 0).any() and (ours_acts == 0).any()
        torch.testing.assert_close(
            ours.decode(ours_acts, x), ref.decode(ref_acts, norm_info), atol=1e-4, rtol=1e-4
        )


def test_tied_checkpoint_without_any_decoder_tensor(tmp_path: Path) -> None:
    ref = _reference("ReLU", tied=True)
    path = tmp_path / "ckpt.pt"
    state = {k: v for k, v in ref.state_dict().items() if not k.startswith("decoder.")}
    torch.save(state, path)
    ours = load_sae(path, hook="blocks.2.hook_resid_post")
    x = torch.randn(16, D_IN, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        acts = ours.encode(x)
        torch.testing.assert_close(acts, ref.encode(x)[0], atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(ours.decode(acts, x), ref.decode(acts), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(
    ("location", "hook"),
    [
        ("resid_post_attn_v5_32k", "blocks.4.hook_resid_mid"),
        ("resid_delta_mlp_v5_32k", "blocks.4.hook_mlp_out"),
        ("mlp_post_act_v5_32k", "blocks.4.mlp.hook_post"),
    ],
)
def test_hook_and_model_from_release_layout(tmp_path: Path, location: str, hook: str) -> None:
    path = tmp_path / "gpt2-small" / location / "autoencoders" / "4.pt"
    path.parent.mkdir(parents=True)
    torch.save(_reference("TopK").state_dict(), path)
    info = load_sae(path).info
    assert (info.hook_name, info.model_name) == (hook, "gpt2")


def test_path_without_layout_needs_hook(tmp_path: Path) -> None:
    path = tmp_path / "my_sae.pt"
    torch.save(_reference("TopK").state_dict(), path)
    with pytest.raises(CheckpointError, match="--hook"):
        load_sae(path)
    assert (
        load_sae(path, hook="blocks.1.hook_resid_pre").info.hook_name == "blocks.1.hook_resid_pre"
    )


# --------------------------------------------------------------------------- refusals
_RAN: list[str] = []


def _side_effect(tag: str) -> str:
    _RAN.append(tag)
    return tag


class Payload:
    """Unpickling this calls ``_side_effect``: what a malicious checkpoint would do."""

    def __reduce__(self) -> tuple[Callable[[str], str], tuple[str]]:
        return _side_effect, ("payload ran",)


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_pickle_that_is_not_weights_only_is_refused_unexecuted(
    tmp_path: Path, zip_format: bool
) -> None:
    path = _save(_reference("TopK"), tmp_path)
    state = torch.load(path, weights_only=True)
    state["trainer"] = Payload()
    torch.save(state, path, _use_new_zipfile_serialization=zip_format)
    _RAN.clear()
    with pytest.raises(CheckpointError) as info:
        load_sae(path)
    msg = str(info.value)
    assert "not a weights-only checkpoint" in msg and str(path) in msg
    assert "Unsupported global" in msg and "_side_effect" in msg
    assert _RAN == [], "the pickled code must never run"
    # The payload is live: a plain torch.load would have run it.
    torch.load(path, weights_only=False)
    assert _RAN == ["payload ran"]


def test_unsupported_activation(tmp_path: Path) -> None:
    path = _save(_reference("ReLU"), tmp_path)
    state = torch.load(path, weights_only=True)
    state["activation"] = "Identity"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="activation 'Identity' is not supported"):
        load_sae(path)


def test_not_an_openai_state_dict(tmp_path: Path) -> None:
    path = tmp_path / "resid_post_mlp_v5_32k" / "autoencoders" / "8.pt"
    path.parent.mkdir(parents=True)
    torch.save({"W_enc": torch.zeros(4, 8)}, path)
    with pytest.raises(CheckpointError, match="missing pre_bias, encoder.weight, latent_bias"):
        load_sae(path)


@pytest.mark.parametrize("content", [b"not a checkpoint", b"", b"PK\x03\x04 truncated zip"])
def test_corrupt_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "8.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="8.pt is not a readable torch checkpoint"):
        load_sae(path)


def test_file_holding_a_bare_tensor(tmp_path: Path) -> None:
    path = tmp_path / "8.pt"
    torch.save(torch.zeros(3), path)
    with pytest.raises(CheckpointError, match="must hold a state dict, not Tensor"):
        load_sae(path)
