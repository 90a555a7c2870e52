"""Stage report: the paper's Tables 1–8 and figures from the measured metrics files.

    python -m pipeline.report [--params params.yaml] [--metrics metrics] [--runs runs] [--out reports]
                              [--reference reports/reference/paper_numbers.csv]

Reads ``params.yaml`` (``profile`` and ``experiments``), ``<metrics>/<experiment>/{quality,time,speed,space,
space_recon,prediction,motion_d}.json`` and ``media/``, ``<runs>/<experiment>/metrics.jsonl`` and the paper
reference file. Writes ``<out>/tables/table{1..8}.{md,csv,tex}``, ``<out>/figures/`` and ``<out>/index.md``.

A table row's setting (σt, z_M, f_M, content vector, class conditioning, prediction method) is read from
the measured files, never from experiment names or labels. Every cell of a table CSV names its source:
``<file>#<JSON pointer>`` for ours (RFC 6901, so keys with dots or slashes stay unambiguous) or
``<reference file>#row N/<field>: <source text>`` for the paper's; :func:`trace_sources` checks them all.
A missing file or key gives "not measured"; a malformed file stops the report with its path.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import math
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

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
_NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?!\w|\.\d)")
_KINDS: dict[str, Callable[[Any], bool]] = {
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
        if kind is not None and not _KINDS[kind](value):
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
        if not all(_KINDS["int"](t) for t in tables):
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
            if text and not _is_float(text):
                raise ReportError(f"{path.as_posix()}: row {row.number} has a non-numeric value {text!r}")
    return rows


def _is_float(text: str) -> bool:
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


# --- cells and tables --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cell:
    """One printed cell; ``value``/``std`` are the exact numbers (as written in their source)."""

    text: str
    kind: str = "text"  # label | text | number | missing
    value: str = ""
    std: str = ""
    source: str = ""
    std_source: str = ""


def label(text: str) -> Cell:
    return Cell(text, "label")


def missing(text: str = NOT_MEASURED) -> Cell:
    return Cell(text, "missing")


def fmt(x: float) -> str:
    """Fixed decimals by magnitude (3 significant digits below 1), never an exponent."""
    if not math.isfinite(x):
        return str(x)
    return f"{x:.{_decimals(x)}f}"


def _decimals(x: float) -> int:
    mag = abs(x)
    if mag >= 100:
        return 1
    if mag >= 1 or mag == 0:
        return 2
    return min(10, 2 - math.floor(math.log10(mag)))


def fmt_pm(mean: float, std: float) -> str:
    """mean ± std with the std at the mean's decimals, as tables usually print them."""
    if not (math.isfinite(mean) and math.isfinite(std)):
        return f"{fmt(mean)} ± {fmt(std)}"
    d = _decimals(mean)
    return f"{mean:.{d}f} ± {std:.{d}f}"


def _raw(x: int | float) -> str:
    """Shortest text that parses back to exactly the JSON number."""
    return repr(x) if isinstance(x, float) else str(x)


def number(doc: Doc, *parts: str | int, show: Callable[[Any], str] = fmt) -> Cell:
    value = doc.get(*parts, kind="number")
    return Cell(show(value), "number", _raw(value), source=doc.src(*parts))


def integer(doc: Doc, *parts: str | int) -> Cell:
    return number(doc, *parts, show=str)


def sourced_text(doc: Doc, text: str, *parts: str | int) -> Cell:
    return Cell(text, "text", source=doc.src(*parts))


def flag(doc: Doc, *parts: str | int) -> Cell:
    return sourced_text(doc, CHECK if doc.get(*parts, kind="bool") else CROSS, *parts)


def reference_cell(inp: Inputs, row: RefRow) -> Cell:
    text = f"{row.value} ± {row.plusminus}" if row.plusminus else row.value
    return Cell(text, "number", row.value, row.plusminus, inp.ref_src(row, "value"),
                inp.ref_src(row, "plusminus") if row.plusminus else "")


@dataclass
class Table:
    number: int
    title: str
    columns: list[str]
    rows: list[list[Cell]]
    header: list[str]
    notes: list[str]


