"""The options that build a run config: the flags map onto its fields, and 'submit' takes
every option of 'run'."""

from __future__ import annotations

import argparse
from pathlib import Path

from autointerp.cli.app import build_parser
from autointerp.cli.options import config_from_args


def test_flags_map_onto_the_run_config(tmp_path: Path) -> None:
    (tmp_path / "c.json").write_text('{"seed": 5, "corpus": {"ctx_len": 16}}')
    args = build_parser().parse_args(
        [
            "run",
            "--sae",
            "s",
            "--latents",
            "0:5",
            "--corpus",
            "texts/",
            "--n-tokens",
            "1000",
            "--llm",
            "http://h:1/v1",
            "--llm-model",
            "m",
            "--scorers",
            "detection",
            "--config",
            str(tmp_path / "c.json"),
            "--set",
            "sampling.n_explain=3",
            "--set",
            "scoring.threshold=0.4",
        ]
    )
    cfg = config_from_args(args)
    assert (cfg.sae, cfg.latents, cfg.seed) == ("s", "0:5", 5)
    assert (cfg.corpus.path, cfg.corpus.n_tokens, cfg.corpus.ctx_len) == ("texts/", 1000, 16)
    assert (cfg.llm.backend, cfg.llm.base_url, cfg.llm.model) == ("openai", "http://h:1/v1", "m")
    assert cfg.scoring.scorers == ("detection",) and cfg.scoring.threshold == 0.4
    assert cfg.sampling.n_explain == 3


def _option_strings(command: str) -> set[str]:
    parser = build_parser()
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {s for action in sub.choices[command]._actions for s in action.option_strings}


def test_submit_takes_every_option_of_run() -> None:
    """One function adds the run options to both parsers; this keeps it that way."""
    run, submit = _option_strings("run"), _option_strings("submit")
    assert {"--out", "--no-progress", "--set", "--scorers", "--config"} <= run
    assert run - submit == set()
    assert submit - run == {"--store", "--wait", "--timeout"}
