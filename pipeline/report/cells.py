"""Table cells with their sources, and the per-table context (backbones, sample counts, notes)."""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pipeline.report.inputs import CHECK, COMPARABLE, CROSS, NOT_APPLICABLE, NOT_MEASURED, Doc, Inputs, RefRow

FLOORS = {"real": "real vs real", "untrained": "untrained"}  # quality.json /floors/<name> -> column suffix


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
    """What one table used: profiles, datasets, metric keys, sample counts and footnotes.

    ``preferred`` is the profile's backbone per metric (shown first, so that a column never mixes backbones);
    with ``floors`` every quality metric column has its floor columns (:data:`FLOORS`) after it."""

    params_profile: str
    preferred: dict[str, str]
    floors: bool = False
    profiles: set[str] = field(default_factory=set)
    datasets: set[str] = field(default_factory=set)
    keys: set[str] = field(default_factory=set)
    # (key, experiment) -> counts per result: "" the generator's, else the floor's column suffix
    samples: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    reals: set[str] = field(default_factory=set)
    floor_splits: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def backbones(self, metric: str) -> tuple[str, ...]:
        """The backbones to show ``metric`` with, best first: the profile's, then the paper's."""
        return tuple(dict.fromkeys((self.preferred[metric], COMPARABLE[metric])))

    def use(self, doc: Doc) -> None:
        self.profiles.add(doc.data["profile"])
        self.datasets.add(doc.data["dataset"])
        self.reals.add(f"{doc.data['experiment']}: {doc.data['real_clips']}, split {doc.data['real_split']}")
        if doc.data.get("floors") is not None:
            self.floor_splits.add(_floor_split(doc))
        if doc.data["profile"] != self.params_profile:
            self.note(f"{doc.path} was measured with profile {doc.data['profile']!r}; params names "
                      f"{self.params_profile!r}.")

    def use_metric(self, doc: Doc, key: str, result: dict[str, Any], floor: str = "") -> None:
        """Record a shown result (``floor``: which floor of ``key`` it is) for the Backbone and Samples lines."""
        self.keys.add(key)
        self.samples.setdefault((key, doc.data["experiment"]), {})[floor] = _counts(result)
        for text in result["notes"]:
            self.note(f"{doc.path} `{key}`{f' {floor} floor' if floor else ''}: {text}")

    def header(self) -> list[str]:
        profile = ", ".join(sorted(self.profiles)) or "no measurements"
        lines = [f"Profile: {profile} (params.yaml: {self.params_profile}).",
                 f"Dataset(s): {', '.join(sorted(self.datasets)) or 'none measured'}."]
        lines.append(_backbone_line(self.keys))
        if self.reals:
            lines.append(f"Real clips compared with: {'; '.join(sorted(self.reals))}.")
        if self.floors:
            lines.append(_floors_line(self.floor_splits))
        for (key, experiment), counts in sorted(self.samples.items()):
            lines += _samples_lines(key, experiment, counts)
        return lines


def _counts(result: dict[str, Any]) -> str:
    """The clips behind one result, as the Samples lines print them (equal texts: the same counts)."""
    runs = len(result["runs"])
    same = "" if result["distinct_runs"] or runs < 2 else ", the same clips in every run"
    clips = (f"{result['samples_fake']} generated videos" if result["metric"] == "is"
             else f"{result['samples_real']} real / {result['samples_fake']} generated clips")
    return f"{clips} per run, {runs} run{'' if runs == 1 else 's'}{same}"


def _samples_lines(key: str, experiment: str, counts: dict[str, str]) -> list[str]:
    """One line per key and experiment; its floors join it when they were measured at its counts."""
    own = counts[""]
    same = [floor for floor, text in counts.items() if floor and text == own]
    joined = f"; its {' and '.join(same)} floors at the same counts" if same else ""
    return [f"Samples: `{key}` ({experiment}): {own}{joined}."] + [
        f"Samples: `{key}` ({experiment}) {floor} floor: {text}." for floor, text in counts.items()
        if floor and text != own]


def _floor_split(doc: Doc) -> str:
    """Which clips the real-vs-real floor of one file scored, against which real split."""
    floors, experiment, real = doc.data["floors"], doc.data["experiment"], doc.data["real_split"]
    if floors.get("real") is None:
        return f"{experiment}: none, it trains on the real clips' split {real}"
    clips = floors.get("real_clips")
    split = clips["split"] if clips else doc.get("config", "data", "split", kind="str")
    return f"{experiment}: split {split} as generated, against split {real}"


