"""Job records, schedule files and the routing table: plain files, no Redis needed."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from autointerp.config import RunConfig
from autointerp.errors import ConfigError
from autointerp.service.jobs import JobNotFoundError, JobStore, job_id_for
from autointerp.service.schedules import load_schedule, parse_every, planned_jobs
from autointerp.tasks.routing import DEFAULT_ROUTES, load_routes

ROOT = Path(__file__).resolve().parents[2]


def test_job_id_is_stable_and_resubmission_keeps_finished_steps(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    cfg = RunConfig(latents="1,2")
    job_id, new = store.create(cfg, "cli")
    assert new and job_id == job_id_for(cfg)
    assert store.status(job_id)["state"] == "queued"
    store.mark(job_id, "shard-00000")
    store.cancel(job_id)
    assert store.status(job_id)["state"] == "cancelled"
    again, new = store.create(cfg, "api")
    assert (again, new) == (job_id, False)
    assert store.status(job_id)["state"] == "queued"  # cancellation lifted
    assert store.is_marked(job_id, "shard-00000")  # finished steps kept
    assert job_id_for(replace(cfg, latents="1,3")) != job_id


def test_failed_job_reports_its_step_and_message(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    job_id, _ = store.create(RunConfig(), "cli")
    store.fail(job_id, "plan", ConfigError("latents: 9999 out of range"))
    status = store.status(job_id)
    assert status["state"] == "failed"
    assert status["error"]["step"] == "plan"
    assert "9999 out of range" in status["error"]["error"]


@pytest.mark.parametrize("latents", ["5:2", "abc", "live:0", ""])
def test_bad_latents_are_refused_before_anything_is_written(tmp_path: Path, latents: str) -> None:
    with pytest.raises(ConfigError, match="latents"):
        JobStore(tmp_path).create(RunConfig(latents=latents), "cli")
    assert not (tmp_path / "jobs").exists()


@pytest.mark.parametrize("job_id", ["nope", "../etc", ""])
def test_unknown_job_ids(tmp_path: Path, job_id: str) -> None:
    store = JobStore(tmp_path)
    with pytest.raises(JobNotFoundError):
        store.status(job_id)
    with pytest.raises(JobNotFoundError):
        store.cancel(job_id)


def test_the_example_schedule_parses() -> None:
    entries = load_schedule(ROOT / "queue" / "schedule.toml")
    assert [e.action for e in entries] == ["score_folder", "rescore"]
    assert entries[0].config == {
        "latents": "live:64",
        "scoring": {"scorers": ["detection", "fuzz", "embedding"]},
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('name = "a"\naction = "score_folder"\nfolder = "x"', "exactly one of 'cron' or 'every'"),
        ('name = "a"\naction = "score_folder"\nfolder = "x"\ncron = "61 * * * *"', "cron"),
        ('name = "a"\naction = "score_folder"\nfolder = "x"\nevery = "soon"', "every"),
        ('name = "a"\naction = "explode"\nevery = "1h"', "action"),
        ('name = "a"\naction = "score_folder"\nevery = "1h"', "needs 'folder'"),
        ('name = "a"\naction = "rescore"\nevery = "1h"', "needs 'run_id' or 'checkpoint'"),
        ('name = "a b"\naction = "rescore"\nevery = "1h"\nrun_id = "r"', "name"),
        ('name = "a"\naction = "rescore"\nevery = "1h"\nrun_id = "r"\ncolour = 1', "unknown keys"),
        (
            'name = "a"\naction = "rescore"\nevery = "1h"\nrun_id = "r"\n[entry.config]\nlatnts = "1"',
            "config",
        ),
        (
            'name = "a"\naction = "rescore"\nevery = "1h"\nrun_id = "r"\n[entry.config]\n'
            'latents = "1"\n"latents.x" = 2',
            "config: latents.x: 'latents' is not a config section",
        ),
    ],
)
def test_schedule_mistakes_name_the_entry_and_key(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text("[[entry]]\n" + body + "\n")
    with pytest.raises(ConfigError, match=message) as err:
        load_schedule(path)
    assert str(path) in str(err.value)


def test_duplicate_entry_names_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    entry = '[[entry]]\nname = "a"\naction = "rescore"\nevery = "1h"\nrun_id = "r"\n'
    path.write_text(entry + entry)
    with pytest.raises(ConfigError, match="duplicate"):
        load_schedule(path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_schedule(tmp_path / "missing.toml")


def test_every_intervals() -> None:
    assert parse_every("30s", "x") == 30
    assert parse_every("15m", "x") == 900
    assert parse_every("2h", "x") == 7200


def test_score_folder_plans_one_job_per_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "ck" / "a").mkdir(parents=True)
    (tmp_path / "ck" / "b.safetensors").write_bytes(b"")
    (tmp_path / "ck" / "notes.txt").write_text("not a checkpoint")
    (tmp_path / "s.toml").write_text(
        f'[[entry]]\nname = "w"\nevery = "1h"\naction = "score_folder"\nfolder = "{tmp_path / "ck"}"\n'
        '[entry.config]\nlatents = "live:4"\n'
    )
    (entry,) = load_schedule(tmp_path / "s.toml")
    cfgs = planned_jobs(entry, tmp_path / "store")
    assert [Path(c.sae).name for c in cfgs] == ["a", "b.safetensors"]
    assert {c.latents for c in cfgs} == {"live:4"}


def test_routing_file_in_queue_folder_equals_the_defaults(tmp_path: Path) -> None:
    assert load_routes(ROOT / "queue" / "routing.toml") == DEFAULT_ROUTES
    bad = tmp_path / "r.toml"
    bad.write_text('[routes]\nexplian = "llm"\n')
    with pytest.raises(ConfigError, match="unknown steps"):
        load_routes(bad)


def test_rescore_plans_one_job_per_stored_run_with_its_explanations(tmp_path: Path) -> None:
    import json

    import pandas as pd

    from autointerp.store import read_table
    from tests.store.builders import SHA_A, build_store

    store = build_store(tmp_path / "store")
    for path in (store / "runs").glob("*.json"):
        manifest = json.loads(path.read_text())
        manifest["config"] = RunConfig(latents="0:6", seed=7).to_dict()
        path.write_text(json.dumps(manifest))
    (tmp_path / "s.toml").write_text(
        f'[[entry]]\nname = "re"\nevery = "1h"\naction = "rescore"\ncheckpoint = "{SHA_A[:6]}"\n'
        '[entry.config]\n"scoring.scorers" = ["embedding"]\n'
    )
    (entry,) = load_schedule(tmp_path / "s.toml")
    cfgs = planned_jobs(entry, store)
    assert len(cfgs) == 2  # checkpoint A has runs ra1 and ra2; B's run is left alone
    for cfg in cfgs:
        assert cfg.scoring.scorers == ("embedding",)
        assert (cfg.latents, cfg.seed) == ("0:6", 7)  # the stored run's own config
        assert cfg.explanations is not None
        exported = pd.read_parquet(cfg.explanations)
        run_id = Path(cfg.explanations).name.split("-")[0]
        stored = read_table(store, "explanations", run_id=run_id)
        ok = stored[stored["status"] == "ok"]
        assert sorted(exported["latent"]) == sorted(ok["latent"])
    # Firing again plans the same jobs (same configs -> same job ids: nothing runs twice).
    assert planned_jobs(entry, store) == cfgs


def test_compare_entry_writes_its_report_once_per_set_of_runs(tmp_path: Path) -> None:
    from autointerp.saes import load_sae
    from autointerp.service.schedules import compare_entry
    from tests.compare import build_store as build_compare_store

    demo, rand = load_sae("demo").info.sha256, load_sae("random:demo").info.sha256
    store = build_compare_store(tmp_path / "store", demo, rand)
    (tmp_path / "s.toml").write_text(
        '[[entry]]\nname = "layers"\ncron = "0 3 * * *"\naction = "compare"\n'
        f'checkpoints = ["{demo[:8]}", "{rand[:8]}"]\n'
    )
    (entry,) = load_schedule(tmp_path / "s.toml")
    first = compare_entry(entry, store, store)
    out = Path(first["written"])
    assert (out / "summary.json").is_file() and (out / "pairs.parquet").is_file()
    assert (out / "heatmap.png").stat().st_size > 1000
    assert compare_entry(entry, store, store) == {"entry": "layers", "existing": str(out)}
    bad = tmp_path / "bad.toml"
    bad.write_text('[[entry]]\nname = "x"\nevery = "1h"\naction = "compare"\ncheckpoints = ["a"]\n')
    with pytest.raises(ConfigError, match="2 or more"):
        load_schedule(bad)


def test_routing_follows_the_declared_needs_of_explainers_and_scorers() -> None:
    """Explainers and scorers that read the subject model go to the model queue."""
    from autointerp.config import ExplainConfig
    from autointerp.tasks.routing import explain_step, score_step

    routes = load_routes(ROOT / "queue" / "routing.toml")
    assert routes[explain_step(ExplainConfig())] == "llm"  # grounded
    assert routes[explain_step(ExplainConfig(explainer="output"))] == "model"
    refine = ExplainConfig(refine=True, refine_with=("contrastive", "output"))
    assert routes[explain_step(refine)] == "model"
    assert explain_step(ExplainConfig(explainer="output"), has_explanations=True) == "explain"
    assert routes[score_step("intervention")] == "model"
    assert {routes[score_step(s)] for s in ("detection", "fuzz", "embedding")} == {"llm"}