@dataclass
class Context:
    """What one table used: profiles, datasets, metric keys, sample counts and footnotes."""

    params_profile: str
    profiles: set[str] = field(default_factory=set)
    datasets: set[str] = field(default_factory=set)
    keys: set[str] = field(default_factory=set)
    samples: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def use(self, doc: Doc) -> None:
        self.profiles.add(doc.data["profile"])
        self.datasets.add(doc.data["dataset"])
        if doc.data["profile"] != self.params_profile:
            self.note(f"{doc.path} was measured with profile {doc.data['profile']!r}; params names "
                      f"{self.params_profile!r}.")

    def use_metric(self, doc: Doc, key: str, result: dict[str, Any]) -> None:
        self.keys.add(key)
        runs = len(result["runs"])
        same = "" if result["distinct_runs"] or runs < 2 else ", the same clips in every run"
        clips = (f"{result['samples_fake']} generated videos" if result["metric"] == "is"
                 else f"{result['samples_real']} real / {result['samples_fake']} generated clips")
        plural = "" if runs == 1 else "s"
        self.samples.add(f"`{key}` ({doc.data['experiment']}): {clips} per run, {runs} run{plural}{same}")
        for text in result["notes"]:
            self.note(f"{doc.path} `{key}`: {text}")

    def header(self) -> list[str]:
        profile = ", ".join(sorted(self.profiles)) or "no measurements"
        lines = [f"Profile: {profile} (params.yaml: {self.params_profile}).",
                 f"Dataset(s): {', '.join(sorted(self.datasets)) or 'none measured'}."]
        lines.append(_backbone_line(self.keys))
        lines += [f"Samples: {s}." for s in sorted(self.samples)]
        return lines


def _backbone_line(keys: set[str]) -> str:
    if not keys:
        return "Backbone(s): none (no FVD, KVD or IS cell of this table is measured)."
    names = ", ".join(f"`{k}`" for k in sorted(keys))
    foreign = [k for k in keys if k.split("_", 1)[1] != COMPARABLE.get(k.split("_", 1)[0])]
    if foreign:
        return (f"Backbone(s): {names}. Cells marked with another backbone than I3D (FVD/KVD) or C3D (IS) are "
                "NOT comparable with the paper's numbers.")
    return f"Backbone(s): {names} (the paper's I3D for FVD/KVD, C3D for IS)."


def load(inp: Inputs, ctx: Context, experiment: str, name: str) -> Doc | None:
    doc = inp.doc(experiment, name)
    if doc is None:
        ctx.note(f"{NOT_MEASURED}: {(inp.metrics / experiment / name).as_posix()} is absent.")
    else:
        ctx.use(doc)
    return doc


def pick_metric(doc: Doc, parts: tuple[str | int, ...], metric: str) -> str | None:
    """The paper's backbone for ``metric`` if measured, else the first other backbone by name."""
    container = doc.get(*parts, kind="dict")
    preferred = f"{metric}_{COMPARABLE[metric]}"
    if preferred in container:
        return preferred
    others = sorted(k for k in container if k.startswith(f"{metric}_"))
    return others[0] if others else None


def metric_cell(ctx: Context, doc: Doc | None, parts: tuple[str | int, ...], metric: str) -> Cell:
    """mean ± std of one MetricResult; a non-paper backbone is named in the cell itself."""
    key = pick_metric(doc, parts, metric) if doc is not None and doc.has(*parts) else None
    if key is None:
        return missing()
    where = (*parts, key)
    for fld, kind in METRIC_KINDS.items():
        doc.get(*where, fld, kind=kind)
    result = doc.get(*where)
    if f"{result['metric']}_{result['backbone']}" != key:
        raise ReportError(f"{doc.path}: {pointer(where)} holds {result['metric']}_{result['backbone']}")
    ctx.use_metric(doc, key, result)
    mark = "" if result["backbone"] == COMPARABLE[metric] else f" ({result['backbone']})"
    return Cell(fmt_pm(result["mean"], result["std"]) + mark, "number", _raw(result["mean"]), _raw(result["std"]),
                doc.src(*where, "mean"), doc.src(*where, "std"))


def dataset_cell(inp: Inputs, experiment: str, doc: Doc | None) -> Cell:
    if doc is not None:
        return sourced_text(doc, doc.data["dataset"], "dataset")
    dataset = inp.experiments[experiment].dataset
    if dataset is None:
        return missing()
    return Cell(dataset, "text", source=inp.params_src("experiments", experiment, "dataset"))


def finish(ctx: Context, number_: int, title: str, columns: list[str], rows: list[list[Cell]],
           extra: Iterable[str] = ()) -> Table:
    notes = list(ctx.notes)
    if any(c.text == NOT_APPLICABLE for row in rows for c in row):
        notes.append(f"{NOT_APPLICABLE}: does not apply to this row, or the reference does not state it.")
    if not rows:
        notes.append("No experiment in params.yaml lists this table.")
    return Table(number_, title, columns, rows, ctx.header() + list(extra), notes)


# --- the eight tables --------------------------------------------------------------------------------

