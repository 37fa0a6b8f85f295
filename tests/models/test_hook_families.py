"""Each hook point is the right tensor in every supported family: tiny random models, checked
through identities of the residual stream and of the projections that read the hooks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import torch
import transformers as tf
from torch import nn

from autointerp.errors import ModelError
from autointerp.models.hooks import HookPoint, hook_width, parse_hook_name, run_to_hooks

N_LAYERS = 3
SIZES = {"hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": N_LAYERS}
HEADS = {"num_attention_heads": 4, "num_key_value_heads": 2}
IDS = {"vocab_size": 100, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0}


@dataclass(frozen=True)
class Family:
    """A tiny model and where its pieces are (written here, independently of the library)."""

    config: Callable[[], Any]
    model: Callable[[Any], nn.Module]
    base: str
    layers: str
    attn: str = "self_attn"
    mlp: str = "mlp"
    ln2: str = "post_attention_layernorm"
    attn_proj: str = "self_attn.o_proj"
    mlp_proj: str = "mlp.down_proj"
    attn_post: str | None = None
    mlp_post: str | None = None
    final_norm: str = "norm"
    parallel: bool = False


_GEMMA2_PIECES: dict[str, Any] = {
    "ln2": "pre_feedforward_layernorm",
    "attn_post": "post_attention_layernorm",
    "mlp_post": "post_feedforward_layernorm",
}
_NEOX_PIECES: dict[str, Any] = {
    "attn": "attention",
    "attn_proj": "attention.dense",
    "mlp_proj": "mlp.dense_4h_to_h",
    "final_norm": "final_layer_norm",
}
FAMILIES = {
    "llama": Family(
        lambda: tf.LlamaConfig(**SIZES, **HEADS, **IDS), tf.LlamaForCausalLM, "model", "layers"
    ),
    "qwen2": Family(
        lambda: tf.Qwen2Config(**SIZES, **HEADS, **IDS), tf.Qwen2ForCausalLM, "model", "layers"
    ),
    "qwen3": Family(
        lambda: tf.Qwen3Config(**SIZES, **HEADS, **IDS, head_dim=12),
        tf.Qwen3ForCausalLM,
        "model",
        "layers",
    ),
    "gemma": Family(
        lambda: tf.GemmaConfig(**SIZES, **HEADS, **IDS, head_dim=12),
        tf.GemmaForCausalLM,
        "model",
        "layers",
    ),
    "gemma2": Family(
        lambda: tf.Gemma2Config(**SIZES, **HEADS, **IDS, head_dim=12),
        tf.Gemma2ForCausalLM,
        "model",
        "layers",
        **_GEMMA2_PIECES,
    ),
    "gemma3": Family(
        lambda: tf.Gemma3TextConfig(**SIZES, **HEADS, **IDS, head_dim=12),
        tf.Gemma3ForCausalLM,
        "model",
        "layers",
        **_GEMMA2_PIECES,
    ),
    "gpt2": Family(
        lambda: tf.GPT2Config(n_embd=32, n_layer=N_LAYERS, n_head=4, n_positions=64, **IDS),
        tf.GPT2LMHeadModel,
        "transformer",
        "h",
        attn="attn",
        ln2="ln_2",
        attn_proj="attn.c_proj",
        mlp_proj="mlp.c_proj",
        final_norm="ln_f",
    ),
    "neox": Family(
        lambda: tf.GPTNeoXConfig(**SIZES, num_attention_heads=4, **IDS),
        tf.GPTNeoXForCausalLM,
        "gpt_neox",
        "layers",
        parallel=True,
        **_NEOX_PIECES,
    ),
    "neox-sequential": Family(
        lambda: tf.GPTNeoXConfig(
            **SIZES, num_attention_heads=4, use_parallel_residual=False, **IDS
        ),
        tf.GPTNeoXForCausalLM,
        "gpt_neox",
        "layers",
        **_NEOX_PIECES,
    ),
}
TL_SITES = [
    "hook_resid_pre",
    "hook_resid_mid",
    "hook_mlp_in",
    "hook_resid_post",
    "hook_attn_out",
    "hook_mlp_out",
    "ln2.hook_normalized",
    "attn.hook_z",
    "mlp.hook_post",
]


@dataclass
class Case:
    fam: Family
    model: nn.Module
    ids: torch.Tensor
    hidden: tuple[torch.Tensor, ...]

    def block(self, layer: int) -> nn.Module:
        return self.model.get_submodule(f"{self.fam.base}.{self.fam.layers}.{layer}")

    def run(self, *names: str) -> list[torch.Tensor]:
        hooks = [parse_hook_name(n) for n in names]
        with torch.no_grad():
            got = run_to_hooks(self.model, self.ids, hooks)
        return [got[h] for h in hooks]

    def sites(self) -> list[str]:
        skip = ("hook_resid_mid", "hook_mlp_in") if self.fam.parallel else ()
        return [s for s in TL_SITES if s not in skip]


@pytest.fixture(scope="module", params=list(FAMILIES))
def case(request: pytest.FixtureRequest) -> Case:
    fam = FAMILIES[request.param]
    torch.manual_seed(0)
    model = fam.model(fam.config()).float().eval()
    with torch.no_grad():
        for param in model.parameters():  # larger than the default init: no near-zero tensors
            param.normal_(0.0, 0.2)
        ids = torch.randint(0, 100, (2, 7))
        hidden = model(ids, output_hidden_states=True).hidden_states
    assert len(hidden) == N_LAYERS + 1
    return Case(fam, model, ids, hidden)


def close(got: torch.Tensor, want: torch.Tensor) -> None:
    assert got.shape == want.shape
    assert want.abs().max() > 1e-2, "a near-zero tensor proves nothing"
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def project(proj: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """x through a Linear, or through GPT-2's Conv1D (which stores its weight as [in, out])."""
    weight = proj.weight if isinstance(proj, nn.Linear) else proj.weight.T
    out = x @ weight.T
    return out if proj.bias is None else out + proj.bias


