"""Checkpoints on hook points beyond the usual residual/MLP sites, written by sae-lens 6 and
cached end to end on a tiny random Llama (4 layers, 64 wide, 4 heads of 16):

* a transcoder whose ``hook_name`` is a module path (``model.layers.1``) and which, as sae-lens
  6 saves it, has no ``hook_name_out``: it loads and caches; steering asks for ``hook_out``;
* an SAE on one attention head (``hook_head_index``): it reads that head's slice of hook_z,
  exactly what sae-lens feeds it (``activations[:, :, hook_head_index]`` of hook_z shaped
  [batch, pos, n_heads, d_head]);
* embedding SAEs (``hook_embed``), and Gemma Scope 1's released embedding SAEs, whose weights
  are rescaled exactly as sae-lens's own Gemma Scope loader does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from autointerp.cache import bind, cache_activations
from autointerp.config import CacheConfig, RunConfig, ScoringConfig
from autointerp.errors import CheckpointError, ModelError
from autointerp.models.hooks import HookPoint, parse_hook_name, run_to_hooks
from autointerp.models.loader import SubjectModel, load_subject_model
from autointerp.saes import load_sae

sae_lens = pytest.importorskip("sae_lens")

CFG = CacheConfig(batch_size=4, top_k=4, reservoir=4)
D_MODEL, N_HEADS, D_HEAD = 64, 4, 16


@pytest.fixture(scope="module")
def subject(tiny_llama: Path) -> SubjectModel:
    return load_subject_model(str(tiny_llama), device="cpu")


@pytest.fixture(scope="module")
def tokens() -> np.ndarray:
    toks = np.random.default_rng(0).integers(3, 5000, size=(6, 10))
    toks[:, 0] = 1
    return toks


def _saved(path: Path, arch: str, d_in: int, d_sae: int = 32, **meta: Any) -> Any:
    """A sae-lens SAE/transcoder with random weights, saved by sae-lens and loaded back by it."""
    sae_cls, cfg_cls = sae_lens.registry.get_sae_class(arch)
    extra: dict[str, Any] = (
        {"d_out": D_MODEL, "apply_b_dec_to_input": False} if "transcoder" in arch else {}
    )
    metadata = sae_lens.saes.sae.SAEMetadata(model_name="tiny", **meta)
    sae = sae_cls(cfg_cls(d_in=d_in, d_sae=d_sae, metadata=metadata, **extra))
    gen = torch.Generator().manual_seed(d_sae)
    with torch.no_grad():
        for param in sae.parameters():
            param.copy_(torch.randn(param.shape, generator=gen) * 0.3)
    sae.save_model(path)
    return sae_lens.SAE.load_from_disk(path)


def _capture(subject: SubjectModel, tokens: np.ndarray, hook: HookPoint) -> torch.Tensor:
    ids = torch.as_tensor(tokens, dtype=torch.long)
    with torch.no_grad():
        return run_to_hooks(subject.model, ids, [hook])[hook].float()


def test_saelens6_transcoder_on_a_module_path(
    subject: SubjectModel, tokens: np.ndarray, tmp_path: Path
) -> None:
    from autointerp.pipeline import Inputs, prepare

    _saved(tmp_path, "transcoder", D_MODEL, hook_name="model.layers.1")
    cfg = (tmp_path / "cfg.json").read_text()
    assert "hook_name_out" not in cfg  # what sae-lens 6 writes
    sae = load_sae(tmp_path)
    assert (sae.info.hook_name, sae.info.hook_name_out) == ("model.layers.1", "")
    assert bind(subject, sae) == HookPoint.module("layers.1")
    # The module's output is the block's output: blocks.1.hook_resid_post.
    torch.testing.assert_close(
        _capture(subject, tokens, bind(subject, sae)),
        _capture(subject, tokens, parse_hook_name("blocks.1.hook_resid_post")),
    )
    stats = cache_activations(subject, sae, tokens, CFG, seed=0, progress=False)
    assert int(stats.fire_count.sum()) > 0
    # Only what needs the output hook point refuses, before any work, naming the field.
    run = RunConfig(sae=str(tmp_path), scoring=ScoringConfig(scorers=("intervention",)))
    with pytest.raises(CheckpointError, match="hook_name_out.*--hook-out"):
        prepare(run, inputs=Inputs(sae, subject, None))  # type: ignore[arg-type]
    mlp = load_sae(tmp_path, hook="model.layers.1.mlp", hook_out="layers.1.mlp")
    assert bind(subject, mlp) == HookPoint.module("layers.1.mlp")


def test_single_head_sae_reads_its_head_as_sae_lens_does(
    subject: SubjectModel, tokens: np.ndarray, tmp_path: Path
) -> None:
    ref = _saved(tmp_path, "standard", D_HEAD, hook_name="blocks.1.attn.hook_z", hook_head_index=2)
    sae = load_sae(tmp_path)
    hook = bind(subject, sae)
    assert (hook.name, hook.head) == ("blocks.1.attn.hook_z:head=2", 2)
    z = _capture(subject, tokens, parse_hook_name("blocks.1.attn.hook_z"))
    per_head = z.reshape(*z.shape[:-1], N_HEADS, D_HEAD)[:, :, 2]  # sae-lens's slice
    head = _capture(subject, tokens, hook)
    torch.testing.assert_close(head, per_head)
    with torch.no_grad():
        torch.testing.assert_close(sae.encode(head), ref.encode(per_head), atol=1e-4, rtol=1e-4)
    stats = cache_activations(subject, sae, tokens, CFG, seed=0, progress=False)
    assert stats.d_sae == 32 and int(stats.fire_count.sum()) > 0


def test_head_out_of_range(subject: SubjectModel, tmp_path: Path) -> None:
    _saved(tmp_path, "standard", D_HEAD, hook_name="blocks.1.attn.hook_z", hook_head_index=4)
    with pytest.raises(ModelError, match="head 4 does not exist.*4 heads"):
        bind(subject, load_sae(tmp_path))


def test_embedding_sae(subject: SubjectModel, tokens: np.ndarray, tmp_path: Path) -> None:
    _saved(tmp_path, "standard", D_MODEL, hook_name="hook_embed")
    sae = load_sae(tmp_path)
    hook = bind(subject, sae)
    assert hook == HookPoint(None, "embed") and hook.name == "hook_embed"
    acts = _capture(subject, tokens, hook)
    ids = torch.as_tensor(tokens, dtype=torch.long)
    with torch.no_grad():
        torch.testing.assert_close(acts, subject.model.get_input_embeddings()(ids).float())
    # Llama does not scale its embedding: the same tensor as blocks.0.hook_resid_pre.
    torch.testing.assert_close(
        acts, _capture(subject, tokens, parse_hook_name("blocks.0.hook_resid_pre"))
    )
    stats = cache_activations(subject, sae, tokens, CFG, seed=0, progress=False)
    assert int(stats.fire_count.sum()) > 0


def test_gemma_scope_embedding_sae_loads_as_sae_lens_loads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sae_lens.loading import pretrained_sae_loaders as loaders

    d_in, d_sae = 2304, 8  # gemma-2-2b's width: sae-lens rescales by sqrt(2304)
    folder = tmp_path / "gemma-scope-2b-pt-res" / "embedding" / "width_4k" / "average_l0_6"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    np.savez(
        folder / "params.npz",
        W_enc=rng.normal(size=(d_in, d_sae)).astype(np.float32),
        W_dec=rng.normal(size=(d_sae, d_in)).astype(np.float32),
        b_enc=rng.normal(size=d_sae).astype(np.float32),
        b_dec=rng.normal(size=d_in).astype(np.float32),
        threshold=np.full(d_sae, 0.05, np.float32),
    )
    monkeypatch.setattr(loaders, "hf_hub_download", lambda **_: str(folder / "params.npz"))
    cfg, state, _ = loaders.gemma_2_sae_huggingface_loader(
        "google/gemma-scope-2b-pt-res", "embedding/width_4k/average_l0_6"
    )
    ours = load_sae(folder)
    assert ours.info.hook_name == cfg["hook_name"] == "hook_embed"
    assert ours.info.model_name == "google/gemma-2-2b" and cfg["model_name"] == "gemma-2-2b"
    for name in ("W_enc", "W_dec", "b_enc", "b_dec", "threshold"):
        torch.testing.assert_close(getattr(ours, name), state[name], msg=name)
    assert ours.info.extra["embedding_scale"] == pytest.approx(48.0)