def table1(inp: Inputs) -> Table:
    ctx = Context(inp.profile)
    ours = sorted(_table1_ours(inp, ctx, name) for name in inp.members(1))
    refs: dict[str, list[RefRow]] = {}
    for row in inp.reference:
        if row.table == "1":
            refs.setdefault(row.setting, []).append(row)
    rows, placed = [], set()
    for i, (group, _, cells) in enumerate(ours):
        rows.append(cells)
        setting = REFERENCE_SETTINGS.get(group)
        if setting in refs and setting not in placed and (i + 1 == len(ours) or ours[i + 1][0] != group):
            rows += _paper_rows(inp, refs[setting])
            placed.add(setting)
    for setting, group in refs.items():
        if setting not in placed:
            rows += _paper_rows(inp, group)
    extra = [f"Rows marked (paper) come from {inp.reference_path.as_posix()} (I3D FVD, C3D IS, UCF-101 only); "
             "each sits below our run on the same training data. The paper's KVD and its TaiChi, Sky and "
             "Kinetics-food numbers are not recovered."]
    return finish(ctx, 1, "Main results: IS, FVD and KVD (mean ± std over runs)",
                  ["method", "dataset", "split", "IS", "FVD", "KVD"], rows, extra)


def _table1_ours(inp: Inputs, ctx: Context, name: str) -> tuple[tuple[str, str], str, list[Cell]]:
    doc = load(inp, ctx, name, "quality.json")
    head = [label(f"DIGAN (ours) [{name}]"), dataset_cell(inp, name, doc)]
    if doc is None:
        return (inp.experiments[name].dataset or "", ""), name, head + [missing()] * 4
    split = doc.get("config", "data", "split", kind="str")
    cells = head + [sourced_text(doc, split, "config", "data", "split")]
    cells += [metric_cell(ctx, doc, ("metrics",), m) for m in ("is", "fvd", "kvd")]
    return (doc.data["dataset"], split), name, cells


def _paper_rows(inp: Inputs, rows: list[RefRow]) -> list[list[Cell]]:
    """One row per method of one reference setting, in the reference file's order."""
    methods = list(dict.fromkeys(r.method for r in rows))
    out = []
    for method in methods:
        mine = {r.metric: r for r in rows if r.method == method}
        first = next(iter(mine.values()))
        split = SETTING_SPLITS.get(first.setting)
        out.append([label(f"{method} (paper)"), Cell(first.setting, "text", source=inp.ref_src(first)),
                    Cell(split, "text") if split else missing(NOT_APPLICABLE),
                    *[reference_cell(inp, mine[m]) if m in mine else missing(NOT_RECOVERED)
                      for m in ("IS", "FVD", "KVD")]])
    return out


def table2(inp: Inputs) -> Table:
    ctx = Context(inp.profile)
    rows, extra = [], []
    for name in inp.members(2):
        doc = load(inp, ctx, name, "time.json")
        rows.append([label(name), dataset_cell(inp, name, doc),
                     *[metric_cell(ctx, doc, ("scenarios", s, "metrics"), "fvd") for s in SCENARIOS]])
        extra += [_times_line(doc, s) for s in SCENARIOS if doc is not None and doc.has("scenarios", s)]
    return finish(ctx, 2, "Time interpolation and extrapolation: FVD of frames at the given times",
                  ["experiment", "dataset", "standard", "interpolation", "extrapolation"], rows, extra)


def _times_line(doc: Doc, scenario: str) -> str:
    times = doc.get("scenarios", scenario, "times", kind="list")
    if not times or not all(_KINDS["number"](t) for t in times):
        raise ReportError(f"{doc.path}: {pointer(('scenarios', scenario, 'times'))} must be a list of numbers")
    return (f"{doc.data['experiment']} {scenario}: {len(times)} frames at t = {min(times):g} … {max(times):g} "
            f"({doc.src('scenarios', scenario, 'times')}).")


def table3(inp: Inputs) -> Table:
    ctx = Context(inp.profile)
    rows, extra = [], []
    for name in inp.members(3):
        doc = load(inp, ctx, name, "speed.json")
        rows += [_speed_row(doc, name, v) for v in SPEED_VARIANTS]
        if doc is not None:
            extra.append(_speed_line(doc))
    for method in TABLE3_BASELINES:
        found = [r for r in inp.reference if r.table == "3" and r.method == method]
        value = reference_cell(inp, found[0]) if found else missing(NOT_RECOVERED)
        rows.append([label(f"{method} (paper)"), Cell("paper's machine", "text"), value,
                     missing(NOT_APPLICABLE), missing(NOT_APPLICABLE)])
    extra.append("Paper rows: the paper's Table 3 times (Titan XP GPU) are not recovered; "
                 f"only rows present in {inp.reference_path.as_posix()} are printed.")
    return finish(ctx, 3, "Generation time per video (seconds)",
                  ["method", "setting", "seconds per video", "batch size", "repeats"], rows, extra)


