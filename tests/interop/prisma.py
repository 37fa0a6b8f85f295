"""A reader of the Prisma models transcribed in data/neuronpedia_schema.prisma, and a check of
one exported row against a model: the rule Neuronpedia's importer applies
(``importJsonlString`` inserts the row's keys that are columns of the table; ``prisma.<model>
.create`` takes model.jsonl, source.jsonl and sourceset.jsonl)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

SCHEMA = Path(__file__).parent / "data" / "neuronpedia_schema.prisma"
_SCALARS = {"String", "Int", "Float", "Boolean", "DateTime", "Json"}


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    list: bool
    optional: bool
    default: bool
    """Has @default or @updatedAt (or is a list, which Postgres fills with '{}')."""


def models() -> tuple[dict[str, dict[str, Column]], dict[str, list[str]]]:
    """Model -> its scalar columns (relations left out), and enum -> its values."""
    text = SCHEMA.read_text()
    enums = {m[1]: m[2].split() for m in re.finditer(r"^enum (\w+) \{([^}]*)\}", text, re.M)}
    out: dict[str, dict[str, Column]] = {}
    for match in re.finditer(r"^model (\w+) \{(.*?)^\}", text, re.M | re.S):
        cols: dict[str, Column] = {}
        for raw in match[2].splitlines():
            line = raw.split("//")[0].strip()
            parts = line.split()
            if len(parts) < 2 or line.startswith("@@"):
                continue
            name, kind = parts[0], parts[1]
            base = re.sub(r"[?\[\]]|\(.*", "", kind)
            if base not in _SCALARS and base not in enums and not kind.startswith("Unsupported"):
                continue  # a relation
            cols[name] = Column(
                name=name,
                type=base if not kind.startswith("Unsupported") else "Unsupported",
                list=kind.endswith("[]"),
                optional=kind.endswith("?"),
                default="@default" in line or "@updatedAt" in line,
            )
        out[match[1]] = cols
    return out, enums


def _type_ok(col: Column, value: Any, enums: dict[str, list[str]]) -> bool:
    def one(v: Any) -> bool:
        if col.type == "String":
            return isinstance(v, str)
        if col.type == "Int":
            return isinstance(v, int) and not isinstance(v, bool)
        if col.type == "Float":
            return isinstance(v, (int, float)) and not isinstance(v, bool)
        if col.type == "Boolean":
            return isinstance(v, bool)
        if col.type == "DateTime":
            return isinstance(v, str) and bool(datetime.fromisoformat(v))
        if col.type in enums:
            return v in enums[col.type]
        return True  # Json, Unsupported(vector)

    if col.list:
        return isinstance(value, list) and all(one(v) for v in value)
    return one(value)


def problems(model: str, row: dict[str, Any], *, create: bool = False) -> list[str]:
    """What Neuronpedia's importer would refuse in ``row`` as a row of ``model``: a missing
    required column, null in a column that is not optional, a value of the wrong type; with
    ``create`` (prisma.create), also a key that is no field at all."""
    cols, enums = models()
    table = cols[model]
    found = []
    for col in table.values():
        if col.name not in row and not (col.optional or col.default or col.list):
            found.append(f"{model}.{col.name}: required, missing")
    for key, value in row.items():
        col = table.get(key)
        if col is None:
            if create:
                found.append(f"{model}.{key}: not a field")
            continue
        if value is None:
            if not col.optional:
                found.append(f"{model}.{key}: null in a column that is not optional")
        elif not _type_ok(col, value, enums):
            found.append(f"{model}.{key}: {value!r} is not {col.type}{'[]' if col.list else ''}")
    return found
