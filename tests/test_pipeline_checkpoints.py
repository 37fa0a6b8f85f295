"""The pipeline on checkpoints other than the demo SAE, through real forward passes of a tiny
random Llama and the real local explainer: signed AbsTopK latents (both directions explained
and scored), an ITDA dictionary, the MLP-neuron and random-weights baselines, and a hook-point
override."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from autointerp.config import CacheConfig, CorpusConfig, RunConfig, SamplingConfig, ScoringConfig
from autointerp.errors import CheckpointError, ModelError
from autointerp.pipeline import run
from autointerp.store.query import read_table
from tests.helpers import write_saelens
from tests.saes.test_itda import normalize_decoder, save_like_itda, trainer_config

BASE = RunConfig(
    cache=CacheConfig(dtype="float32"),  # exact activations on every CPU
    corpus=CorpusConfig(n_tokens=3200),
    sampling=SamplingConfig(n_explain=4, n_score=4, n_nonactivating=4, min_examples=8),
    scoring=ScoringConfig(scorers=("detection",), n_bootstrap=0),
)


@pytest.mark.slow
def test_signed_latents_are_explained_in_both_directions(tiny_llama: Path, tmp_path: Path) -> None:
    sae = write_saelens(
        tmp_path / "abstopk", d_in=64, d_sae=32, architecture="abstopk", k=4, model_name=None
    )
    out = tmp_path / "out"
    cfg = replace(BASE, sae=str(sae), model=str(tiny_llama), latents="live:40")
    run(cfg, out, progress=False)
    latents = read_table(out, "latents")
    assert len(latents) == 64
    assert set(latents["direction"]) == {"+", "-"}
    neg = latents[latents["direction"] == "-"]
    assert (neg["sae_latent"] == neg["latent"] - 32).all()
    chosen = latents[latents["selected"] & (latents["sample_status"] == "ok")]
    assert set(chosen["direction"]) == {"+", "-"}, "both directions should be explained"
    expl = read_table(out, "explanations")
    scores = read_table(out, "scores")
    negative_units = set(chosen.loc[chosen["direction"] == "-", "latent"])
    assert negative_units & set(expl["latent"]) and negative_units & set(scores["latent"])
    examples = read_table(out, "examples")
    assert examples["acts"].map(min).min() >= 0  # a negative side is explained by magnitude


@pytest.mark.slow
def test_an_itda_dictionary(tiny_llama: Path, tmp_path: Path) -> None:
    """Atoms saved as ITDA's train.py saves them; an atom is explained and scored."""
    atoms = normalize_decoder(torch.randn(40, 64, generator=torch.Generator().manual_seed(0)))
    indices = torch.zeros(40, 2, dtype=torch.long)
    run_dir = save_like_itda(
        tmp_path / "run", atoms, indices, trainer_config(layer=1, activation_dim=64, k=4)
    )
    cfg = replace(BASE, sae=str(run_dir), model=str(tiny_llama), latents="live:1")
    run(cfg, tmp_path / "out", progress=False)
    latents = read_table(tmp_path / "out", "latents")
    assert len(latents) == 80  # each atom's two directions
    assert set(latents["hook_name"]) == {"blocks.1.hook_resid_post"}
    scores = read_table(tmp_path / "out", "scores")
    assert len(scores) and set(scores["status"]) == {"ok"}


@pytest.mark.slow
def test_mlp_neuron_baseline(tiny_llama: Path, tmp_path: Path) -> None:
    cfg = replace(
        BASE, sae="neurons:blocks.1.mlp.hook_post:k=8", model=str(tiny_llama), latents="live:2"
    )
    run(cfg, tmp_path, progress=False)
    latents = read_table(tmp_path, "latents")
    assert len(latents) == 128  # the tiny Llama's MLP width
    assert latents["selected"].sum() == 2
    assert set(read_table(tmp_path, "scores")["hook_name"]) == {"blocks.1.mlp.hook_post"}


@pytest.mark.slow
def test_random_weights_baseline(tiny_llama: Path, tmp_path: Path) -> None:
    sae = write_saelens(tmp_path / "sae", d_in=64, d_sae=48, model_name=None)
    cfg = replace(BASE, sae=f"random:{sae}:seed=3", model=str(tiny_llama), latents="live:1")
    result = run(cfg, tmp_path / "out", progress=False)
    manifest = (tmp_path / "out" / "runs" / f"{result.run_id}.json").read_text()
    assert '"sae_format": "random(saelens)"' in manifest


@pytest.mark.slow
def test_hook_override(tiny_llama: Path, tmp_path: Path) -> None:
    sae = write_saelens(tmp_path / "sae", d_in=64, d_sae=48, model_name=None)
    cfg = replace(
        BASE, sae=str(sae), model=str(tiny_llama), latents="0", hook="blocks.0.hook_resid_post"
    )
    run(cfg, tmp_path / "out", progress=False)
    assert set(read_table(tmp_path / "out", "latents")["hook_name"]) == {"blocks.0.hook_resid_post"}
    with pytest.raises(ModelError, match="blocks.9.hook_resid_post"):
        run(replace(cfg, hook="blocks.9.hook_resid_post"), tmp_path / "bad", progress=False)
    assert not (tmp_path / "bad").exists()


def test_neurons_baseline_with_a_bad_option(tiny_llama: Path, tmp_path: Path) -> None:
    cfg = replace(BASE, sae="neurons:blocks.1.mlp.hook_post:q=3", model=str(tiny_llama))
    with pytest.raises(Exception, match="q=3"):
        run(cfg, tmp_path, progress=False)
    assert not tmp_path.joinpath("latents").exists()


def test_random_baseline_of_a_missing_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        run(replace(BASE, sae=f"random:{tmp_path / 'nope'}"), tmp_path / "out", progress=False)


@pytest.mark.slow
def test_a_bfloat16_run(tiny_llama: Path, tmp_path: Path) -> None:
    """The bf16 path end to end (what cache.dtype=auto picks on CUDA and AMX CPUs); the
    statistics stay close to the float32 run's."""
    sae = write_saelens(tmp_path / "sae", d_in=64, d_sae=48, model_name=None)
    cfg = replace(BASE, sae=str(sae), model=str(tiny_llama), latents="live:2")
    run(replace(cfg, cache=CacheConfig(dtype="bfloat16")), tmp_path / "bf16", progress=False)
    run(cfg, tmp_path / "fp32", progress=False)
    manifest = next((tmp_path / "bf16" / "runs").glob("*.json")).read_text()
    assert '"model_dtype": "bfloat16"' in manifest
    bf16 = read_table(tmp_path / "bf16", "latents").set_index("latent")
    fp32 = read_table(tmp_path / "fp32", "latents").set_index("latent")
    live = fp32["fire_count"] > 20
    rel = (bf16["fire_count"][live] - fp32["fire_count"][live]).abs() / fp32["fire_count"][live]
    assert float(rel.median()) < 0.1
    assert set(read_table(tmp_path / "bf16", "scores")["status"]) <= {"ok", "skipped"}
