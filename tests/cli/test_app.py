"""The console script's top level, run as a user would run it (subprocesses): the help,
and user mistakes exiting 2 with a message and no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli import cli

pytestmark = pytest.mark.slow  # every test runs the console script in a subprocess (~3 s each)


def test_help_lists_every_subcommand() -> None:
    out = cli("--help")
    assert out.returncode == 0
    for command in ("run", "inspect", "scores", "config", "list"):
        assert command in out.stdout
    run_help = cli("run", "--help").stdout
    for option in (
        "--sae",
        "--latents",
        "--corpus",
        "--llm",
        "--out",
        "--explanations",
        "--scorers",
        "--set",
    ):
        assert option in run_help


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("run", "--sae", "/no/such/sae"), "error: SAE checkpoint '/no/such/sae' does not exist"),
        (("run", "--set", "sampling.n_explian=3"), "unknown key(s) n_explian"),
        (("run", "--set", "nonsense"), "expected KEY=VALUE"),
        (
            ("run", "--llm", "ftp://x"),
            "expected 'local', 'local:<model>', 'openai' or an http(s) URL",
        ),
        (("run", "--latents", "5000:6000"), "out of range"),
    ],
)
def test_user_errors_exit_2_with_a_message_and_no_output(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    out = cli(*args, "--out", str(tmp_path / "out"), "--no-progress")
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "out").exists()


def test_a_config_value_out_of_range_exits_2_naming_the_key(tmp_path: Path) -> None:
    out = cli("run", "--set", "cache.batch_size=-1", "--out", str(tmp_path / "out"))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "cache.batch_size must be >= 0 (0 = chosen for the device), got -1" in out.stderr
    assert not (tmp_path / "out").exists()
