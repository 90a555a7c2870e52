"""Input documents of the report: metrics JSON files (with JSON-pointer access), params and the paper reference."""
from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

NOT_MEASURED = "not measured"
NOT_RECOVERED = "not recovered"
NOT_APPLICABLE = "—"
MISSING_TEXTS = (NOT_MEASURED, NOT_RECOVERED, NOT_APPLICABLE)
CHECK, CROSS = "✓", "✗"
COMPARABLE = {"fvd": "i3d", "kvd": "i3d", "is": "c3d"}  # the paper's backbone for each metric
CSV_COLUMNS = ["table", "row", "row_label", "column", "kind", "text", "value", "std", "source", "std_source"]
REFERENCE_COLUMNS = ["table", "setting", "method", "metric", "value", "plusminus", "source"]
HEADER_KINDS = {"experiment": "str", "profile": "str", "dataset": "str", "label": "str", "tables": "list",
                "checkpoint": "str", "train_steps": "int"}
METRIC_KINDS = {"metric": "str", "backbone": "str", "runs": "list", "samples_real": "int", "samples_fake": "int",
                "distinct_runs": "bool", "notes": "list", "mean": "number", "std": "number"}
# (dataset, data.split) -> the reference file's setting for the same training data
REFERENCE_SETTINGS = {("ucf101", "train"): "UCF-101 128x128 16 frames train split",
                      ("ucf101", "all"): "UCF-101 128x128 16 frames train+test"}
SETTING_SPLITS = {"UCF-101 128x128 16 frames train split": "train", "UCF-101 128x128 16 frames train+test": "all"}
SCENARIOS = ("standard", "interpolation", "extrapolation")
SPEED_VARIANTS = {"batch1": "batch 1", "batch4": "batch 4", "frames_sequential": "frames one at a time",
                  "frames_parallel": "all frames in parallel"}
TABLE3_BASELINES = ("DIGAN", "VideoGPT", "MoCoGAN-HD")
PREDICTION_METHODS = {"digan_projection": "DIGAN (projection of the given frames)",
                      "image_latent_interpolation": "image GAN latent interpolation"}
MEDIA_FIGURES = {"long": ("fig1_long", "Fig. 1: long video"),
                 "samples": ("fig3_samples", "Fig. 3: random samples"),
                 "extrapolation": ("fig4_extrapolation", "Fig. 4: time extrapolation"),
                 "prediction": ("fig5_prediction", "Fig. 5: forward and backward prediction"),
                 "diverse_motion": ("fig6_diverse_motion", "Fig. 6: diverse motions from one initial frame"),
                 "upsampling": ("fig7_upsampling", "Fig. 7: space interpolation (upsampling)"),
                 "zoom_out": ("fig9_zoom_out", "Fig. 9: space extrapolation (zoom-out)")}
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


def load_metrics_doc(path: Path, experiment: str) -> Doc | None:
    """A metrics file with a checked header, or None when it does not exist (→ "not measured")."""
    if not path.is_file():
        return None
    doc = Doc(path.as_posix(), read_json(path))
    if not isinstance(doc.data, dict):
        raise ReportError(f"{doc.path}: expected a JSON object")
    for key, kind in HEADER_KINDS.items():
        doc.get(key, kind=kind)
    if doc.data["experiment"] != experiment:
        raise ReportError(f"{doc.path}: header experiment {doc.data['experiment']!r} is not its directory "
                          f"{experiment!r}")
    return doc


# --- inputs ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Experiment:
    name: str
    dataset: str | None  # as params names it; shown only while the experiment has no metrics file
    tables: tuple[int, ...]


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


def load_params(path: Path) -> tuple[str, dict[str, Experiment]]:
    """The profile name and the experiments mapping, validated so a typo fails here."""
    try:
        params = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise ReportError(f"{path.as_posix()}: not valid YAML ({err})") from None
    doc = Doc(path.as_posix(), params)
    if not isinstance(params, dict):
        raise ReportError(f"{doc.path}: expected a mapping")
    profile = doc.get("profile", kind="str") if "profile" in params else "unspecified"
    section = doc.get("experiments", kind="dict") if params.get("experiments") is not None else {}
    experiments = {}
    for name in sorted(section):
        doc.get("experiments", name, kind="dict")
        tables = doc.get("experiments", name, "tables", kind="list")
        if not all(VALUE_KINDS["int"](t) for t in tables):
            raise ReportError(f"{doc.path}: experiments.{name}.tables must be a list of integers")
        dataset = doc.get("experiments", name, "dataset", kind="str") if doc.has("experiments", name, "dataset") \
            else None
        experiments[name] = Experiment(name, dataset, tuple(tables))
    return profile, experiments


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
    profile: str
    experiments: dict[str, Experiment]
    reference: list[RefRow]
    _docs: dict[tuple[str, str], Doc | None] = field(default_factory=dict)

    def doc(self, experiment: str, name: str) -> Doc | None:
        key = (experiment, name)
        if key not in self._docs:
            self._docs[key] = load_metrics_doc(self.metrics / experiment / name, experiment)
        return self._docs[key]

    def members(self, table: int) -> list[str]:
        return [name for name, exp in self.experiments.items() if table in exp.tables]

    def params_src(self, *parts: str) -> str:
        return f"{self.params_path.as_posix()}#{pointer(parts)}"

    def ref_src(self, row: RefRow, fld: str | None = None) -> str:
        suffix = f"/{fld}" if fld else ""
        return f"{self.reference_path.as_posix()}#row {row.number}{suffix}: {row.source}"


