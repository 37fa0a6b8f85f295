"""JSON forms of the records passed between the service's steps (through the store, never
through the broker). Floats round-trip exactly (Python writes the shortest repr), so a job
run step by step gives the same tables as ``autointerp run``."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import numpy as np

from autointerp.records import Example, Explanation, LatentRecord, LatentSample, ScoreResult
from autointerp.store.files import StorePath, read_json, write_text

__all__ = [
    "dump_explanations",
    "dump_records",
    "dump_scores",
    "load",
    "load_explanations",
    "load_records",
    "load_scores",
    "save",
]


def _default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} as JSON")


def save(path: StorePath, data: Any) -> None:
    write_text(path, json.dumps(data, default=_default))


def load(path: StorePath) -> Any:
    return read_json(path)


def dump_records(records: list[LatentRecord], samples: list[LatentSample]) -> dict[str, Any]:
    return {"records": [asdict(r) for r in records], "samples": [asdict(s) for s in samples]}


def _example(data: dict[str, Any]) -> Example:
    return Example(**{**data, "tokens": tuple(data["tokens"]), "acts": tuple(data["acts"])})


def load_records(data: dict[str, Any]) -> tuple[list[LatentRecord], list[LatentSample]]:
    records = [
        LatentRecord(
            latent=r["latent"],
            explain=[_example(e) for e in r["explain"]],
            score=[_example(e) for e in r["score"]],
            nonactivating=[_example(e) for e in r["nonactivating"]],
            max_act=r["max_act"],
        )
        for r in data["records"]
    ]
    samples = [
        LatentSample(
            latent=s["latent"],
            status=s["status"],
            explain=[(int(w), int(q)) for w, q in s["explain"]],
            score=[(int(w), int(q)) for w, q in s["score"]],
            nonactivating=[int(w) for w in s["nonactivating"]],
            hard_negatives=[(int(w), str(r)) for w, r in s["hard_negatives"]],
            detail=s["detail"],
        )
        for s in data["samples"]
    ]
    return records, samples


def dump_explanations(explanations: list[Explanation]) -> list[dict[str, Any]]:
    return [asdict(e) for e in explanations]


def load_explanations(data: list[dict[str, Any]]) -> list[Explanation]:
    return [Explanation(**e) for e in data]


def dump_scores(results: list[ScoreResult]) -> list[dict[str, Any]]:
    return [asdict(r) for r in results]


def load_scores(data: list[dict[str, Any]]) -> list[ScoreResult]:
    return [ScoreResult(**r) for r in data]
