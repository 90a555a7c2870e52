"""The report a dataset's layout check fills about ``data/raw/<dataset>/`` (written as its report.json),
and the file walks the checks share."""
from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any


class LayoutReport:
    """Counts, missing items (complete lists) and problems (essential parts missing) of one layout check."""

    def __init__(self, dataset: str, raw_dir: Path) -> None:
        self.dataset, self.raw_dir = dataset, raw_dir
        self.counts: dict[str, Any] = {}
        self.missing: dict[str, list[str]] = {}
        self.problems: list[str] = []

    def read_csv(self, rel: str, columns: tuple[str, ...], origin: str) -> list[dict[str, str]] | None:
        """The rows of metadata file ``rel``, or None (and a problem naming ``origin``) when it is absent
        or lacks one of ``columns``."""
        path = self.raw_dir / rel
        if not path.is_file():
            self.problems.append(f"missing metadata file {rel} ({origin})")
            return None
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            lacking = [c for c in columns if c not in (reader.fieldnames or [])]
            if lacking:
                self.problems.append(f"{rel} lacks column(s) {', '.join(lacking)}; its header is {reader.fieldnames}")
                return None
            return list(reader)

    def to_dict(self) -> dict[str, Any]:
        """The report.json content."""
        return {"dataset": self.dataset, "ok": not self.problems, "problems": self.problems, "counts": self.counts,
                "missing": self.missing}


def suffix(name: str) -> str:
    """The lower-cased extension of a file name (".avi"), as the checks compare them."""
    return os.path.splitext(name)[1].lower()


def walk_files(root: Path) -> list[Path]:
    """Every file under ``root``, following links (a ``local_dir`` is linked in)."""
    return [Path(d) / f for d, _, files in os.walk(root, followlinks=True) for f in files]
