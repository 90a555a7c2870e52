"""Default-profile `dvc repro` wall time, split by stage, and the time of a no-op `dvc repro`.

    python bench/pipeline.py [--keep DIR]

Runs in a fresh clone of the committed HEAD (commit your changes first), so nothing in the working tree
is reused. Stage times are the intervals between
DVC's "Running stage" lines, so each includes DVC's own bookkeeping for that stage. Printed, not asserted.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def fresh_clone(dest: Path) -> Path:
    """A clone of HEAD with its own git identity (dvc commits nothing here, but git needs one)."""
    subprocess.run(["git", "clone", "-q", str(REPO), str(dest)], check=True)
    for key, value in (("user.name", "digan"), ("user.email", "digan@localhost")):
        subprocess.run(["git", "config", key, value], cwd=dest, check=True)
    return dest


def timed_repro(cwd: Path) -> tuple[float, list[tuple[str, float]]]:
    """Total seconds and (stage, seconds) in the order DVC ran them."""
    start = time.perf_counter()
    marks: list[tuple[str, float]] = []
    proc = subprocess.Popen(["dvc", "repro"], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout is not None
    for line in proc.stdout:
        match = re.search(r"Running stage '([^']+)'", line)
        if match:
            marks.append((match.group(1), time.perf_counter()))
    if proc.wait() != 0:
        sys.exit(f"dvc repro failed in {cwd}")
    end = time.perf_counter()
    stages = [(name, (marks[i + 1][1] if i + 1 < len(marks) else end) - t) for i, (name, t) in enumerate(marks)]
    return end - start, stages


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--keep", type=Path, help="run in this (new) directory and keep it")
    args = p.parse_args()
    dest = args.keep or Path(tempfile.mkdtemp(prefix="digan-bench-")) / "clone"
    clone = fresh_clone(dest)
    total, stages = timed_repro(clone)
    noop, rerun = timed_repro(clone)
    tracking = os.environ.get("DIGAN_TRACKING", "mlflow")
    print(f"default profile, {os.cpu_count()} CPUs, tracking {tracking}: dvc repro {total:.0f} s "
          f"({total / 60:.1f} min), no-op dvc repro {noop:.1f} s ({len(rerun)} stages re-ran)")
    groups: dict[str, float] = {}
    for name, seconds in stages:
        print(f"  {name:32s} {seconds:7.1f} s")
        groups[name.split("@")[0]] = groups.get(name.split("@")[0], 0.0) + seconds
    print("  by kind: " + ", ".join(f"{k} {v:.0f} s ({v / total:.0%})" for k, v in groups.items()))
    if args.keep is None:
        shutil.rmtree(dest.parent)


if __name__ == "__main__":
    main()