def _speed_row(doc: Doc | None, name: str, variant: str) -> list[Cell]:
    head = [label(f"DIGAN (ours) [{name}]"), label(SPEED_VARIANTS[variant])]
    if doc is None or not doc.has("variants", variant):
        return head + [missing()] * 3
    where = ("variants", variant)
    return head + [number(doc, *where, "seconds_per_video"), integer(doc, *where, "batch_size"),
                   integer(doc, *where, "repeats")]


def _speed_line(doc: Doc) -> str:
    res, frames = doc.get("resolution", kind="int"), doc.get("frames", kind="int")
    ratio = doc.get("matmul_roofline_ratio")
    if ratio is not None and not _KINDS["number"](ratio):
        raise ReportError(f"{doc.path}: /matmul_roofline_ratio should be a number or null, got {ratio!r}")
    roof = "not measured" if ratio is None else f"{ratio:.2f}"
    return (f"{doc.data['experiment']}: {frames} frames of {res}×{res} on {doc.get('device', kind='str')}, "
            f"{doc.get('threads')} threads; generator FLOP/s ÷ dense-matmul FLOP/s = {roof} ({doc.path}).")


def table4(inp: Inputs) -> Table:
    ctx = Context(inp.profile)
    rows, extra = [], []
    for name in inp.members(4):
        fvd, recon = load(inp, ctx, name, "space.json"), load(inp, ctx, name, "space_recon.json")
        scales = _scales(fvd) | _scales(recon)
        rows += [_space_row(ctx, name, s, fvd, recon) for s in sorted(scales, key=int)]
        if recon is not None and recon.has("base_psnr"):
            rows.append(_base_row(name, recon))
        if fvd is not None:
            extra.append(f"{name}: base resolution {fvd.get('base_resolution', kind='int')} ({fvd.path}).")
        if recon is not None:
            extra.append(f"{name}: {recon.get('projection_steps')} projection steps ({recon.path}).")
    return finish(ctx, 4, "Space interpolation (upsampling): DIGAN's INR vs bicubic",
                  ["experiment", "scale", "resolution", "FVD INR", "FVD bicubic", "PSNR INR", "PSNR bicubic",
                   "SSIM INR", "SSIM bicubic", "clips (PSNR/SSIM)"], rows, extra)


def _scales(doc: Doc | None) -> set[str]:
    if doc is None:
        return set()
    scales = doc.get("scales", kind="dict")
    if not all(k.isdigit() for k in scales):
        raise ReportError(f"{doc.path}: /scales keys must be integers, got {sorted(scales)}")
    return set(scales)


def _space_row(ctx: Context, name: str, scale: str, fvd: Doc | None, recon: Doc | None) -> list[Cell]:
    has_fvd = fvd is not None and fvd.has("scales", scale)
    has_recon = recon is not None and recon.has("scales", scale)
    source = fvd if has_fvd else recon
    cells = [label(name), label(f"×{scale}"), integer(source, "scales", scale, "resolution")]
    cells += [metric_cell(ctx, fvd if has_fvd else None, ("scales", scale, m), "fvd") for m in ("inr", "bicubic")]
    for measure in ("psnr", "ssim"):
        cells += [number(recon, "scales", scale, measure, m) if has_recon else missing() for m in ("inr", "bicubic")]
    cells.append(integer(recon, "scales", scale, "clips") if has_recon else missing())
    return cells


def _base_row(name: str, recon: Doc) -> list[Cell]:
    """The projection's own PSNR at the training resolution: the ceiling the upsampled PSNR starts from."""
    na = missing(NOT_APPLICABLE)
    return [label(name), label("×1 (projection fit)"), na, na, na, number(recon, "base_psnr"), na, na, na, na]


def table5(inp: Inputs) -> Table:
    ctx = Context(inp.profile)
    rows = []
    for name in inp.members(5):
        doc = load(inp, ctx, name, "quality.json")
        if doc is None:
            rows.append([label(name), dataset_cell(inp, name, doc)] + [missing()] * 5)
            continue
        gen = ("config", "generator")
        rows.append([label(name), dataset_cell(inp, name, doc), number(doc, *gen, "sigma_t", show=lambda v: f"{v:g}"),
                     flag(doc, *gen, "motion_latent"), flag(doc, *gen, "motion_mlp"),
                     metric_cell(ctx, doc, ("metrics",), "fvd"), metric_cell(ctx, doc, ("metrics",), "kvd")])
    extra = ["σt, z_M and f_M are read from each run's measured config (quality.json /config/generator)."]
    return finish(ctx, 5, "Ablation of the motion components: time frequency σt, motion vector z_M, MLP f_M",
                  ["experiment", "dataset", "σt", "z_M", "f_M", "FVD", "KVD"], rows, extra)