def test_residual_stream_matches_hidden_states(case: Case) -> None:
    for layer in range(N_LAYERS):
        (pre,) = case.run(f"blocks.{layer}.hook_resid_pre")
        close(pre, case.hidden[layer])
    for layer in range(N_LAYERS - 1):  # the last hidden state is after the final norm
        (post,) = case.run(f"blocks.{layer}.hook_resid_post")
        close(post, case.hidden[layer + 1])


def test_residual_decomposes_into_attention_and_mlp(case: Case) -> None:
    for layer in range(N_LAYERS):
        names = [f"blocks.{layer}.hook_{s}" for s in ("resid_pre", "attn_out", "mlp_out")]
        pre, attn, mlp = case.run(*names)
        (post,) = case.run(f"blocks.{layer}.hook_resid_post")
        if case.fam.parallel:
            close(post, pre + attn + mlp)
            for site in ("hook_resid_mid", "hook_mlp_in"):
                with pytest.raises(ModelError, match="parallel residual"):
                    case.run(f"blocks.{layer}.{site}")
        else:
            mid, mlp_in = case.run(f"blocks.{layer}.hook_resid_mid", f"blocks.{layer}.hook_mlp_in")
            close(mid, pre + attn)
            close(post, mid + mlp)
            close(mlp_in, mid)


def test_mlp_reads_ln2_normalized(case: Case) -> None:
    for layer in range(N_LAYERS):
        block = case.block(layer)
        before_mlp = "resid_pre" if case.fam.parallel else "resid_mid"
        resid, normalized, mlp_out = case.run(
            f"blocks.{layer}.hook_{before_mlp}",
            f"blocks.{layer}.ln2.hook_normalized",
            f"blocks.{layer}.hook_mlp_out",
        )
        with torch.no_grad():
            close(normalized, block.get_submodule(case.fam.ln2)(resid))
            out = block.get_submodule(case.fam.mlp)(normalized)
            if case.fam.mlp_post:
                out = block.get_submodule(case.fam.mlp_post)(out)
        close(out, mlp_out)


