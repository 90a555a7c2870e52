"""Tables as markdown, CSV (one row per cell, with its source) and booktabs LaTeX."""
from __future__ import annotations

import csv
import io
import re

from pipeline.report.cells import Table
from pipeline.report.inputs import CSV_COLUMNS


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