def table6(inp: Inputs) -> Table:
    ctx = Context(inp.profile)
    rows, extra = [], []
    for name in inp.members(6):
        doc = load(inp, ctx, name, "prediction.json")
        rows.append(_prediction_row(doc, name))
        if doc is not None:
            extra.append(f"{name}: split {doc.get('split')}, SSIM per clip over the predicted frames ({doc.path}).")
            for text in doc.get("notes", kind="list") if doc.has("notes") else []:
                ctx.note(f"{doc.path}: {text}")
    rows.sort(key=lambda r: (r[1].text != PREDICTION_METHODS["digan_projection"], r[1].kind == "missing", r[0].text))
    extra.append("The paper's image baseline is StyleGAN2; ours is the INR-GAN image generator "
                 "(generator.motion = false).")
    return finish(ctx, 6, "Intermediate frame prediction: SSIM of DIGAN vs image-GAN latent interpolation",
                  ["experiment", "method", "SSIM", "clips", "given frames", "predicted frames",
                   "projection steps"], rows, extra)


def _prediction_row(doc: Doc | None, name: str) -> list[Cell]:
    if doc is None:
        return [label(name)] + [missing()] * 6
    method = doc.get("method", kind="str")
    if method not in PREDICTION_METHODS:
        raise ReportError(f"{doc.path}: /method {method!r} is not one of {sorted(PREDICTION_METHODS)}")
    ssim = Cell(fmt_pm(doc.get("ssim", "mean", kind="number"), doc.get("ssim", "std", kind="number")), "number",
                _raw(doc.get("ssim", "mean")), _raw(doc.get("ssim", "std")), doc.src("ssim", "mean"),
                doc.src("ssim", "std"))
    return [label(name), sourced_text(doc, PREDICTION_METHODS[method], "method"), ssim, integer(doc, "clips"),
            _frames_cell(doc, "given_frames"), _frames_cell(doc, "predicted_frames"),
            integer(doc, "projection_steps")]


def _frames_cell(doc: Doc, key: str) -> Cell:
    frames = doc.get(key)
    text = ", ".join(str(f) for f in frames) if isinstance(frames, list) else str(frames)
    return sourced_text(doc, text, key)


def table7(inp: Inputs) -> Table:
    ctx = Context(inp.profile)
    rows = []
    for name in inp.members(7):
        doc = load(inp, ctx, name, "quality.json")
        content = flag(doc, "config", "generator", "content_latent") if doc is not None else missing()
        rows.append([label(name), dataset_cell(inp, name, doc), content,
                     metric_cell(ctx, doc, ("metrics",), "fvd"), metric_cell(ctx, doc, ("metrics",), "kvd")])
    rows.sort(key=lambda r: (r[1].text, r[0].text))
    extra = ["Content vector ✓: motion parameters G_M(z_I, z_M); ✗: G_M(z_M) only (quality.json "
             "/config/generator/content_latent)."]
    return finish(ctx, 7, "Effect of the content vector on motion generation",
                  ["experiment", "dataset", "content vector", "FVD", "KVD"], rows, extra)


def table8(inp: Inputs) -> Table:
    ctx = Context(inp.profile)
    rows = []
    for name in inp.members(8):
        doc = load(inp, ctx, name, "quality.json")
        rows.append([label(f"DIGAN (ours) [{name}]"), dataset_cell(inp, name, doc), _conditioning(doc),
                     metric_cell(ctx, doc, ("metrics",), "is"), metric_cell(ctx, doc, ("metrics",), "fvd")])
    for row in (r for r in inp.reference if r.table == "8"):
        cells = {"IS": missing(NOT_RECOVERED), "FVD": missing(NOT_RECOVERED), row.metric: reference_cell(inp, row)}
        rows.append([label(f"{row.method} (paper)"), Cell(row.setting, "text", source=inp.ref_src(row)),
                     Cell("class-conditional", "text"), cells["IS"], cells["FVD"]])
    extra = ["Conditioning is read from quality.json /config/generator/num_classes (> 0: class-conditional)."]
    return finish(ctx, 8, "Class-conditional vs unconditional generation", ["method", "dataset", "conditioning",
                                                                            "IS", "FVD"], rows, extra)