def test_hook_z_and_mlp_post_are_read_by_the_output_projections(case: Case) -> None:
    layers = case.fam.layers
    for layer in range(N_LAYERS):
        block = case.block(layer)
        z, attn_out, attn_module, post, mlp_out, mlp_module = case.run(
            f"blocks.{layer}.attn.hook_z",
            f"blocks.{layer}.hook_attn_out",
            f"{layers}.{layer}.{case.fam.attn}",
            f"blocks.{layer}.mlp.hook_post",
            f"blocks.{layer}.hook_mlp_out",
            f"{layers}.{layer}.{case.fam.mlp}",
        )
        with torch.no_grad():
            attn = project(block.get_submodule(case.fam.attn_proj), z)
            mlp = project(block.get_submodule(case.fam.mlp_proj), post)
            close(attn, attn_module)  # before any post-attention norm
            close(mlp, mlp_module)
            if case.fam.attn_post:
                attn = block.get_submodule(case.fam.attn_post)(attn)
            if case.fam.mlp_post:
                mlp = block.get_submodule(case.fam.mlp_post)(mlp)
        close(attn, attn_out)
        close(mlp, mlp_out)


def test_module_paths_give_the_same_tensors_as_tl_names(case: Case) -> None:
    fam, at = case.fam, f"{case.fam.layers}.1"
    pairs = {
        at: "blocks.1.hook_resid_post",
        f"{fam.base}.{at}": "blocks.1.hook_resid_post",
        f"{at}.{fam.mlp}:input": "blocks.1.ln2.hook_normalized",
        f"{at}.{fam.attn_proj}:input": "blocks.1.attn.hook_z",
        f"{at}.{fam.mlp_proj}:input": "blocks.1.mlp.hook_post",
        f"{at}.{fam.attn_post or fam.attn}": "blocks.1.hook_attn_out",
        f"{at}.{fam.mlp_post or fam.mlp}:output": "blocks.1.hook_mlp_out",
        f"{at}:input": "blocks.1.hook_resid_pre",
    }
    if not fam.parallel:
        pairs[f"{at}.{fam.ln2}:input"] = "blocks.1.hook_resid_mid"
    paths = case.run(*pairs)
    tl_names = case.run(*pairs.values())
    for path, got, want in zip(pairs, paths, tl_names, strict=True):
        assert torch.equal(got, want), path
    assert parse_hook_name(f"{fam.base}.{at}.{fam.mlp}").name == f"{at}.{fam.mlp}"
    assert parse_hook_name(f"{at}.{fam.mlp}:input") == HookPoint.module(
        f"{at}.{fam.mlp}", read_input=True
    )


def test_several_hooks_in_one_pass_equal_separate_passes(case: Case) -> None:
    names = [
        "blocks.2.hook_resid_pre",
        "blocks.0.mlp.hook_post",
        f"{case.fam.layers}.1.{case.fam.mlp}:input",
        "blocks.1.attn.hook_z",
        "blocks.0.hook_attn_out",
    ]
    passes: list[int] = []
    embed = case.model.get_input_embeddings()
    handle = embed.register_forward_hook(lambda *_: passes.append(1))
    try:
        together = case.run(*names)
    finally:
        handle.remove()
    assert passes == [1]
    for name, got in zip(names, together, strict=True):
        assert torch.equal(got, case.run(name)[0]), name


def test_the_pass_stops_once_every_hook_fired(case: Case) -> None:
    fam, last = case.fam, N_LAYERS - 1
    fired: list[str] = []
    watched = {
        "final norm": case.model.get_submodule(f"{fam.base}.{fam.final_norm}"),
        "last mlp": case.block(last).get_submodule(fam.mlp),
        "lm head": case.model.get_output_embeddings(),
    }
    handles = [m.register_forward_hook(lambda *_, n=n: fired.append(n)) for n, m in watched.items()]
    try:
        case.run(f"blocks.{last}.hook_attn_out", "blocks.0.mlp.hook_post")
        assert fired == []
        case.run(f"{fam.layers}.{last}", f"blocks.{last}.attn.hook_z")
        assert fired == ["last mlp"]
    finally:
        for handle in handles:
            handle.remove()


