"""Input documents of the report: metrics JSON files (with JSON-pointer access), params and the paper reference.

A metrics file is checked against its schema in :mod:`pipeline.results` (the one the evaluate stage writes
with); params are read and checked by :func:`pipeline.params.load_params`, as every stage reads them.
"""
from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from digan.config import ConfigError
from pipeline.params import Experiment, Params, load_params
from pipeline.results import RESULTS, result_path

NOT_MEASURED = "not measured"
NOT_RECOVERED = "not recovered"
NOT_APPLICABLE = "—"
MISSING_TEXTS = (NOT_MEASURED, NOT_RECOVERED, NOT_APPLICABLE)
CHECK, CROSS = "✓", "✗"
COMPARABLE = {"fvd": "i3d", "kvd": "i3d", "is": "c3d"}  # the paper's backbone for each metric
CSV_COLUMNS = ["table", "row", "row_label", "column", "kind", "text", "value", "std", "source", "std_source"]
REFERENCE_COLUMNS = ["table", "setting", "method", "metric", "value", "plusminus", "source"]
# (dataset, training store) -> the reference file's setting for the same training data
REFERENCE_SETTINGS = {("ucf101", "train"): "UCF-101 128x128 16 frames train split",
                      ("ucf101", "all"): "UCF-101 128x128 16 frames train+test"}
SETTING_SPLITS = {"UCF-101 128x128 16 frames train split": "train", "UCF-101 128x128 16 frames train+test": "all"}
TABLE3_BASELINES = ("DIGAN", "VideoGPT", "MoCoGAN-HD")
MEDIA_SUFFIXES = (".gif", ".mp4", ".png")
NUMBER_PATTERN = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?!\w|\.\d)")
VALUE_KINDS: dict[str, Callable[[Any], bool]] = {
    "str": lambda v: isinstance(v, str),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "list": lambda v: isinstance(v, list),
    "dict": lambda v: isinstance(v, dict),
}


class ReportError(ValueError):
    """An input file is malformed; the message names the file and the key."""


# --- JSON pointers and input documents ---------------------------------------------------------------

def pointer(parts: Iterable[str | int]) -> str:
    """RFC 6901 pointer, so that keys such as "2" or "a.b" round-trip exactly."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def resolve(data: Any, ptr: str) -> Any:
    """The value at an RFC 6901 pointer; LookupError if any step is missing."""
    if not ptr:
        return data
    if not ptr.startswith("/"):
        raise LookupError(f"pointer {ptr!r} does not start with '/'")
    for raw in ptr[1:].split("/"):
        key = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(data, dict) and key in data:
            data = data[key]
        elif isinstance(data, list) and key.isdigit() and int(key) < len(data):
            data = data[int(key)]
        else:
            raise LookupError(f"no key {key!r}")
    return data


@dataclass(frozen=True)
class Doc:
    """A parsed input file with its display path; every value read from it can name its source."""

    path: str
    data: Any

    def get(self, *parts: str | int, kind: str | None = None) -> Any:
        try:
            value = resolve(self.data, pointer(parts))
        except LookupError:
            raise ReportError(f"{self.path}: missing key {pointer(parts)}") from None
        if kind is not None and not VALUE_KINDS[kind](value):
            raise ReportError(f"{self.path}: {pointer(parts)} should be {kind}, got {value!r}")
        return value

    def has(self, *parts: str | int) -> bool:
        try:
            resolve(self.data, pointer(parts))
        except LookupError:
            return False
        return True

    def src(self, *parts: str | int) -> str:
        return f"{self.path}#{pointer(parts)}"


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ReportError(f"{path.as_posix()}: not valid JSON ({err})") from None


def load_metrics_doc(path: Path, stem: str, experiment: str) -> Doc | None:
    """A metrics file checked against its schema, or None when it does not exist (→ "not measured")."""
    if not path.is_file():
        return None
    doc = Doc(path.as_posix(), read_json(path))
    try:
        RESULTS[stem].model_validate(doc.data)
    except ValidationError as err:
        raise _invalid(doc.path, err) from None
    if doc.data["experiment"] != experiment:
        raise ReportError(f"{doc.path}: header experiment {doc.data['experiment']!r} is not its directory "
                          f"{experiment!r}")
    return doc


def _invalid(path: str, err: ValidationError) -> ReportError:
    """The first schema error as ``<file>: <JSON pointer> ...``, the way every other input error reads."""
    first = err.errors()[0]
    where = pointer(first["loc"])
    if first["type"] == "missing":
        return ReportError(f"{path}: missing key {where}")
    value = repr(first["input"])
    return ReportError(f"{path}: {where or '/'}: {first['msg']}, got {value[:80]}{'…' if len(value) > 80 else ''}")


# --- inputs ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RefRow:
    """One row of the paper reference file; ``number`` counts data rows from 1."""

    number: int
    table: str
    setting: str
    method: str
    metric: str
    value: str
    plusminus: str
    source: str


def read_params(path: Path) -> Params:
    """params.yaml through the schema every stage uses, its errors as report errors naming the file."""
    try:
        return load_params(path, check_profile_file=False)  # the report launches nothing
    except ConfigError as err:
        raise ReportError(f"{path.as_posix()}: {err}") from None


def load_reference(path: Path) -> list[RefRow]:
    """The paper reference rows; numbers are checked now so a bad row cannot reach a table."""
    if not path.is_file():
        raise ReportError(f"{path.as_posix()}: reference file not found")
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != REFERENCE_COLUMNS:
            raise ReportError(f"{path.as_posix()}: columns {reader.fieldnames} are not {REFERENCE_COLUMNS}")
        rows = [RefRow(n, **row) for n, row in enumerate(reader, start=1)]
    for row in rows:
        for text in (row.value, row.plusminus):
            if text and not is_float(text):
                raise ReportError(f"{path.as_posix()}: row {row.number} has a non-numeric value {text!r}")
    return rows


def is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@dataclass
class Inputs:
    """Everything the report reads, loaded once; metrics files are parsed on first use."""

    params_path: Path
    metrics: Path
    runs: Path
    reference_path: Path
    params: Params
    reference: list[RefRow]
    _docs: dict[tuple[str, str], Doc | None] = field(default_factory=dict)

    @property
    def profile(self) -> str:
        return self.params.profile

    @property
    def experiments(self) -> dict[str, Experiment]:
        """By name, so tables, figures and the index list them in one order whatever params' order."""
        return {name: self.params.experiments[name] for name in sorted(self.params.experiments)}

    def doc(self, experiment: str, stem: str) -> Doc | None:
        """metrics/<experiment>/<stem>.json (a stem of pipeline.results.RESULTS)."""
        key = (experiment, stem)
        if key not in self._docs:
            self._docs[key] = load_metrics_doc(self.path(experiment, stem), stem, experiment)
        return self._docs[key]

    def path(self, experiment: str, stem: str) -> Path:
        return result_path(self.metrics, experiment, stem)

    def members(self, table: int) -> list[str]:
        return [name for name, exp in self.experiments.items() if table in exp.tables]

    def params_src(self, *parts: str) -> str:
        return f"{self.params_path.as_posix()}#{pointer(parts)}"

    def ref_src(self, row: RefRow, fld: str | None = None) -> str:
        suffix = f"/{fld}" if fld else ""
        return f"{self.reference_path.as_posix()}#row {row.number}{suffix}: {row.source}"


