"""The ``export`` action of schedule files, fired directly (no beat: tests/service/test_beat.py
drives a real beat for the other actions; this one shares its dispatch)."""

from __future__ import annotations

from pathlib import Path

import pytest

from autointerp.errors import ConfigError
from autointerp.service.schedules import export_entry, load_schedule
from tests.interop.conftest import Runs

pytestmark = pytest.mark.slow


def test_export_entry_writes_each_run_once(runs: Runs, tmp_path: Path) -> None:
    schedule = tmp_path / "s.toml"
    schedule.write_text(
        '[[entry]]\nname = "np"\nevery = "1h"\naction = "export"\nformat = "delphi"\n'
    )
    (entry,) = load_schedule(schedule)
    store = tmp_path / "store"
    first = export_entry(entry, store, runs.out)
    assert sorted(first["written"]) == sorted([runs.generated, runs.user])
    for run_id in first["written"]:
        assert (store / "exports" / "np" / run_id / "explanations").is_dir()
    again = export_entry(entry, store, runs.out)
    assert again["written"] == [] and sorted(again["existing"]) == sorted(first["written"])


def test_export_entry_mistakes_name_the_key(tmp_path: Path) -> None:
    schedule = tmp_path / "s.toml"
    schedule.write_text('[[entry]]\nname = "np"\nevery = "1h"\naction = "export"\nformat = "csv"\n')
    with pytest.raises(ConfigError, match=r"\(np\)\.format: action 'export' needs one of"):
        load_schedule(schedule)