def test_hook_width_matches_the_captured_shapes(case: Case) -> None:
    fam, config = case.fam, case.model.config
    names = [f"blocks.1.{site}" for site in case.sites()]
    names += [f"{fam.layers}.1", f"{fam.layers}.1.{fam.mlp}", f"{fam.layers}.1.{fam.attn}"]
    names += [f"{fam.layers}.1.{fam.mlp}:input", f"{fam.layers}.1.{fam.mlp_proj}:input", "lm_head"]
    for name, got in zip(names, case.run(*names), strict=True):
        assert hook_width(case.model, parse_hook_name(name)) == got.shape[-1], name
    hidden = config.hidden_size
    head_dim = getattr(config, "head_dim", None) or hidden // config.num_attention_heads
    inner = getattr(config, "n_inner", None) or getattr(config, "intermediate_size", 4 * hidden)
    expected = {
        "blocks.0.hook_resid_post": hidden,
        "blocks.0.attn.hook_z": config.num_attention_heads * head_dim,
        "blocks.0.mlp.hook_post": inner,
        "lm_head": config.vocab_size,
    }
    for name, width in expected.items():
        assert hook_width(case.model, parse_hook_name(name)) == width, name


def test_unknown_sites_paths_and_layers_are_clear_errors(case: Case) -> None:
    model, layers = case.model, case.fam.layers
    with pytest.raises(ModelError, match=r"not supported.*did you mean blocks\.0\.attn\.hook_z"):
        parse_hook_name("blocks.0.attn.hook_zz")
    with pytest.raises(ModelError, match=rf"has no module '{layers}\.0\.mlpp'.*nearest: "):
        hook_width(model, parse_hook_name(f"{layers}.0.mlpp"))
    with pytest.raises(ModelError, match=rf"nearest: .*{layers}\.0\.mlp"):
        run_to_hooks(model, case.ids, [parse_hook_name(f"{layers}.0.mlpp")])
    for name in (f"blocks.{N_LAYERS}.hook_resid_post", f"{layers}.7.mlp", "blocks.9.attn.hook_z"):
        with pytest.raises(ModelError, match=rf"needs layer \d, but .* has {N_LAYERS} layers"):
            run_to_hooks(model, case.ids, [parse_hook_name(name)])


def test_parse_canonical_names() -> None:
    assert parse_hook_name("model.layers.2.ln2.hook_normalized") == HookPoint(2, "ln2_normalized")
    assert parse_hook_name("transformer.h.3.attn.hook_z").name == "blocks.3.attn.hook_z"
    assert parse_hook_name("gpt_neox.layers.1.mlp.hook_post").name == "blocks.1.mlp.hook_post"
    assert parse_hook_name("layers.0.hook_mlp_in").name == "blocks.0.hook_mlp_in"
    for name in [f"blocks.4.{site}" for site in TL_SITES] + ["layers.6", "h.3.mlp:input"]:
        hook = parse_hook_name(name)
        assert hook.name == name and parse_hook_name(hook.name) == hook
    assert parse_hook_name("layers.6.mlp:output") == HookPoint.module("layers.6.mlp")
    assert parse_hook_name("model.layers.6") == HookPoint(None, "module", "layers.6")
    assert parse_hook_name("gpt_neox.layers.2.mlp").name == "layers.2.mlp"
    assert len({parse_hook_name("layers.6.mlp"), HookPoint.module("layers.6.mlp")}) == 1
    for bad in ("blocks.6", "blocks.x.hook_resid_pre", "layers.6.mlp:inputs", "layers..6", ""):
        with pytest.raises(ModelError, match="not supported"):
            parse_hook_name(bad)
    with pytest.raises(ModelError, match="inconsistent"):
        HookPoint(2, "module")


def test_unmapped_model_type_keeps_residual_hooks_and_module_paths() -> None:
    """Olmo 2 puts its norms after attention and MLP: no layout is registered for it."""
    config = tf.Olmo2Config(**SIZES, **HEADS, **IDS)
    model = tf.Olmo2ForCausalLM(config).eval()
    ids = torch.randint(0, 100, (1, 5))
    with torch.no_grad():
        hidden = model(ids, output_hidden_states=True).hidden_states
        pre, mlp = (parse_hook_name(n) for n in ("blocks.1.hook_resid_pre", "layers.1.mlp"))
        got = run_to_hooks(model, ids, [pre, mlp])
    torch.testing.assert_close(got[pre], hidden[1], atol=1e-5, rtol=1e-5)
    assert got[mlp].shape == (1, 5, 32)
    with pytest.raises(ModelError, match=r"mapped for model types .*llama"):
        hook_width(model, parse_hook_name("blocks.1.attn.hook_z"))
