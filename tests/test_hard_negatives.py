"""Hard negatives and cropped examples through real forward passes of the tiny random Llama:
decoder-neighbour negatives come from the neighbour's top windows, similar-context negatives
sit closer to the activating examples in embedding space than random ones, the unit is zero
on every negative, crops keep the peak where asked, and a whole run stores and scores them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file, save_file

from autointerp.cache import LatentStats
from autointerp.config import CacheConfig, CorpusConfig, RunConfig, SamplingConfig, ScoringConfig
from autointerp.errors import ConfigError
from autointerp.pipeline import Prepared, prepare, run
from autointerp.records import LatentRecord, LatentSample
from autointerp.sampling import neighbour_units, sample_latent
from autointerp.sampling.context import negative_start
from autointerp.stages import build_records, compute_stats
from autointerp.store import SCHEMAS, read_table
from tests.helpers import write_saelens

SAMPLING = SamplingConfig(n_explain=4, n_score=4, n_nonactivating=4, min_examples=6)
BASE = RunConfig(
    cache=CacheConfig(dtype="float32"),  # exact activations on every CPU
    corpus=CorpusConfig(n_tokens=3200),  # 100 windows of 31 tokens
    sampling=SAMPLING,
    scoring=ScoringConfig(scorers=("detection",), n_bootstrap=0),
)


@dataclass
class Setup:
    prep: Prepared
    stats: LatentStats
    sae_dir: Path
    a: int
    """The unit under test."""
    b: int
    """A unit whose decoder row was set to a's plus noise (its encoder is untouched)."""

    def records(self, sampling: SamplingConfig, units: Sequence[int]) -> list[LatentRecord]:
        return self.samples_and_records(sampling, units)[1]

    def samples_and_records(
        self, sampling: SamplingConfig, units: Sequence[int]
    ) -> tuple[list[LatentSample], list[LatentRecord]]:
        prep = replace(self.prep, cfg=replace(self.prep.cfg, sampling=sampling))
        samples = [sample_latent(self.stats, u, sampling, prep.cfg.seed) for u in units]
        return samples, build_records(prep, self.stats, samples, progress=False)


def _pick_pair(stats: LatentStats, min_examples: int) -> tuple[int, int]:
    """Units a, b that both fire in some but not most windows, where several of b's top
    windows are windows in which a never fires (the reservoir holds all of a's windows)."""
    counts = stats.window_count.tolist()
    live = [u for u, c in enumerate(counts) if min_examples <= c <= 0.7 * stats.n_windows]
    for a in live:
        fires = set(stats.reservoir(a)[0].tolist())
        assert len(fires) == counts[a]
        for b in live:
            if b != a and len([w for w in stats.top(b)[0].tolist() if w not in fires]) >= 4:
                return a, b
    raise AssertionError("no suitable pair of units in this random SAE")


@pytest.fixture(scope="module")
def setup(tiny_llama: Path, tmp_path_factory: pytest.TempPathFactory) -> Setup:
    sae_dir = write_saelens(
        tmp_path_factory.mktemp("sae") / "sae", d_in=64, d_sae=256, k=4, model_name=None
    )
    cfg = replace(BASE, sae=str(sae_dir), model=str(tiny_llama), latents="0")
    stats = compute_stats(prepare(cfg), progress=False)
    a, b = _pick_pair(stats, SAMPLING.min_examples)
    # The decoder plays no part in encoding: the activations (and statistics) stay the same.
    weights = load_file(str(sae_dir / "sae_weights.safetensors"))
    noise = torch.randn(64, generator=torch.Generator().manual_seed(1))
    weights["W_dec"][b] = weights["W_dec"][a] + 0.01 * noise * weights["W_dec"][a].norm() / 8
    save_file(weights, str(sae_dir / "sae_weights.safetensors"))
    prep = prepare(cfg)
    again = compute_stats(prep, progress=False)
    assert torch.equal(again.top_windows, stats.top_windows)
    return Setup(prep, again, sae_dir, a, b)


@pytest.mark.slow
def test_neighbours_are_found_by_decoder_cosine(setup: Setup) -> None:
    directions = setup.prep.sae.decoder_directions()
    assert neighbour_units(directions, [setup.a], 1) == {setup.a: [setup.b]}


@pytest.mark.slow
def test_neighbour_negatives_come_from_the_neighbours_top_windows(setup: Setup) -> None:
    sampling = replace(
        SAMPLING, negatives=("random", "neighbours"), n_neighbours=1, n_neighbour_negatives=3
    )
    samples, [record] = setup.samples_and_records(sampling, [setup.a])
    hard = [ex for ex in record.nonactivating if ex.role == "hard_neighbour"]
    rand = [ex for ex in record.nonactivating if ex.role == "nonactivating"]
    assert len(hard) == 3 and len(rand) == 4
    assert {ex.window for ex in hard} <= set(setup.stats.top(setup.b)[0].tolist())
    assert all(max(ex.acts) == 0 for ex in record.nonactivating)
    positives = {ex.window for ex in (*record.explain, *record.score)}
    windows = [ex.window for ex in record.nonactivating]
    assert len(set(windows)) == len(windows) and not set(windows) & positives
    assert samples[0].hard_negatives == [(ex.window, "hard_neighbour") for ex in hard]
    # Deterministic: the same config gives the same negatives.
    [again] = setup.records(sampling, [setup.a])
    assert again.nonactivating == record.nonactivating


