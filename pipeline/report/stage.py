"""The report stage: build every table, write tables, figures and the index, then check provenance."""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from pipeline.report.cells import Table
from pipeline.report.figures import fvd_curve_figure, media_figures, motion_d_figure, training_curves
from pipeline.report.inputs import Inputs, ReportError, load_reference, read_params
from pipeline.report.provenance import trace_sources
from pipeline.report.render import to_csv, to_markdown, to_tex
from pipeline.report.tables import TABLES
from pipeline.report.targets import targets, targets_markdown

TARGETS_NAME = "targets.md"


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
    found = targets(inp)
    (out / TARGETS_NAME).write_text(targets_markdown(found, inp.profile), encoding="utf-8")
    for target in found:
        print(f"report: target {target.line()}")


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
    lines += ["", f"Whether each experiment learned its data, against its floors: [{TARGETS_NAME}]({TARGETS_NAME}).",
              "", "## Figures", ""]
    lines += [f"- [{name}](figures/{name}): {text}" for name, text in figures] or ["- none: no inputs yet."]
    return "\n".join(lines) + "\n"


def load_inputs(params: Path, metrics: Path, runs: Path, reference: Path) -> Inputs:
    return Inputs(params, metrics, runs, reference, read_params(params), load_reference(reference))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.report",
                                     description="Tables 1-8 and figures from the measured metrics files.")
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
