"""The one config builder: its layers, and the CLI, the API and schedule files giving the
same run config for the same settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from autointerp.config import RunConfig
from autointerp.config.build import build_config, given
from autointerp.errors import ConfigError


def test_each_layer_lies_over_the_one_before() -> None:
    cfg = build_config(
        {"seed": 1, "corpus": {"ctx_len": 16, "n_tokens": 1000}},
        {"corpus": {"n_tokens": 2000}},
        assign=[("seed", 2), ("sampling.n_explain", 3), ("seed", 4)],
        llm="http://h:1/v1",
        llm_model="m",
    )
    assert (cfg.seed, cfg.corpus.ctx_len, cfg.corpus.n_tokens) == (4, 16, 2000)
    assert cfg.sampling.n_explain == 3
    assert (cfg.llm.backend, cfg.llm.base_url, cfg.llm.model) == ("openai", "http://h:1/v1", "m")
    assert cfg.corpus.path == RunConfig().corpus.path  # untouched fields keep their defaults
    assert build_config() == RunConfig()


def test_llm_model_alone_keeps_the_configured_server() -> None:
    cfg = build_config({"llm": {"backend": "openai", "base_url": "http://h:2/v1"}}, llm_model="x")
    assert (cfg.llm.backend, cfg.llm.base_url, cfg.llm.model) == ("openai", "http://h:2/v1", "x")


def test_given_leaves_out_what_was_not_given() -> None:
    assert given({"seed": None, "latents": "0:4", "explain.refine": False}) == [
        ("latents", "0:4"),
        ("explain.refine", False),
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"assign": [("sampling.n_explian", 3)]}, "unknown key(s) n_explian"),
        ({"assign": [("seed.x", 1)]}, "seed.x: 'seed' is not a config section"),
        ({"llm": "ftp://x"}, "expected 'local', 'local:<model>', 'openai' or an http(s) URL"),
    ],
)
def test_mistakes_name_the_key(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        build_config(**kwargs)
    assert message in str(err.value)


def test_cli_api_and_schedules_build_the_same_config(tmp_path: Path) -> None:
    """The three front doors call the one builder: the same settings, the same config."""
    from autointerp.api.job_routes import request_config
    from autointerp.api.schemas import JobRequest
    from autointerp.cli.app import build_parser
    from autointerp.cli.options import config_from_args
    from autointerp.service.schedules import load_schedule, planned_jobs

    ckpt = tmp_path / "ckpts" / "a.safetensors"
    ckpt.parent.mkdir()
    ckpt.write_bytes(b"")
    sae = str(ckpt.resolve())
    argv = ["run", "--sae", sae, "--latents", "0:4", "--scorers", "detection", "--seed", "3"]
    from_cli = config_from_args(build_parser().parse_args([*argv, "--set", "corpus.ctx_len=16"]))
    from_api = request_config(
        JobRequest(
            sae=sae,
            latents="0:4",
            scorers="detection",
            seed=3,
            config={"corpus": {"ctx_len": 16}},
        )
    )
    schedule = tmp_path / "schedule.toml"
    schedule.write_text(
        '[[entry]]\nname = "e"\nevery = "1h"\naction = "score_folder"\n'
        f'folder = "{ckpt.parent}"\n[entry.config]\nlatents = "0:4"\n'
        'scoring.scorers = "detection"\nseed = 3\ncorpus.ctx_len = 16\n'
    )
    [from_schedule] = planned_jobs(load_schedule(schedule)[0], tmp_path / "store")
    assert from_cli == from_api == from_schedule
    assert from_cli.fingerprint() == from_schedule.fingerprint()
