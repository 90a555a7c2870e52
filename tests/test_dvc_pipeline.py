"""The DVC pipeline, run for real in a fresh copy of the repository (issues 6 and 12).

The smoke profile (conf/profile/smoke.yaml, seconds per stage) carries the mechanics on every test run:
the committed dvc.lock matches the committed code and params; `dvc repro` runs every stage; a second
`dvc repro` runs nothing; `dvc exp run -S sigma_t=0.5` re-runs exactly the train/evaluate stages of the
experiments that share the top-level sigma_t, then report, and those experiments' table rows change while
the others stay byte-identical. The full default profile's `dvc repro` (about 20 minutes on 2 cores) is
marked ``full``: `.ci/run` runs it as its own step (`python -m pytest -m full`).
DIGAN_SKIP_DVC_PIPELINE=1 skips both locally.
"""
from __future__ import annotations

import csv
import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.helpers import assert_lock_current, fresh_copy, run_dvc

pytestmark = pytest.mark.skipif(os.environ.get("DIGAN_SKIP_DVC_PIPELINE") == "1",
                                reason="DIGAN_SKIP_DVC_PIPELINE=1")


def _ran(log: str) -> set[str]:
    """The stages DVC reports as run ("Running stage 'x':")."""
    return set(re.findall(r"Running stage '([^']+)'", log))


