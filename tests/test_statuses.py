"""The status enums are the strings the job store, the Parquet tables and the HTTP replies
always held: a member is its string, in comparisons, hashing, JSON and Arrow."""

from __future__ import annotations

import json

import pyarrow as pa

from autointerp.service.jobs import REDO_EXPLANATIONS, REDO_SCORES
from autointerp.statuses import ExplanationStatus, JobState, SampleStatus, ScoreStatus
from autointerp.store.schema import SCORED


def test_the_values_are_the_stored_strings() -> None:
    assert [s.value for s in JobState] == [
        "queued",
        "caching",
        "running",
        "done",
        "cancelled",
        "failed",
    ]
    assert [s.value for s in SampleStatus] == ["ok", "dead", "too_sparse"]
    assert [s.value for s in ExplanationStatus] == ["ok", "llm_error", "unparsable", "refusal"]
    assert [s.value for s in ScoreStatus] == ["ok", "partial", "failed", "skipped"]


def test_a_member_is_its_string_everywhere() -> None:
    assert JobState.DONE == "done" and "done" in {JobState.DONE} and JobState.DONE in {"done"}
    assert json.dumps({"state": JobState.DONE}) == '{"state": "done"}'
    assert f"{ScoreStatus.PARTIAL}" == str(ScoreStatus.PARTIAL) == "partial"
    assert pa.array([ScoreStatus.OK, "failed"]).to_pylist() == ["ok", "failed"]


def test_the_rows_a_rerun_redoes_and_the_rows_with_metrics() -> None:
    assert REDO_EXPLANATIONS == ("llm_error",)
    assert REDO_SCORES == ("partial", "failed")
    assert SCORED == ("ok", "partial")
