"""Sweeps (``python -m slurm.sweep``): an invalid sweep stops before anything is submitted; on the local
Slurm cluster a grid runs as one throttled job array and is summarised, and a failing run is reported
after the others finished. Cluster tests use tests/test_slurm.py's ``slurm`` fixture: they skip without
a cluster, unless DIGAN_REQUIRE_SLURM=1."""
import csv
import json
import re
from pathlib import Path

import pytest
import yaml

import slurm.sweep as sweep_module
from pipeline.cluster_profiles import ProfileError
from slurm.sweep import SweepError, load_sweep, main
from tests.helpers import REPO, tiny_config, write_config
from tests.test_slurm import slurm  # noqa: F401 - the cluster fixture, with its skip/require rule

STEPS = 2
SIGMA_T = [0.1, 0.5, 1.0]


@pytest.fixture(autouse=True)
def no_tracking(monkeypatch):
    """Jobs inherit the environment: no MLflow start-up in them, except where tracking is tested."""
    monkeypatch.setenv("DIGAN_TRACKING", "none")


def write_sweep(tmp_path: Path, **entries) -> Path:
    """A sweep file on the tiny config; ``entries`` add to or replace its keys (None removes one)."""
    config = write_config(tmp_path, tiny_config(tmp_path / "data" / "clips", steps=STEPS, checkpoint_every=STEPS))
    data = {"name": "test", "base_config": str(config), "launcher": "slurm", "cluster_profile": "local",
            "parallelism": 2, "out": str(tmp_path / "sweep"), "grid": {"generator.sigma_t": SIGMA_T}, **entries}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({k: v for k, v in data.items() if v is not None}, sort_keys=False))
    return path


def read_summary(out: Path) -> list[dict[str, str]]:
    with (out / "summary.csv").open() as f:
        return list(csv.DictReader(f))


INVALID = {
    "unknown key": ({"grdi": {"generator.sigma_t": [1.0]}}, r"unknown key grdi \(known: name, base_config"),
    "unknown override key": ({"grid": {"generator.sigma": [0.1]}}, r"run sigma=0.1: unknown key generator\.sigma"),
    "impossible value": ({"grid": {"generator.sigma_t": [0.5, -1]}},
                         r"run sigma_t=-1: generator\.sigma_t: must be positive"),
    "malformed override": ({"set": ["train.steps"]}, r"must look like section\.key=value"),
    "bad run override": ({"grid": None, "runs": [{"name": "a", "set": {"train.stepz": 3}}]},
                         r"run a: unknown key train\.stepz"),
    "missing profile": ({"cluster_profile": "nope"}, r"no cluster profile 'nope'.*local"),
    "empty grid": ({"grid": {}}, r"grid: must not be empty, got \{\}"),
    "grid key without values": ({"grid": {"generator.sigma_t": []}}, r"grid.generator.sigma_t: must not be empty"),
    "no runs at all": ({"grid": None}, r"needs a grid, runs, or both"),
    "repeated run name": ({"grid": None, "runs": [{"name": "a"}, {"name": "a"}]}, r"\['a'\] occur more than once"),
    "bad parallelism": ({"parallelism": 0}, r"parallelism: must be >= 1, got 0"),
    "missing base config": ({"base_config": "nope.yaml"}, r"base_config: no file nope\.yaml"),
    "config and experiment": ({"experiment": "main"}, r"exactly one of base_config .* and experiment"),
    "unknown experiment": ({"base_config": None, "experiment": "mian", "params_profile": "smoke"},
                           r"experiment: no experiment 'mian' in profile smoke \(known: main"),
    "unknown params profile": ({"base_config": None, "experiment": "main", "params_profile": "papr"},
                               r"params_profile: must be one of 'default', 'paper', 'paper_ucf101', 'paper_smoke' "
                               r"or 'smoke', got 'papr'"),
}


@pytest.mark.parametrize("entries,message", INVALID.values(), ids=INVALID.keys())
def test_invalid_sweep_fails_before_submission(tmp_path, monkeypatch, capsys, entries, message):
    monkeypatch.setattr(sweep_module, "submit_array", lambda *a, **k: pytest.fail("submitted an invalid sweep"))
    path = write_sweep(tmp_path, **entries)
    with pytest.raises((SweepError, ProfileError), match=message):
        load_sweep(path)
    assert main([str(path)]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "sweep").exists()


def test_grid_and_runs_expand_in_override_order(tmp_path):
    path = write_sweep(tmp_path, set={"train.steps": 5},
                       runs=[{"name": "base"}, {"name": "short", "set": ["train.steps=3", "generator.sigma_t=9"]}],
                       grid={"generator.sigma_t": [0.25, 1e-5], "discriminator.channel_max": [16],
                             "generator.channel_max": [8]})
    sweep = load_sweep(path, parallelism=4)
    assert [run.name for run in sweep.runs] == [
        f"{name},sigma_t={s},discriminator.channel_max=16,generator.channel_max=8"
        for name in ("base", "short") for s in ("0.25", "1.0e-05")]
    short = sweep.runs[3]
    # base config < common set < the run's set < the grid
    assert (short.config.train.steps, short.config.generator.sigma_t) == (3, 1e-5)
    assert sweep.runs[0].config.train.steps == 5
    assert short.out_dir == tmp_path / "sweep" / short.name and sweep.parallelism == 4


