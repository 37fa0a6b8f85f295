"""Hook points capture what the model computes there, and the pass stops after the deepest."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from autointerp.errors import ModelError
from autointerp.models.hooks import HookPoint, decoder_layers, parse_hook_name, run_to_hooks
from autointerp.models.loader import load_subject_model


@pytest.fixture(scope="module")
def tiny(tiny_llama: Path):  # type: ignore[no-untyped-def]
    return load_subject_model(str(tiny_llama), device="cpu")


def test_parse_hook_names() -> None:
    assert parse_hook_name("blocks.6.hook_resid_post") == HookPoint(6, "resid_post")
    assert parse_hook_name("model.layers.2.hook_mlp_out") == HookPoint(2, "mlp_out")
    assert parse_hook_name("blocks.0.hook_resid_pre").name == "blocks.0.hook_resid_pre"
    with pytest.raises(ModelError, match="not supported"):
        parse_hook_name("blocks.6.attn.hook_q")


def test_residual_hooks_match_hidden_states(tiny) -> None:  # type: ignore[no-untyped-def]
    ids = torch.randint(0, 1000, (2, 9))
    with torch.no_grad():
        hidden = tiny.model(ids, output_hidden_states=True).hidden_states
    hooks = [HookPoint(1, "resid_pre"), HookPoint(2, "resid_post")]
    got = run_to_hooks(tiny.model, ids, hooks)
    torch.testing.assert_close(got[hooks[0]], hidden[1])
    torch.testing.assert_close(got[hooks[1]], hidden[3])


def test_mlp_out_hook_and_early_stop(tiny) -> None:  # type: ignore[no-untyped-def]
    ran: list[int] = []
    layers = decoder_layers(tiny.model)
    handles = [
        layer.register_forward_hook(lambda m, a, o, i=i: ran.append(i))
        for i, layer in enumerate(layers)
    ]
    try:
        hook = HookPoint(1, "mlp_out")
        out = run_to_hooks(tiny.model, torch.randint(0, 1000, (1, 5)), [hook])
    finally:
        for h in handles:
            h.remove()
    assert out[hook].shape == (1, 5, 64)
    assert ran == [0], "layer 1 stops inside its MLP; layers 2-3 never run"


def test_layer_out_of_range(tiny) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ModelError, match="has 4 layers"):
        run_to_hooks(tiny.model, torch.zeros(1, 3, dtype=torch.long), [HookPoint(9, "resid_post")])