def _conditioning(doc: Doc | None) -> Cell:
    if doc is None:
        return missing()
    classes = doc.get("config", "generator", "num_classes", kind="int")
    text = f"class-conditional ({classes} classes)" if classes > 0 else "unconditional"
    return sourced_text(doc, text, "config", "generator", "num_classes")


TABLES: tuple[Callable[[Inputs], Table], ...] = (table1, table2, table3, table4, table5, table6, table7, table8)


# --- rendering ---------------------------------------------------------------------------------------

def to_markdown(table: Table) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = [f"### Table {table.number}. {table.title}", ""]
    lines += [f"- {h}" for h in table.header] + [""]
    lines.append("| " + " | ".join(cell(c) for c in table.columns) + " |")
    lines.append("|" + "---|" * len(table.columns))
    lines += ["| " + " | ".join(cell(c.text) for c in row) + " |" for row in table.rows]
    if table.notes:
        lines += ["", "Notes:", ""] + [f"- {n}" for n in table.notes]
    return "\n".join(lines) + "\n"


def to_csv(table: Table) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for i, row in enumerate(table.rows, start=1):
        row_label = " / ".join(c.text for c in row if c.kind == "label")
        for column, c in zip(table.columns, row):
            writer.writerow([table.number, i, row_label, column, c.kind, c.text, c.value, c.std, c.source,
                             c.std_source])
    return buf.getvalue()


_TEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                "±": r"$\pm$", "σ": r"$\sigma$", "×": r"$\times$", "→": r"$\to$", "…": r"\ldots{}",
                "—": "---", "✓": r"\checkmark{}", "✗": r"$\times$", "÷": r"$\div$", "²": r"$^2$", "`": ""}


_TEX_SYMBOLS = re.compile(r"(σt|z_M|f_M|z_I)")


def tex_escape(text: str) -> str:
    """Escape LaTeX specials; the paper's symbols become math so the tex reads like the paper."""
    parts = _TEX_SYMBOLS.split(text)
    return "".join(_tex_symbol(p) if i % 2 else "".join(_TEX_SPECIAL.get(ch, ch) for ch in p)
                   for i, p in enumerate(parts))


def _tex_symbol(symbol: str) -> str:
    return r"$\sigma_t$" if symbol == "σt" else f"${symbol}$"


def to_tex(table: Table) -> str:
    """A booktabs tabular; the caption block and notes are comments for the including document."""
    lines = [f"% Table {table.number}. {table.title}"] + [f"% {h}" for h in table.header]
    lines.append(r"\begin{tabular}{" + "l" * len(table.columns) + "}")
    lines.append(r"\toprule")
    lines.append(" & ".join(tex_escape(c) for c in table.columns) + r" \\")
    lines.append(r"\midrule")
    lines += [" & ".join(tex_escape(c.text) for c in row) + r" \\" for row in table.rows]
    lines += [r"\bottomrule", r"\end{tabular}"] + [f"% {n}" for n in table.notes]
    return "\n".join(lines) + "\n"


# --- figures -----------------------------------------------------------------------------------------

def read_log(path: Path) -> list[dict[str, float]]:
    """Training log records with step, loss_G and loss_D; a bad line fails with file and line."""
    records = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise ReportError(f"{path.as_posix()}:{n}: not valid JSON ({err})") from None
        if not isinstance(record, dict) or not all(_KINDS["number"](record.get(k)) for k in
                                                    ("step", "loss_G", "loss_D")):
            raise ReportError(f"{path.as_posix()}:{n}: needs numeric step, loss_G and loss_D")
        records.append(record)
    return records


def _save(fig: Any, path: Path) -> None:
    """PNG without the software tag, so the bytes depend only on the data."""
    fig.savefig(path, dpi=100, metadata={"Software": None})


def training_curves(inp: Inputs, path: Path) -> str | None:
    from matplotlib.figure import Figure

    logs = {}
    for name in inp.experiments:
        log = inp.runs / name / "metrics.jsonl"
        if log.is_file() and (records := read_log(log)):
            logs[name] = records
    if not logs:
        return None
    cols = min(3, len(logs))
    rows = math.ceil(len(logs) / cols)
    fig = Figure(figsize=(4.5 * cols, 3.2 * rows))
    axes = list(fig.subplots(rows, cols, squeeze=False).flat)
    for ax, (name, records) in zip(axes, logs.items()):
        steps = [r["step"] for r in records]
        for key in ("loss_G", "loss_D"):
            ax.plot(steps, [r[key] for r in records], label=key, linewidth=1)
        ax.set(title=name, xlabel="step", ylabel="loss")
        ax.legend(fontsize="small")
    for ax in axes[len(logs):]:
        ax.set_visible(False)
    fig.tight_layout()
    _save(fig, path)
    return (f"Training losses (loss_G, loss_D) over steps for {', '.join(logs)} "
            f"(from {inp.runs.as_posix()}/*/metrics.jsonl).")


