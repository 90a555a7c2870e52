"""The provenance check: every number in a table CSV resolves to its metrics file or reference row."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import yaml

from pipeline.report.inputs import (CHECK, CROSS, CSV_COLUMNS, MISSING_TEXTS, NUMBER_PATTERN, REFERENCE_COLUMNS,
                                    ReportError, is_float, load_reference, resolve)


class _Resolver:
    """Resolves CSV sources (file#pointer or reference#row N/field: text), caching parsed files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: dict[str, Any] = {}

    def __call__(self, source: str) -> Any:
        path, sep, fragment = source.partition("#")
        if not sep:
            raise LookupError("no '#' in the source")
        if fragment.startswith("row "):
            return self._reference(path, fragment[4:])
        return resolve(self._load(path), fragment)

    def _load(self, path: str) -> Any:
        if path not in self.files:
            full = self.root / path
            if not full.is_file():
                raise LookupError(f"{path} does not exist")
            text = full.read_text(encoding="utf-8")
            self.files[path] = yaml.safe_load(text) if full.suffix in (".yaml", ".yml") else json.loads(text)
        return self.files[path]

    def _reference(self, path: str, spec: str) -> Any:
        where, _, source_text = spec.partition(": ")
        number_, _, fld = where.partition("/")
        key = f"{path}#reference"
        if key not in self.files:
            self.files[key] = load_reference(self.root / path)
        rows = {r.number: r for r in self.files[key]}
        row = rows.get(int(number_)) if number_.isdigit() else None
        if row is None or row.source != source_text:
            raise LookupError(f"no reference row {number_} with source {source_text!r}")
        record = {c: getattr(row, c) for c in REFERENCE_COLUMNS}
        return record[fld] if fld else record


def _numbers_in(value: Any) -> list[float]:
    """Every number in a resolved value, including numbers written inside strings."""
    if isinstance(value, bool):
        return []
    if isinstance(value, (int, float)):
        return [float(value)]
    if isinstance(value, str):
        return [float(t) for t in NUMBER_PATTERN.findall(value)]
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return [x for item in items for x in _numbers_in(item)]


def _rounds_to(token: str, candidates: list[float]) -> bool:
    """Whether the printed token is one of the candidates rounded to the token's decimals."""
    decimals = len(token.partition(".")[2])
    tol = 0.5 * 10 ** -decimals * (1 + 1e-9)
    return any(abs(float(token) - c) <= tol + 1e-12 * abs(c) for c in candidates)


def _same(text: str, resolved: Any) -> bool:
    if isinstance(resolved, bool) or not isinstance(resolved, (int, float, str)) or not is_float(str(resolved)):
        return False
    a, b = float(text), float(resolved)
    return a == b or (math.isnan(a) and math.isnan(b))


def _check_number(row: dict[str, str], resolver: _Resolver) -> list[str]:
    problems = []
    pairs = [("value", "source")] + ([("std", "std_source")] if row["std"] or row["std_source"] else [])
    for value_key, source_key in pairs:
        if not row[source_key]:
            problems.append(f"{value_key} {row[value_key]!r} has no source")
            continue
        try:
            resolved = resolver(row[source_key])
        except (LookupError, ValueError, ReportError) as err:
            problems.append(f"{source_key} {row[source_key]!r} does not resolve ({err})")
            continue
        if not is_float(row[value_key]) or not _same(row[value_key], resolved):
            problems.append(f"{value_key} {row[value_key]!r} is not {resolved!r} at {row[source_key]!r}")
    candidates = [float(row[k]) for k in ("value", "std") if is_float(row[k])]
    problems += [f"printed {t} is not {row['value']!r} ± {row['std']!r}"
                 for t in NUMBER_PATTERN.findall(row["text"]) if not _rounds_to(t, candidates)]
    return problems


def _check_text(row: dict[str, str], resolver: _Resolver) -> list[str]:
    tokens = NUMBER_PATTERN.findall(row["text"])
    if row["value"] or row["std"]:
        return [f"a {row['kind']} cell carries value {row['value']!r}"]
    if not row["source"]:
        return [f"number {t} printed without a source" for t in tokens]
    try:
        resolved = resolver(row["source"])
    except (LookupError, ValueError, ReportError) as err:
        return [f"source {row['source']!r} does not resolve ({err})"]
    if isinstance(resolved, bool) and row["text"] != (CHECK if resolved else CROSS):
        return [f"{row['text']!r} does not show {resolved!r}"]
    numbers = _numbers_in(resolved)
    return [f"printed {t} is not in {row['source']!r}" for t in tokens if not _rounds_to(t, numbers)]


def check_row(row: dict[str, str], resolver: _Resolver) -> list[str]:
    kind = row.get("kind")
    if kind == "number":
        return _check_number(row, resolver)
    if kind == "text":
        return _check_text(row, resolver)
    if kind == "missing":
        ok = row["text"] in MISSING_TEXTS and not (row["value"] or row["std"] or row["source"])
        return [] if ok else [f"missing cell {row['text']!r} has a value or source"]
    if kind == "label":
        return [] if not (row["value"] or row["std"]) else ["a label carries a value"]
    return [f"unknown kind {kind!r}"]


def trace_sources(out_dir: Path, root: Path = Path(".")) -> list[str]:
    """Problems with the provenance of every cell in ``out_dir/tables/*.csv`` (empty: all trace).

    Source paths are resolved relative to ``root`` (the directory the report was run from).
    """
    resolver = _Resolver(root)
    problems = []
    for path in sorted((Path(out_dir) / "tables").glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames != CSV_COLUMNS:
                problems.append(f"{path.as_posix()}: columns {reader.fieldnames} are not {CSV_COLUMNS}")
                continue
            for line, row in enumerate(reader, start=2):
                problems += [f"{path.as_posix()}:{line}: {p}" for p in check_row(row, resolver)]
    return problems


