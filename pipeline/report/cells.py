"""Table cells with their sources, and the per-table context (backbones, sample counts, notes)."""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pipeline.report.inputs import CHECK, COMPARABLE, CROSS, NOT_APPLICABLE, NOT_MEASURED, Doc, Inputs, RefRow


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


def raw_number(x: int | float) -> str:
    """Shortest text that parses back to exactly the JSON number."""
    return repr(x) if isinstance(x, float) else str(x)


def number(doc: Doc, *parts: str | int, show: Callable[[Any], str] = fmt) -> Cell:
    value = doc.get(*parts, kind="number")
    return Cell(show(value), "number", raw_number(value), source=doc.src(*parts))


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
    reals: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def use(self, doc: Doc) -> None:
        self.profiles.add(doc.data["profile"])
        self.datasets.add(doc.data["dataset"])
        self.reals.add(f"{doc.data['experiment']}: {doc.data['real_clips']}, split {doc.data['real_split']}")
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
        if self.reals:
            lines.append(f"Real clips compared with: {'; '.join(sorted(self.reals))}.")
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


def load(inp: Inputs, ctx: Context, experiment: str, stem: str) -> Doc | None:
    doc = inp.doc(experiment, stem)
    if doc is None:
        ctx.note(f"{NOT_MEASURED}: {inp.path(experiment, stem).as_posix()} is absent.")
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
    """mean ± std of one MetricResult (checked by pipeline.results); a non-paper backbone is named in the cell."""
    key = pick_metric(doc, parts, metric) if doc is not None and doc.has(*parts) else None
    if key is None:
        return missing()
    where = (*parts, key)
    result = doc.get(*where)
    ctx.use_metric(doc, key, result)
    mark = "" if result["backbone"] == COMPARABLE[metric] else f" ({result['backbone']})"
    return Cell(fmt_pm(result["mean"], result["std"]) + mark, "number", raw_number(result["mean"]),
                raw_number(result["std"]), doc.src(*where, "mean"), doc.src(*where, "std"))


def dataset_cell(inp: Inputs, experiment: str, doc: Doc | None) -> Cell:
    """The measured file's dataset, or while there is none the clip set params trains the experiment on."""
    if doc is not None:
        return sourced_text(doc, doc.data["dataset"], "dataset")
    return Cell(inp.experiments[experiment].clips, "text", source=inp.params_src("experiments", experiment, "clips"))


def finish(ctx: Context, number_: int, title: str, columns: list[str], rows: list[list[Cell]],
           extra: Iterable[str] = ()) -> Table:
    notes = list(ctx.notes)
    if any(c.text == NOT_APPLICABLE for row in rows for c in row):
        notes.append(f"{NOT_APPLICABLE}: does not apply to this row, or the reference does not state it.")
    if not rows:
        notes.append("No experiment in params.yaml lists this table.")
    return Table(number_, title, columns, rows, ctx.header() + list(extra), notes)