def fvd_curve_figure(inp: Inputs, path: Path) -> str | None:
    """FVD over training iterations, from the EMA-generator snapshots an evaluate stage scored (curve.json)."""
    from matplotlib.figure import Figure

    docs = [d for name in inp.experiments if (d := inp.doc(name, "curve.json")) is not None]
    if not docs:
        return None
    fig = Figure(figsize=(5.5, 3.8))
    ax = fig.subplots()
    keys = set()
    for doc in docs:
        points = doc.get("points", kind="list")
        fvd = [k for k in (points[0].get("metrics", {}) if points else {}) if k.startswith("fvd_")]
        if not points or len(fvd) != 1:
            raise ReportError(f"{doc.path}: /points must be a non-empty list whose metrics hold one fvd_* key")
        key = fvd[0]
        keys.add(key)
        try:
            steps = [int(pt["step"]) for pt in points]
            mean = [float(pt["metrics"][key]["mean"]) for pt in points]
            std = [float(pt["metrics"][key]["std"]) for pt in points]
        except (KeyError, TypeError, ValueError) as e:
            raise ReportError(f"{doc.path}: malformed /points entry ({e!r})") from None
        ax.errorbar(steps, mean, yerr=std, marker="o", markersize=3, capsize=2, label=f"{doc.data['experiment']} ({key})")
    ax.set(xlabel="training step", ylabel="FVD (mean ± std over runs)", title="FVD over training iterations")
    ax.legend(fontsize="small")
    fig.tight_layout()
    _save(fig, path)
    names = ", ".join(f"{d.data['experiment']} ({d.path})" for d in docs)
    probe = " — probe backbone, not comparable with the paper" if any(not k.endswith("_i3d") for k in keys) else ""
    return f"FVD over training iterations (EMA generator snapshots) for {names}{probe}."


def motion_d_figure(inp: Inputs, path: Path) -> str | None:
    """Fig. 10: the motion D's logit for the pair (first, last frame) as the Δt fed to it varies."""
    from matplotlib.figure import Figure

    docs = [d for name in inp.experiments if (d := inp.doc(name, "motion_d.json")) is not None]
    if not docs:
        return None
    fig = Figure(figsize=(5.5, 3.8))
    ax = fig.subplots()
    for doc in docs:
        dt, mean, std = (doc.get(k, kind="list") for k in ("delta_t", "logit_mean", "logit_std"))
        if not (len(dt) == len(mean) == len(std)) or not all(_KINDS["number"](v) for v in dt + mean + std):
            raise ReportError(f"{doc.path}: delta_t, logit_mean and logit_std must be equal-length number lists")
        ax.plot(dt, mean, marker="o", markersize=3, label=doc.data["experiment"])
        ax.fill_between(dt, [m - s for m, s in zip(mean, std)], [m + s for m, s in zip(mean, std)], alpha=0.2)
        ax.axvline(doc.get("real_delta_t", kind="number"), color="gray", linestyle="--", linewidth=1)
    ax.axhline(0.0, color="black", linewidth=0.5)
    ax.set(xlabel="Δt given to the motion discriminator", ylabel="D_M logit (mean ± std)",
           title="Motion D response to Δt for the pair (first, last frame)")
    ax.legend(fontsize="small")
    fig.tight_layout()
    _save(fig, path)
    names = ", ".join(d.data["experiment"] for d in docs)
    return f"Fig. 10: motion discriminator logit vs Δt (dashed: the real Δt) for {names}."


def media_figures(inp: Inputs) -> list[tuple[Path, str, str]]:
    """(source, figure file name, description) for every known media file of every experiment."""
    found = []
    for name in inp.experiments:
        media = inp.metrics / name / "media"
        if not media.is_dir():
            continue
        for src in sorted(media.iterdir()):
            if src.is_file() and src.stem in MEDIA_FIGURES and src.suffix in MEDIA_SUFFIXES:
                prefix, text = MEDIA_FIGURES[src.stem]
                found.append((src, f"{prefix}_{name}{src.suffix}", f"{text}, {name} ({src.as_posix()})."))
    return found


# --- provenance check --------------------------------------------------------------------------------

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
        return [float(t) for t in _NUMBER.findall(value)]
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return [x for item in items for x in _numbers_in(item)]


