"""The whole pipeline on the real SmolLM2 and the shipped demo SAE (a small run), plus every
kind of bad input: each fails before any output is written."""

from __future__ import annotations

import json
import shutil
import socket
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from safetensors.torch import load_file, save_file

from autointerp.config import (
    CacheConfig,
    CorpusConfig,
    ExplainConfig,
    LLMConfig,
    RunConfig,
    SamplingConfig,
    ScoringConfig,
)
from autointerp.errors import (
    CheckpointError,
    ConfigError,
    CorpusError,
    LLMUnavailableError,
    ModelError,
)
from autointerp.paths import package_data
from autointerp.pipeline import run
from autointerp.store import SCHEMAS, read_table
from tests.helpers import write_saelens
from tests.servers.scripted_openai import ScriptedServer

pytestmark = pytest.mark.slow

# On these 200 windows latent 3 fires in 6 windows (too sparse for min_examples=8), latents
# 4, 7 and 10 in 175, 33 and 38; latent 0 is made dead below.
# float32 pinned: the assertions below depend on exact activations (cache.dtype=auto would
# pick bf16 on CPUs with AMX).
SMALL = RunConfig(
    cache=CacheConfig(dtype="float32"),
    latents="0,3,4,7,10",
    corpus=CorpusConfig(n_tokens=6400),
    sampling=SamplingConfig(n_explain=6, n_score=6, n_nonactivating=6, min_examples=8),
    scoring=ScoringConfig(n_bootstrap=20),
)