def _floors_line(splits: set[str]) -> str:
    return (f"Floors, each at its metric's counts unless a Samples line gives its own: '{FLOORS['real']}' scores "
            "the training split's clips as the generated side against the same real clips, i.e. where a perfect "
            f"generator lands ({'; '.join(sorted(splits))}); '{FLOORS['untrained']}' scores the generator at "
            "initialisation (same config and seed), where training starts.")


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


def pick_metric(ctx: Context, doc: Doc, parts: tuple[str | int, ...], metric: str) -> str | None:
    """The first of the context's backbones measured for ``metric``, else the first other backbone by name."""
    container = doc.get(*parts, kind="dict")
    for backbone in ctx.backbones(metric):
        if f"{metric}_{backbone}" in container:
            return f"{metric}_{backbone}"
    others = sorted(k for k in container if k.startswith(f"{metric}_"))
    return others[0] if others else None


def _key(ctx: Context, doc: Doc | None, parts: tuple[str | int, ...], metric: str,
         backbone: str | None) -> str | None:
    if doc is None or not doc.has(*parts):
        return None
    if backbone is None:
        return pick_metric(ctx, doc, parts, metric)
    key = f"{metric}_{backbone}"
    return key if doc.has(*parts, key) else None


def result_cell(ctx: Context, doc: Doc, where: tuple[str | int, ...], metric: str, floor: str = "") -> Cell:
    """mean ± std of one MetricResult (checked by pipeline.results); a non-paper backbone is named in the cell."""
    result = doc.get(*where, kind="dict")
    ctx.use_metric(doc, str(where[-1]), result, floor)
    mark = "" if result["backbone"] == COMPARABLE[metric] else f" ({result['backbone']})"
    return Cell(fmt_pm(result["mean"], result["std"]) + mark, "number", raw_number(result["mean"]),
                raw_number(result["std"]), doc.src(*where, "mean"), doc.src(*where, "std"))


def metric_cell(ctx: Context, doc: Doc | None, parts: tuple[str | int, ...], metric: str) -> Cell:
    """``metric`` with the context's preferred backbone (:meth:`Context.backbones`)."""
    key = _key(ctx, doc, parts, metric, None)
    return missing() if key is None else result_cell(ctx, doc, (*parts, key), metric)


def quality_cells(ctx: Context, doc: Doc | None, metric: str, backbone: str | None = None) -> list[Cell]:
    """A quality.json metric cell and, in a table with floors, its floors of the same key (own cells, own sources)."""
    key = _key(ctx, doc, ("metrics",), metric, backbone)
    if key is None:
        return [missing()] * width(ctx)
    cell = result_cell(ctx, doc, ("metrics", key), metric)
    return [cell, *(_floor_cell(ctx, doc, floor, key, metric) for floor in FLOORS)] if ctx.floors else [cell]


def _floor_cell(ctx: Context, doc: Doc, floor: str, key: str, metric: str) -> Cell:
    floors = doc.data.get("floors")
    if floors is None:
        return missing()
    if floors.get(floor) is None:
        return missing(NOT_APPLICABLE)  # no real-vs-real floor: the training split is the real split
    if key not in floors[floor]:
        return missing()
    return result_cell(ctx, doc, ("floors", floor, key), metric, FLOORS[floor])


def width(ctx: Context) -> int:
    """Columns per quality metric: the metric, and its floors in a table with floors."""
    return 1 + len(FLOORS) if ctx.floors else 1


def beside(ctx: Context, cell: Cell) -> list[Cell]:
    """A quality metric cell that has no floors (the paper's numbers), with its floor columns as not applicable."""
    return [cell] + [missing(NOT_APPLICABLE)] * (width(ctx) - 1)


def metric_columns(ctx: Context, *names: str) -> list[str]:
    """Each quality metric column, followed by its floor columns in a table with floors."""
    suffixes = list(FLOORS.values()) if ctx.floors else []
    return [column for name in names for column in (name, *(f"{name} {s}" for s in suffixes))]


def context(inp: Inputs, quality_of: Iterable[str] = ()) -> Context:
    """A table's context: the profile's backbones (evaluate.backbone, evaluate.is_backbone) shown first, and floor
    columns when the quality file of any of ``quality_of`` has floors."""
    ev = inp.params.evaluate
    preferred = {"fvd": ev.backbone.kind, "kvd": ev.backbone.kind, "is": ev.is_backbone.kind}
    docs = (inp.doc(name, "quality") for name in quality_of)
    return Context(inp.profile, preferred, any(d is not None and d.data.get("floors") is not None for d in docs))


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