@pytest.fixture(scope="module")
def all_kinds(setup: Setup) -> tuple[SamplingConfig, list[LatentRecord]]:
    pytest.importorskip("sentence_transformers")
    sampling = replace(
        SAMPLING,
        negatives=("random", "neighbours", "similar"),
        n_neighbours=4,
        n_neighbour_negatives=3,
        n_similar_negatives=4,
    )
    live = [u for u, c in enumerate(setup.stats.window_count.tolist()) if 6 <= c <= 70]
    units = sorted({setup.a, setup.b, *live[:4]})
    return sampling, setup.records(sampling, units)


@pytest.mark.slow
def test_the_unit_is_zero_on_every_negative(all_kinds: tuple[SamplingConfig, list]) -> None:
    _sampling, records = all_kinds
    roles = set()
    for record in records:
        assert all(max(ex.acts) == 0 for ex in record.nonactivating), record.latent
        assert all(max(ex.acts) > 0 for ex in (*record.explain, *record.score))
        windows = [ex.window for ex in (*record.explain, *record.score, *record.nonactivating)]
        assert len(windows) == len(set(windows)), record.latent
        roles |= {ex.role for ex in record.nonactivating}
        assert sum(ex.role == "hard_similar" for ex in record.nonactivating) == 4
    assert roles == {"nonactivating", "hard_neighbour", "hard_similar"}


@pytest.mark.slow
def test_similar_negatives_are_closer_than_random_ones(
    all_kinds: tuple[SamplingConfig, list],
) -> None:
    from autointerp.sampling.embed import minilm_embedder

    embed = minilm_embedder()
    _sampling, records = all_kinds
    for record in records:
        centre = embed([ex.text for ex in (*record.explain, *record.score)]).mean(axis=0)
        by_role = {
            role: embed([ex.text for ex in record.nonactivating if ex.role == role]) @ centre
            for role in ("hard_similar", "nonactivating")
        }
        assert by_role["hard_similar"].mean() > by_role["nonactivating"].mean(), record.latent
        assert by_role["hard_similar"].min() >= np.median(by_role["nonactivating"])


@pytest.mark.slow
def test_crops_keep_the_peak_at_peak_position(setup: Setup) -> None:
    units = [setup.a, setup.b]
    cropped = setup.records(replace(SAMPLING, example_len=8, peak_position=3), units)
    whole = setup.records(SAMPLING, units)
    unclamped = 0
    for small, full in zip(cropped, whole, strict=True):
        pairs = zip(
            (*small.explain, *small.score, *small.nonactivating),
            (*full.explain, *full.score, *full.nonactivating),
            strict=True,
        )
        for ex, ref in pairs:
            assert (ex.window, ex.role) == (ref.window, ref.role) and ref.start == 0
            assert len(ex.tokens) == len(ex.acts) == 8
            assert ex.acts == ref.acts[ex.start : ex.start + 8]
            assert ex.tokens == ref.tokens[ex.start : ex.start + 8]
            if ex.role == "nonactivating":
                assert ex.start == negative_start(
                    ex.window, 31, replace(SAMPLING, example_len=8), 0
                )
            elif 0 < ex.start < 31 - 8:
                unclamped += 1
                assert int(np.argmax(ex.acts)) == 3 and ex.max_act == ref.max_act
            else:  # the window was too short on one side: the peak is still shown
                assert ex.max_act == ref.max_act
    assert unclamped > 0


@pytest.mark.slow
def test_run_stores_and_scores_hard_negatives(setup: Setup, tmp_path: Path) -> None:
    expl = tmp_path / "explanations.csv"
    pd.DataFrame({"latent": [setup.a], "explanation": ["something"]}).to_csv(expl, index=False)
    sampling = replace(
        SAMPLING, negatives=("random", "neighbours"), n_neighbours=1, n_neighbour_negatives=3
    )
    cfg = replace(setup.prep.cfg, sampling=sampling, explanations=str(expl), latents=str(setup.a))
    run(cfg, tmp_path / "out", progress=False)  # the real local SmolLM2 judges
    examples = read_table(tmp_path / "out", "examples")
    roles = examples["role"].value_counts().to_dict()
    assert roles == {"explain": 4, "score": 4, "nonactivating": 4, "hard_neighbour": 3}
    [score] = read_table(tmp_path / "out", "scores").itertuples()
    assert (score.status, score.n_pos, score.n_neg) == ("ok", 4, 7)
    doc = SCHEMAS["examples"].field("role").metadata[b"doc"].decode()
    assert "hard_neighbour" in doc and "hard_similar" in doc


def test_bad_sampling_for_the_corpus_fails_before_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    too_long = replace(BASE, sampling=replace(SAMPLING, example_len=40))
    with pytest.raises(ConfigError, match="example_len=40 is longer than a corpus window"):
        prepare(too_long)
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "sentence_transformers" else real(name, *a),
    )
    similar = replace(BASE, sampling=replace(SAMPLING, negatives=("similar",)))
    with pytest.raises(ConfigError, match="pip install sentence-transformers"):
        prepare(similar)