@pytest.fixture(scope="module")
def demo_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo SAE with latent 0 made dead (its encoder bias pushed far below the rest)."""
    path = tmp_path_factory.mktemp("sae") / "demo"
    shutil.copytree(package_data("demo_sae"), path)
    weights = load_file(str(path / "sae_weights.safetensors"))
    weights["b_enc"][0] = -1e4
    save_file(weights, str(path / "sae_weights.safetensors"))
    return path


@pytest.fixture(scope="module")
def small_run(demo_copy: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("out")
    cfg = replace(SMALL, sae=str(demo_copy))
    return cfg, out, run(cfg, out, progress=False)


def test_all_tables_are_written_with_their_schemas(small_run) -> None:  # type: ignore[no-untyped-def]
    _cfg, out, result = small_run
    for table, schema in SCHEMAS.items():
        df = read_table(out, table)
        assert list(df.columns) == schema.names, table
        assert (df["run_id"] == result.run_id).all() and len(df), table
    latents = read_table(out, "latents")
    assert len(latents) == 4096 and latents["selected"].sum() == 5
    assert latents.loc[0, "sample_status"] == "dead" and latents.loc[0, "fire_count"] == 0
    assert latents.loc[0, "dead"] and not latents.loc[4, "dead"]
    assert (latents["act_hist"].map(sum) == latents["fire_count"]).all()
    assert latents["top_token_share"].between(0, 1).all()
    assert latents.loc[3, "sample_status"] == "too_sparse" and latents.loc[3, "window_count"] == 6
    assert set(latents.loc[[4, 7, 10], "sample_status"]) == {"ok"}
    assert (latents["n_tokens"] == 200 * 31).all()


def test_explanations_and_scores(small_run) -> None:  # type: ignore[no-untyped-def]
    _cfg, out, _result = small_run
    expl = read_table(out, "explanations").set_index("latent")
    assert expl.loc[0, "status"] == "dead" and expl.loc[0, "explanation"] == ""
    assert expl.loc[3, "status"] == "too_sparse" and "fired in 6 windows" in expl.loc[3, "error"]
    live = expl.loc[[4, 7, 10]]
    # the grounded explainer (the default) stores a checked theme or the statistics phrase
    assert set(live["source"]) <= {"generated:grounded", "generated:stats"}
    assert (live["prompt_version"] == "grounded.v1").all()
    assert (live["llm"] == "local:HuggingFaceTB/SmolLM2-135M-Instruct").all()
    assert (live["prompt_tokens"] > 100).all() and (live["completion_tokens"] > 0).all()
    assert set(live["status"]) == {"ok"}
    scores = read_table(out, "scores")
    assert len(scores) == 10  # 5 latents x (detection, fuzz)
    skipped = scores[scores["latent"].isin([0, 3])]
    assert set(skipped["status"]) == {"skipped"}
    assert skipped["error"].str.contains("dead|too_sparse").all()
    ok = scores[scores["status"] == "ok"]
    assert len(ok) >= 4
    # in process, detection reads the statement likelihood ('auto'); fuzz asks yes/no
    assert dict(zip(ok["scorer"], ok["method"], strict=True)) == {
        "detection": "likelihood",
        "fuzz": "logprob",
    }
    assert (
        ok.loc[ok["scorer"] == "detection", "prompt_version"] == "detection_likelihood.v1"
    ).all()
    for metric in ("balanced_accuracy", "precision", "recall", "f1", "auroc"):
        values = ok[metric].dropna()
        assert ((values >= 0) & (values <= 1)).all(), metric
    assert (ok["auroc_ci_low"] <= ok["auroc"] + 1e-9).all() and (
        ok["auroc"] <= ok["auroc_ci_high"] + 1e-9
    ).all()
    det = ok[ok["scorer"] == "detection"]
    assert ((det["n_pos"] == 6) & (det["n_neg"] == 6)).all()


def test_examples_and_judgements_are_consistent(small_run) -> None:  # type: ignore[no-untyped-def]
    _cfg, out, _result = small_run
    ex = read_table(out, "examples")
    assert set(ex["latent"]) == {4, 7, 10}
    for latent, group in ex.groupby("latent"):
        counts = group["role"].value_counts().to_dict()
        assert counts == {"explain": 6, "score": 6, "nonactivating": 6}, latent
        assert not set(group[group.role == "explain"].window) & set(
            group[group.role == "score"].window
        )
    active = ex[ex.role != "nonactivating"]
    assert all(
        max(a) > 0 and max(a) == pytest.approx(m)
        for a, m in zip(active.acts, active.max_act, strict=True)
    )
    assert all(max(a) == 0 for a in ex[ex.role == "nonactivating"].acts)
    assert all(len(t) == 31 == len(a) for t, a in zip(ex.tokens, ex.acts, strict=True))
    judged = read_table(out, "judgements")
    scores = read_table(out, "scores")
    ok = scores[scores.status == "ok"]
    assert len(judged) == int(ok["n_examples"].sum())


def test_frozen_config_is_saved_next_to_the_outputs(small_run) -> None:  # type: ignore[no-untyped-def]
    cfg, out, result = small_run
    manifest = json.loads((out / "runs" / f"{result.run_id}.json").read_text())
    assert RunConfig.from_dict(manifest["config"]) == cfg
    assert manifest["inputs"]["hook_name"] == "blocks.15.hook_resid_post"
    assert set(manifest["timings_s"]) >= {"load", "cache", "sample", "explain", "score"}


def test_rerunning_the_same_run_does_not_duplicate_rows(small_run) -> None:  # type: ignore[no-untyped-def]
    cfg, out, result = small_run
    before = {t: len(read_table(out, t)) for t in SCHEMAS}
    again = run(cfg, out, progress=False)
    assert again.run_id == result.run_id
    assert {t: len(read_table(out, t)) for t in SCHEMAS} == before
    assert sorted(p.name for p in (out / "scores").iterdir()) == [f"{result.run_id}.parquet"]
    stored = read_table(out, "explanations")[["latent", "explanation"]]
    fresh = result.explanations[["latent", "explanation"]].sort_values("latent")
    pd.testing.assert_frame_equal(stored, fresh.reset_index(drop=True))


def test_scoring_user_explanations_several_per_latent(small_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg, _out, _result = small_run
    path = tmp_path / "mine.csv"
    pd.DataFrame(
        {"latent": [7, 7, 10], "explanation": ["Python code", "the word 'the'", "punctuation"]}
    ).to_csv(path, index=False)
    out = tmp_path / "out"
    res = run(
        replace(
            cfg,
            explanations=str(path),
            scoring=replace(cfg.scoring, scorers=("detection",)),
        ),
        out,
        progress=False,
    )
    scores = read_table(out, "scores")
    assert sorted(zip(scores.latent, scores.explanation_id, strict=True)) == [
        (7, 0),
        (7, 1),
        (10, 0),
    ]
    assert (scores["status"] == "ok").all()
    expl = read_table(out, "explanations")
    assert set(expl["source"]) == {"user:mine.csv"} and len(expl) == 3
    assert res.run_id != small_run[2].run_id


def test_llm_failures_become_status_rows(  # type: ignore[no-untyped-def]
    small_run, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Explainer replies that are empty or refusals, and a scorer endpoint that keeps failing,
    end as explicit status rows (the LLM is a scripted HTTP server: a real model cannot be
    made to fail on cue). The plain 'default' explainer stores its parse failures as such;
    the grounded one replaces them by the statistics phrase (tests/explain/test_grounded.py)."""
    cfg, _out, _result = small_run

    def reject(body: dict) -> int | None:
        probe = body["messages"][-1]["content"] == "Say yes."
        return 503 if body.get("logprobs") and not probe else None

    replies = ["", "I'm sorry, I cannot help with that.", "Explanation: code"]
    with ScriptedServer(replies=replies, reject=reject) as srv:
        llm_cfg = LLMConfig(
            backend="openai", base_url=srv.url, model="", max_retries=1, max_concurrency=1
        )
        explain = ExplainConfig(explainer="default")
        with caplog.at_level("INFO", logger="autointerp.run"):
            result = run(
                replace(cfg, latents="4,7,10", llm=llm_cfg, explain=explain),
                tmp_path,
                progress=False,
            )
        sent = len(srv.requests)
    # every request the run sent: the POSTs the server recorded and the model listing (a GET)
    assert result.llm_requests == sent + 1
    # the batch line counts what was sent (the endpoint check's requests came before it)
    line = next(r.getMessage() for r in caplog.records if "batch 1/1:" in r.getMessage())
    counted = int(line.split(" LLM requests")[0].rsplit(" ", 1)[1])
    assert 0 < counted < sent and f"({counted / 3:.1f} per latent)" in line
    expl = read_table(tmp_path, "explanations").set_index("latent")
    assert list(expl["status"]) == ["unparsable", "refusal", "ok"]
    assert expl.loc[10, "explanation"] == "code" and "empty reply" in expl.loc[4, "error"]
    scores = read_table(tmp_path, "scores")
    by_latent = scores.groupby("latent")["status"].apply(set).to_dict()
    assert by_latent == {4: {"skipped"}, 7: {"skipped"}, 10: {"failed"}}
    failed = scores[scores["latent"] == 10]
    assert failed["error"].str.contains("HTTP 503").all()