def _rounds_to(token: str, candidates: list[float]) -> bool:
    """Whether the printed token is one of the candidates rounded to the token's decimals."""
    decimals = len(token.partition(".")[2])
    tol = 0.5 * 10 ** -decimals * (1 + 1e-9)
    return any(abs(float(token) - c) <= tol + 1e-12 * abs(c) for c in candidates)


def _same(text: str, resolved: Any) -> bool:
    if isinstance(resolved, bool) or not isinstance(resolved, (int, float, str)) or not _is_float(str(resolved)):
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
        if not _is_float(row[value_key]) or not _same(row[value_key], resolved):
            problems.append(f"{value_key} {row[value_key]!r} is not {resolved!r} at {row[source_key]!r}")
    candidates = [float(row[k]) for k in ("value", "std") if _is_float(row[k])]
    problems += [f"printed {t} is not {row['value']!r} ± {row['std']!r}"
                 for t in _NUMBER.findall(row["text"]) if not _rounds_to(t, candidates)]
    return problems


def _check_text(row: dict[str, str], resolver: _Resolver) -> list[str]:
    tokens = _NUMBER.findall(row["text"])
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


# --- stage -------------------------------------------------------------------------------------------

def write_report(inp: Inputs, out: Path) -> None:
    """Write tables, figures and index; files of earlier runs that were not rewritten are removed."""
    tables_dir, figures_dir = out / "tables", out / "figures"
    tables_dir.mkdir(parents=True, exist_ok=True)
    figures_dir.mkdir(parents=True, exist_ok=True)
    table_list = [build(inp) for build in TABLES]  # every input is checked before anything is written
    written = []
    for table in table_list:
        for suffix, render in ((".md", to_markdown), (".csv", to_csv), (".tex", to_tex)):
            path = tables_dir / f"table{table.number}{suffix}"
            path.write_text(render(table), encoding="utf-8")
            written.append(path)
    figures = []
    for name, make in (("training_curves.png", training_curves), ("fvd_curve.png", fvd_curve_figure),
                       ("fig10_motion_d.png", motion_d_figure)):
        if (text := make(inp, figures_dir / name)) is not None:
            figures.append((name, text))
            written.append(figures_dir / name)
    for src, name, text in media_figures(inp):
        shutil.copyfile(src, figures_dir / name)
        figures.append((name, text))
        written.append(figures_dir / name)
    for directory in (tables_dir, figures_dir):
        for stale in sorted(set(directory.iterdir()) - set(written)):
            if stale.is_file():
                stale.unlink()
    index = out / "index.md"
    index.write_text(index_markdown(inp, table_list, sorted(figures)), encoding="utf-8")


def index_markdown(inp: Inputs, tables: list[Table], figures: list[tuple[str, str]]) -> str:
    lines = ["# DIGAN reproduction: tables and figures", "",
             f"Profile (params.yaml): {inp.profile}. Experiments: {', '.join(inp.experiments) or 'none'}.", "",
             f"Inputs: {inp.params_path.as_posix()} (experiments), {inp.metrics.as_posix()}/<experiment>/*.json "
             f"and media/, {inp.runs.as_posix()}/<experiment>/metrics.jsonl, {inp.reference_path.as_posix()}. "
             "Every cell of tables/*.csv names its source (a metrics file and JSON pointer, or a reference row).",
             "", "## Tables", ""]
    for t in tables:
        stem = f"tables/table{t.number}"
        lines.append(f"- [Table {t.number}. {t.title}]({stem}.md) ([csv]({stem}.csv), [tex]({stem}.tex))")
    lines += ["", "## Figures", ""]
    lines += [f"- [{name}](figures/{name}): {text}" for name, text in figures] or ["- none: no inputs yet."]
    return "\n".join(lines) + "\n"


def load_inputs(params: Path, metrics: Path, runs: Path, reference: Path) -> Inputs:
    profile, experiments = load_params(params)
    return Inputs(params, metrics, runs, reference, profile, experiments, load_reference(reference))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--metrics", type=Path, default=Path("metrics"))
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    parser.add_argument("--out", type=Path, default=Path("reports"))
    parser.add_argument("--reference", type=Path, default=Path("reports/reference/paper_numbers.csv"))
    args = parser.parse_args(argv)
    try:
        inp = load_inputs(args.params, args.metrics, args.runs, args.reference)
        write_report(inp, args.out)
    except ReportError as err:
        print(f"report: error: {err}", file=sys.stderr)
        return 1
    problems = trace_sources(args.out)
    for problem in problems:
        print(f"report: untraced: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
