"""The DVC pipeline of the default profile, run for real in a fresh copy of the repository (issue 6).

`dvc repro` runs every stage; a second `dvc repro` runs nothing; `dvc exp run -S sigma_t=0.5` re-runs
exactly the train/evaluate stages of the experiments that share the top-level sigma_t, then report, and
those experiments' table rows change while the others stay byte-identical. This is the longest test of
the suite (the whole default profile, twice in part); DIGAN_SKIP_DVC_PIPELINE=1 skips it locally.
"""
from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.helpers import REPO

pytestmark = pytest.mark.skipif(os.environ.get("DIGAN_SKIP_DVC_PIPELINE") == "1",
                                reason="DIGAN_SKIP_DVC_PIPELINE=1")


def _run(cmd: list[str], cwd: Path, timeout: int = 1800) -> str:
    env = {**os.environ, "DIGAN_TRACKING": "none", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}")
    return proc.stdout + proc.stderr


def _ran(log: str) -> set[str]:
    """The stages DVC reports as run ("Running stage 'x':")."""
    return set(re.findall(r"Running stage '([^']+)'", log))


def _fresh_clone(tmp_path: Path) -> Path:
    """What a user gets from git: every tracked (and not ignored) file, committed in a new repository."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, capture_output=True,
                           check=True).stdout.decode().split("\0")
    clone = tmp_path / "clone"
    for rel in filter(None, files):
        src = REPO / rel
        if src.is_file():
            (clone / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, clone / rel)
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "clone"]):
        subprocess.run(cmd, cwd=clone, check=True)
    return clone


def _rows(path: Path) -> dict[tuple[str, str], str]:
    with path.open() as f:
        return {(r["row"], r["column"]): r["text"] for r in csv.DictReader(f)}


def test_default_profile_repro_noop_and_sigma_t_experiment(tmp_path):
    clone = _fresh_clone(tmp_path)
    params = yaml.safe_load((clone / "params.yaml").read_text())
    experiments = params["experiments"]

    first = _ran(_run(["dvc", "repro"], clone))
    expected_all = ({f"synthesize@{k}" for k in params["synthetic_sets"]} | {f"probe@{k}" for k in params["probes"]}
                    | {f"{s}@{k}" for k in experiments for s in ("train", "evaluate")} | {"report"})
    assert first == expected_all
    for t in range(1, 9):
        for ext in ("md", "csv", "tex"):
            assert (clone / "reports" / "tables" / f"table{t}.{ext}").is_file()
    tables_before = {p.name: p.read_bytes() for p in (clone / "reports" / "tables").iterdir()}
    table5_before = _rows(clone / "reports" / "tables" / "table5.csv")

    assert _ran(_run(["dvc", "repro"], clone)) == set(), "a second dvc repro must run nothing"

    log = _run(["dvc", "exp", "run", "-S", "sigma_t=0.5"], clone)
    shared = {k for k, e in experiments.items() if e["sigma_t_param"] == "sigma_t"}
    assert shared and shared != set(experiments)
    assert _ran(log) == {f"{s}@{k}" for k in shared for s in ("train", "evaluate")} | {"report"}
    assert yaml.safe_load((clone / "params.yaml").read_text())["sigma_t"] == 0.5

    tables_after = {p.name: p.read_bytes() for p in (clone / "reports" / "tables").iterdir()}
    assert tables_after["table1.csv"] != tables_before["table1.csv"], "the main run's FVD must change"
    table5_after = _rows(clone / "reports" / "tables" / "table5.csv")
    fixed_rows = {r for r, _ in table5_before if any(k in r for k in experiments if k not in shared)}
    changed_rows = {r for r, c in table5_before if table5_before[(r, c)] != table5_after.get((r, c))}
    assert fixed_rows and not (fixed_rows & changed_rows), "rows of fixed-sigma_t experiments must not change"
    assert changed_rows, "rows of shared-sigma_t experiments must change"