def test_model_override_with_a_local_directory(
    tiny_llama: Path, tiny_sae: Path, tmp_path: Path
) -> None:
    """The checkpoint names a model that does not exist; --model points at a local one."""
    cfg = replace(
        SMALL,
        sae=str(tiny_sae),
        model=str(tiny_llama),
        latents="live:2",
        corpus=CorpusConfig(n_tokens=3200),
        sampling=SamplingConfig(n_explain=4, n_score=4, n_nonactivating=4, min_examples=8),
        scoring=ScoringConfig(scorers=("detection",), n_bootstrap=0),
    )
    result = run(cfg, tmp_path, progress=False)
    latents = read_table(tmp_path, "latents")
    assert len(latents) == 256 and latents["selected"].sum() == 2
    scores = read_table(tmp_path, "scores")
    assert len(scores) == 2 and set(scores["model"]) == {str(tiny_llama)}
    # The explainer's greedy reply about a random model's latents differs between CPUs
    # (float rounding), so a latent may be skipped, but never silently and never failed.
    assert set(scores["status"]) <= {"ok", "skipped"}
    assert scores.loc[scores["status"] == "skipped", "error"].str.len().gt(0).all()
    assert len(result.explanations) == 2


# ----------------------------------------------------------------- bad input, no output
def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _nan_sae(tmp: Path) -> Path:
    path = tmp / "nan"
    shutil.copytree(package_data("demo_sae"), path)
    weights = load_file(str(path / "sae_weights.safetensors"))
    weights["W_enc"][0, 0] = float("nan")
    save_file(weights, str(path / "sae_weights.safetensors"))
    return path


def _malformed(tmp: Path) -> Path:
    path = write_saelens(tmp / "s", d_in=576, d_sae=64, model_name="smollm2")
    (path / "cfg.json").write_text('{"d_in": 576, "d_sae": ')
    return path