@pytest.mark.parametrize("name,runs", [("table5_ablation", 8), ("sigma_t_grid", 4)])
def test_shipped_sweeps_are_valid(name, runs, monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    assert main([f"slurm/sweeps/{name}.yaml", "--dry-run"]) == 0
    assert f"sweep {name}: {runs} run(s)" in capsys.readouterr().out


def test_grid_runs_as_one_job_array(slurm, tmp_path, capsys):  # noqa: F811 - the fixture
    out = tmp_path / "sweep"
    quality = out / "sigma_t=0.5" / "quality.json"  # as an evaluation stage would leave it
    quality.parent.mkdir(parents=True)
    quality.write_text(json.dumps({"fvd_i3d": {"mean": 123.5, "std": 1.5}, "distinct_runs": True}))
    assert main([str(write_sweep(tmp_path))]) == 0
    rows = read_summary(out)
    assert [row["status"] for row in rows] == ["FINISHED"] * 3
    assert [float(row["generator.sigma_t"]) for row in rows] == SIGMA_T
    assert all(int(row["step"]) == STEPS and float(row["loss_G"]) > 0 for row in rows)
    assert rows[1]["quality.fvd_i3d.mean"] == "123.5" and rows[0]["quality.fvd_i3d.mean"] == ""
    array = {row["job_id"].split("_")[0] for row in rows}
    assert len(array) == 1 and [row["job_id"] for row in rows] == [f"{next(iter(array))}_{i}" for i in range(3)]
    assert "#SBATCH --array=0-2%2" in (out / "submitit" / f"{next(iter(array))}_submission.sh").read_text()
    printed = capsys.readouterr().out
    assert re.search(r"\[sweep test\] sigma_t=1\.0 \(job \d+_2\): FINISHED", printed)
    assert "| sigma_t=0.5 | FINISHED |" in (out / "summary.md").read_text()


def test_failing_run_is_reported_and_fails_the_sweep(slurm, tmp_path, capsys):  # noqa: F811 - the fixture
    missing = tmp_path / "no" / "clips"  # fails only in the job, when training opens its data
    path = write_sweep(tmp_path, grid=None, runs=[
        {"name": "ok"}, {"name": "broken", "set": {"data.synthetic": False, "data.path": str(missing)}}])
    assert main([str(path)]) == 1
    ok, broken = read_summary(tmp_path / "sweep")
    assert (ok["status"], broken["status"]) == ("FINISHED", "FAILED")
    assert f"no clip store at {missing}" in broken["error"] and not ok["error"]
    assert int(ok["step"]) == STEPS
    assert "1 of 2 run(s) did not finish: broken" in capsys.readouterr().err
    assert "### broken" in (tmp_path / "sweep" / "summary.md").read_text()


def test_sweep_is_a_parent_mlflow_run(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    client.create_experiment("sweeps", artifact_location=str(tmp_path / "artifacts"))  # not ./mlruns
    monkeypatch.setenv("DIGAN_TRACKING", "mlflow")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "sweeps")
    assert main([str(write_sweep(tmp_path, grid=None, runs=[{"name": "only"}])), "--launcher", "local"]) == 0
    experiment = client.get_experiment_by_name("sweeps")
    runs = {run.info.run_name: run for run in client.search_runs([experiment.experiment_id])}
    parent, child = runs["test"], runs["only"]
    assert parent.info.status == child.info.status == "FINISHED"
    assert parent.data.tags["sweep"] == child.data.tags["sweep"] == "test"
    assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert parent.data.metrics["runs_finished"] == 1 and parent.data.metrics["runs_failed"] == 0
    assert {a.path for a in client.list_artifacts(parent.info.run_id)} == {"summary.csv", "summary.md"}


def test_sweep_over_an_experiment_starts_from_the_pipelines_config(tmp_path, capsys):
    """A sweep defined over an experiment of the params is the pipeline's configuration of that experiment:
    a run without overrides equals pipeline.params.experiment_config, and the jobs start from it."""
    from digan.config import config_from_dict
    from pipeline.configs import profile_params
    from pipeline.params import experiment_config

    store = tmp_path / "data" / "clips"
    data = {"data.path": str(store), "data.synthetic": True, "data.synthetic_videos_per_class": 2}
    path = write_sweep(tmp_path, base_config=None, experiment="main", params_profile="smoke", launcher="local",
                       cluster_profile=None, grid=None, runs=[{"name": "as_pipeline"}, {"name": "here", "set": data}])
    sweep = load_sweep(path)
    pipeline_cfg = experiment_config(profile_params("smoke"), "main")
    assert sweep.runs[0].config == pipeline_cfg
    assert sweep.runs[1].config.generator == pipeline_cfg.generator and sweep.runs[1].config.train == pipeline_cfg.train
    assert sweep.base_label == "experiment main of profile smoke"
    path = write_sweep(tmp_path, base_config=None, experiment="main", params_profile="smoke", launcher="local",
                       cluster_profile=None, grid=None, runs=[{"name": "here", "set": data}])
    assert main([str(path)]) == 0
    out = tmp_path / "sweep"
    assert config_from_dict(yaml.safe_load((out / "base_config.yaml").read_text())) == pipeline_cfg
    (row,) = read_summary(out)
    assert row["status"] == "FINISHED" and int(row["step"]) == pipeline_cfg.train.steps
    assert "base config: experiment main of profile smoke" in (out / "summary.md").read_text()


@pytest.mark.parametrize("sweep_file", sorted((REPO / "slurm" / "sweeps").glob("*.yaml")), ids=lambda p: p.stem)
def test_committed_sweeps_validate(sweep_file, monkeypatch):
    monkeypatch.chdir(REPO)
    sweep = load_sweep(sweep_file)
    assert sweep.runs and all(run.config.train.steps > 0 for run in sweep.runs)