def _assert_tracked(clone: Path, experiments: dict, profile: str, main: str) -> None:
    """Every train and evaluate stage left one finished MLflow run in the default store (./mlflow.db)."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{clone / 'mlflow.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    names = sorted(r.info.run_name for r in runs if r.info.status == "FINISHED")
    assert names == sorted([*experiments, *(f"evaluate-{k}" for k in experiments)])
    evaluate_main = next(r for r in runs if r.info.run_name == f"evaluate-{main}")
    assert any(k.startswith("quality.") for k in evaluate_main.data.metrics)
    assert evaluate_main.data.tags["profile"] == profile


def _rows(path: Path) -> dict[tuple[str, str], str]:
    with path.open() as f:
        return {(r["row_label"], r["column"]): r["text"] for r in csv.DictReader(f)}


def _expected_stages(params: dict) -> set[str]:
    return ({f"synthesize@{k}" for k in params["synthetic_sets"]} | {f"probe@{k}" for k in params["probes"]}
            | {f"weights@{k}" for k in params["weights"]}
            | {f"{s}@{k}" for k in params["experiments"] for s in ("train", "evaluate")} | {"report"})


def _assert_tables(clone: Path) -> None:
    for t in range(1, 9):
        for ext in ("md", "csv", "tex"):
            assert (clone / "reports" / "tables" / f"table{t}.{ext}").is_file()


def _switch_profile(clone: Path, profile: str) -> dict:
    """Make ``profile`` the composition default of conf/ and params.yaml its composition, committed, as a
    user who picks it for good would (then ``dvc exp run -S key=value`` composes on top of it)."""
    from dvc.utils.hydra import compose_and_dump

    config = clone / "conf" / "config.yaml"
    text = config.read_text()
    assert "  - profile: default\n" in text
    config.write_text(text.replace("  - profile: default\n", f"  - profile: {profile}\n"))
    compose_and_dump(clone / "params.yaml", str(clone / "conf"), None, "config", "", [])
    subprocess.run(["git", "commit", "-qam", f"profile {profile}"], cwd=clone, check=True)
    return yaml.safe_load((clone / "params.yaml").read_text())


def test_smoke_profile_repro_noop_and_sigma_t_experiment(tmp_path):
    clone = fresh_copy(tmp_path / "clone")
    assert_lock_current(clone)
    params = _switch_profile(clone, "smoke")
    assert params["profile"] == "smoke"
    experiments = params["experiments"]

    first = _ran(run_dvc(["repro"], clone, tracking="mlflow"))
    assert first == _expected_stages(params)
    _assert_tables(clone)
    _assert_tracked(clone, experiments, "smoke", "main")
    tables_before = {p.name: p.read_bytes() for p in (clone / "reports" / "tables").iterdir()}
    table5_before = _rows(clone / "reports" / "tables" / "table5.csv")

    assert _ran(run_dvc(["repro"], clone)) == set(), "a second dvc repro must run nothing"

    log = run_dvc(["exp", "run", "-S", "sigma_t=0.5"], clone)
    shared = {k for k, e in experiments.items() if e["sigma_t_param"] == "sigma_t"}
    assert shared and shared != set(experiments)
    assert _ran(log) == {f"{s}@{k}" for k in shared for s in ("train", "evaluate")} | {"report"}
    after = yaml.safe_load((clone / "params.yaml").read_text())
    assert after["sigma_t"] == 0.5 and after["profile"] == "smoke"

    tables_after = {p.name: p.read_bytes() for p in (clone / "reports" / "tables").iterdir()}
    assert tables_after["table1.csv"] != tables_before["table1.csv"], "the main run's FVD must change"
    table5_after = _rows(clone / "reports" / "tables" / "table5.csv")
    fixed_rows = {r for r, _ in table5_before if r in experiments and r not in shared}
    changed_rows = {r for r, c in table5_before if table5_before[(r, c)] != table5_after.get((r, c))}
    assert fixed_rows and not (fixed_rows & changed_rows), "rows of fixed-sigma_t experiments must not change"
    assert changed_rows, "rows of shared-sigma_t experiments must change"
    _assert_headline_fits(clone)


def _assert_headline_fits(clone: Path, width: int = 160) -> None:
    """The README's `dvc exp show` line puts main's FVD, KVD and IS of the experiments side by side in a
    terminal ``width`` wide, and `dvc metrics show` lists every experiment's means in it."""
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    [command] = re.findall(r"^(dvc exp show --only-changed .*?)\s+#", readme, re.M)
    env = {**os.environ, "COLUMNS": str(width)}
    csv_out = subprocess.run([*shlex.split(command), "--csv"], cwd=clone, capture_output=True, text=True,
                             check=True, env=env).stdout
    rows = list(csv.DictReader(csv_out.splitlines()))
    shown = [c for c in rows[0] if c != "Experiment"]
    required = {"sigma_t", *(f"summary/main.json:{m}_probe" for m in ("fvd", "is", "kvd"))}
    assert required <= set(shown) and all(c in required or re.match("(fvd|kvd|is)_", c) for c in shown), shown
    workspace = json.loads((clone / "summary" / "main.json").read_text())
    new = [r for r in rows if r["Experiment"] and float(r["sigma_t"]) == 0.5]  # the named experiment's row
    assert new and float(new[0]["summary/main.json:fvd_probe"]) == pytest.approx(workspace["fvd_probe"], rel=1e-4)
    assert any(float(r["sigma_t"]) != 0.5 for r in rows), rows  # the baseline beside it
    for args in (shlex.split(command), ["dvc", "metrics", "show"]):
        table = subprocess.run([*args, "--no-pager"] if args[1] == "exp" else args, cwd=clone, capture_output=True,
                               text=True, check=True, env=env).stdout
        assert "…" not in table and max(map(len, table.splitlines())) <= width, table
    assert "fvd_probe" in table and "summary/main.json" in table


@pytest.mark.full
def test_default_profile_full_repro(tmp_path):
    """The whole default profile as a user runs it: every stage, every table, every run tracked, and a
    second dvc repro that runs nothing."""
    clone = fresh_copy(tmp_path / "clone")
    assert_lock_current(clone)
    params = yaml.safe_load((clone / "params.yaml").read_text())
    assert params["profile"] == "default"
    assert _ran(run_dvc(["repro"], clone, timeout=3600, tracking="mlflow")) == _expected_stages(params)
    _assert_tables(clone)
    _assert_tracked(clone, params["experiments"], "default", "main")
    assert _ran(run_dvc(["repro"], clone)) == set(), "a second dvc repro must run nothing"