BAD = {
    "missing checkpoint": (lambda t: {"sae": str(t / "nope")}, CheckpointError, "does not exist"),
    "malformed checkpoint": (
        lambda t: {"sae": str(_malformed(t))},
        CheckpointError,
        "not valid JSON",
    ),
    "NaN weights": (lambda t: {"sae": str(_nan_sae(t))}, CheckpointError, "NaN or Inf"),
    "unknown architecture": (
        lambda t: {
            "sae": str(
                write_saelens(
                    t / "s", d_in=576, d_sae=64, architecture="mystery", model_name="smollm2"
                )
            )
        },
        CheckpointError,
        "'mystery' is not supported",
    ),
    "shape mismatch with the model": (
        lambda t: {"sae": str(write_saelens(t / "s", d_in=64, d_sae=128, model_name="smollm2"))},
        ModelError,
        "d_in=64 does not match the hidden size 576",
    ),
    "hook point beyond the model": (
        lambda t: {
            "sae": str(
                write_saelens(
                    t / "s",
                    d_in=576,
                    d_sae=64,
                    hook_name="blocks.40.hook_resid_post",
                    model_name="smollm2",
                )
            )
        },
        ModelError,
        "needs layer 40",
    ),
    "empty corpus": (
        lambda t: {"corpus": {"path": str((t / "empty").mkdir() or t / "empty")}},
        CorpusError,
        "has no .txt or .md files",
    ),
    "latent range out of bounds": (
        lambda t: {"latents": "4000:5000"},
        ConfigError,
        "out of range: the SAE has 4096 latents",
    ),
    "unknown scorer": (
        lambda t: {"scoring": {"scorers": ["detection", "vibes"]}},
        ConfigError,
        "unknown scorer 'vibes'",
    ),
    "unreachable LLM endpoint": (
        lambda t: {
            "llm": {
                "backend": "openai",
                "base_url": f"http://127.0.0.1:{_closed_port()}/v1",
                "model": "",
                "max_retries": 1,
            }
        },
        LLMUnavailableError,
        "127.0.0.1",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_fails_fast_and_writes_nothing(case: str, tmp_path: Path) -> None:
    make, error, message = BAD[case]
    data = SMALL.to_dict()
    for key, value in make(tmp_path).items():
        data[key] = {**data[key], **value} if isinstance(value, dict) else value
    out = tmp_path / "out"
    with pytest.raises(error, match=message):
        run(RunConfig.from_dict(data), out, progress=False)
    assert not out.exists()


def test_failed_run_keeps_earlier_results(small_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg, out, result = small_run
    before = read_table(out, "scores")
    with pytest.raises(ConfigError):
        run(replace(cfg, latents="9999"), out, progress=False)
    pd.testing.assert_frame_equal(read_table(out, "scores"), before)
    assert np.all(read_table(out, "scores")["run_id"] == result.run_id)


def test_refine_keeps_every_candidate_with_its_validation_value(small_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """--refine through the whole pipeline on the real SmolLM2: with the bar above any
    possible AUROC every latent is re-explained; the stored row is the candidate with the best
    validation value, every candidate is kept in raw_reply, and the summary reports it."""
    from autointerp.explain.refine import refine_report

    cfg, _out, _result = small_run
    out = tmp_path / "out"
    refined = replace(
        cfg,
        explain=replace(
            cfg.explain,
            refine=True,
            refine_below=1.01,
            refine_with=("stats",),
            selection_scorer="embedding",
        ),
        scoring=replace(cfg.scoring, scorers=("embedding",)),
    )
    run(refined, out, progress=False)
    expl = read_table(out, "explanations")
    first = read_table(small_run[1], "explanations")
    assert dict(zip(expl.latent, expl.status, strict=True)) == dict(
        zip(first.latent, first.status, strict=True)
    )  # the dead and the too-sparse latent keep their rows
    expl = expl[expl["status"] == "ok"]
    assert sorted(expl.latent) == [4, 7, 10]
    for row in expl.itertuples():
        info = json.loads(row.raw_reply)["refine"]
        assert info["refined"] and info["selection_scorer"] == "embedding"
        names = [c["explainer"] for c in info["candidates"]]
        assert names == ["grounded", "stats"]
        values = [c["validation"] for c in info["candidates"]]
        assert info["chosen_value"] == max(v for v in values if v is not None)
        assert row.explanation == info["candidates"][info["chosen"]]["text"]
        # the validation positives are the held-back half of the explain examples
        assert info["n_shown"] + info["n_validation_positives"] == cfg.sampling.n_explain
    report = refine_report(expl)
    assert report is not None and report.startswith("refine: 3 of 3 latents re-explained")
