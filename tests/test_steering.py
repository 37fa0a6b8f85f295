"""Steering the real SmolLM2 with a planted SAE whose directions are known.

Latent 0 is a "dogs and pets" concept direction taken from the model's own activations at
blocks.15.hook_resid_post (mean over dog sentences minus mean over other sentences), latent
1 the unembedding row of " dog", latent 2 a zero decoder row, latent 3 random."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from autointerp.errors import ConfigError
from autointerp.models.hooks import parse_hook_name, run_to_hooks
from autointerp.saes.base import ARCHITECTURES, SaeInfo, SparseCoder
from autointerp.steering import (
    add_vectors,
    calibrate_strength,
    encode_prompts,
    generate,
    generate_pair,
    logit_lens,
    neutral_prompts,
    next_token_kl,
    next_token_logprobs,
    steer,
    steering_hook,
    steering_vector,
)

HOOK = "blocks.15.hook_resid_post"
DOGS = [
    "My dog loves to play fetch in the park.",
    "The puppy wagged its tail and barked at the mailman.",
    "Dogs are loyal pets that need daily walks.",
    "She adopted a beagle from the animal shelter.",
]
OTHER = [
    "The meeting was moved to Tuesday afternoon.",
    "He fixed the bug in the database code.",
    "The train to the city leaves at noon.",
    "Prices rose sharply during the last quarter.",
]
PETS = (" dog", " dogs", " puppy", " cat", " cats", " pet", " pets", " kitten")
_PLANTED: dict[int, SparseCoder] = {}


def make_sae(
    w_dec: torch.Tensor, hook: str = HOOK, architecture: str = "topk", **info: Any
) -> SparseCoder:
    d_sae, d = w_dec.shape
    sae_info = SaeInfo(
        path="planted",
        format="test",
        architecture=architecture,
        d_in=info.pop("d_in", d),
        d_sae=d_sae,
        hook_name=hook,
        model_name=None,
        dtype="float32",
        sha256="",
        k=1,
        **info,
    )
    weights = {
        "W_enc": torch.zeros(sae_info.d_in, d_sae),
        "b_enc": torch.zeros(d_sae),
        "W_dec": w_dec,
        "b_dec": torch.zeros(d),
    }
    return ARCHITECTURES.get(architecture)(sae_info, weights)


def mean_activation(subject: Any, texts: list[str]) -> torch.Tensor:
    hook = parse_hook_name(HOOK)
    acts = [
        run_to_hooks(subject.model, torch.tensor([ids]), [hook])[hook][0, 1:].mean(0)
        for ids in encode_prompts(subject, texts)
    ]
    return torch.stack(acts).mean(0)


def planted_sae(subject: Any) -> SparseCoder:
    """The planted SAE described in the module docstring (built once per session)."""
    if id(subject) not in _PLANTED:
        w_u = subject.model.get_output_embeddings().weight.detach().float()
        dog = subject.tokenizer(" dog", add_special_tokens=False)["input_ids"][0]
        w_dec = torch.randn(4, subject.d_model, generator=torch.Generator().manual_seed(0))
        w_dec[0] = mean_activation(subject, DOGS) - mean_activation(subject, OTHER)
        w_dec[1] = w_u[dog]
        w_dec[2] = 0
        _PLANTED[id(subject)] = make_sae(w_dec)
    return _PLANTED[id(subject)]


def pet_probability(subject: Any, logprobs: torch.Tensor) -> torch.Tensor:
    ids = [subject.tokenizer(t, add_special_tokens=False)["input_ids"][0] for t in PETS]
    return logprobs[:, ids].exp().sum(dim=1)


@pytest.fixture(scope="module")
def sae(smollm2: Any) -> SparseCoder:
    return planted_sae(smollm2)


PROMPTS = neutral_prompts(4)


@pytest.mark.slow
def test_steering_raises_the_planted_tokens(smollm2: Any, sae: SparseCoder) -> None:
    ids = encode_prompts(smollm2, PROMPTS)
    clean = next_token_logprobs(smollm2, ids)
    with steer(smollm2, sae, 0, 100.0):
        steered = next_token_logprobs(smollm2, ids)
    with steer(smollm2, sae, 1, 100.0):
        dog_row = next_token_logprobs(smollm2, ids)
    before, after = pet_probability(smollm2, clean), pet_probability(smollm2, steered)
    assert (after > 3 * before).all(), (before, after)
    assert (pet_probability(smollm2, dog_row) > before).all()


@pytest.mark.slow
def test_hook_is_removed_afterwards_even_on_error(smollm2: Any, sae: SparseCoder) -> None:
    ids = encode_prompts(smollm2, PROMPTS)
    clean = next_token_logprobs(smollm2, ids)
    with pytest.raises(RuntimeError, match="boom"), steer(smollm2, sae, 0, 100.0):
        raise RuntimeError("boom")
    with steer(smollm2, sae, 0, 100.0):
        pass
    assert torch.equal(next_token_logprobs(smollm2, ids), clean)
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in smollm2.model.modules())


@pytest.mark.slow
@pytest.mark.parametrize("site", ["hook_resid_pre", "hook_resid_mid", "hook_resid_post"])
def test_the_hook_point_sees_exactly_the_added_vector(smollm2: Any, site: str) -> None:
    hook = parse_hook_name(f"blocks.3.{site}")
    ids = torch.tensor(encode_prompts(smollm2, ["Once upon a time"]))
    vec = torch.randn(smollm2.d_model, generator=torch.Generator().manual_seed(1))
    clean = run_to_hooks(smollm2.model, ids, [hook])[hook]
    with add_vectors(smollm2, hook, vec, start=2):
        steered = run_to_hooks(smollm2.model, ids, [hook])[hook]
    assert torch.allclose(steered[0, :2], clean[0, :2])
    assert torch.allclose(
        steered[0, 2:] - clean[0, 2:], vec.expand(ids.shape[1] - 2, -1), atol=1e-4
    )


@pytest.mark.slow
def test_calibrate_strength_reaches_the_target_kl(smollm2: Any, sae: SparseCoder) -> None:
    cal = calibrate_strength(smollm2, sae, 0, PROMPTS, 0.5, tol=0.1)
    assert cal.converged and abs(cal.kl - 0.5) <= 0.05, cal
    assert cal.iterations <= 12 and cal.alpha > 0
    assert next_token_kl(smollm2, sae, 0, cal.alpha, PROMPTS) == pytest.approx(cal.kl, rel=1e-3)
    zero = calibrate_strength(smollm2, sae, 2, PROMPTS, 0.5)
    assert not zero.converged and zero.kl == 0.0


@pytest.mark.slow
def test_logit_lens_finds_the_planted_token(smollm2: Any, sae: SparseCoder) -> None:
    promoted, suppressed = logit_lens(smollm2, sae, 1, 10)
    words = [t.strip().lower() for t, _ in promoted]
    assert "dog" in words[:3], promoted
    assert all(v > 0 for _, v in promoted) and all(v < 0 for _, v in suppressed)
    assert promoted[0][1] >= promoted[-1][1]


@pytest.mark.slow
def test_generate_pair_clean_side_is_the_plain_model(smollm2: Any, sae: SparseCoder) -> None:
    pairs = generate_pair(smollm2, sae, 0, 110.0, PROMPTS, 10)
    plain = generate(smollm2, encode_prompts(smollm2, PROMPTS), 10)
    assert [c for c, _ in pairs] == plain
    words = [w.strip(".,!?") for w in " ".join(s for _, s in pairs).lower().split()]
    clean_words = [w.strip(".,!?") for w in " ".join(plain).lower().split()]
    pets = {p.strip() for p in PETS}
    assert sum(w in pets for w in words) > sum(w in pets for w in clean_words)


def test_directions_signed_units_transcoders_and_bad_units() -> None:
    w_dec = torch.tensor([[3.0, 4.0], [0.0, 0.0]])
    signed = make_sae(w_dec, "blocks.0.hook_resid_post", "abstopk")
    assert torch.allclose(steering_vector(signed, 0), torch.tensor([0.6, 0.8]))
    assert torch.allclose(steering_vector(signed, 2), torch.tensor([-0.6, -0.8]))
    assert torch.equal(steering_vector(signed, 1), torch.zeros(2))
    with pytest.raises(ConfigError, match="unit 4 is out of range"):
        steering_vector(signed, 4)
    transcoder = make_sae(
        w_dec,
        "blocks.0.ln2.hook_normalized",
        d_in=2,
        hook_name_out="blocks.0.hook_mlp_out",
        apply_b_dec_to_input=False,
    )
    assert steering_hook(transcoder).name == "blocks.0.hook_mlp_out"
