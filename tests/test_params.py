"""params.yaml is checked against one typed schema before any stage does work (issue 6)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from digan.config import ConfigError
from pipeline.params import experiment_config, load_params
from tests.helpers import REPO

PARAMS = REPO / "params.yaml"


def _write(tmp_path: Path, edit) -> Path:
    data = yaml.safe_load(PARAMS.read_text())
    edit(data)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_committed_params_are_the_hydra_composition_of_conf():
    """dvc exp run regenerates params.yaml from conf/; the committed file must be that composition."""
    from dvc.utils.hydra import compose_and_dump

    for overrides, committed in (([], yaml.safe_load(PARAMS.read_text())), (["profile=paper"], None)):
        out = Path(os.environ.get("TMPDIR", "/tmp")) / f"composed-{os.getpid()}.yaml"
        compose_and_dump(out, str(REPO / "conf"), None, "config", "", overrides)
        composed = yaml.safe_load(out.read_text())
        out.unlink()
        if committed is not None:
            assert composed == committed, "regenerate params.yaml from conf/ (see README, Profiles)"
        else:
            assert composed["profile"] == "paper" and composed["launcher"]["kind"] == "slurm"


def test_every_profile_validates(tmp_path):
    assert load_params(PARAMS).profile == "default"
    paper = _write(tmp_path, lambda d: None)
    from dvc.utils.hydra import compose_and_dump
    compose_and_dump(paper, str(REPO / "conf"), None, "config", "", ["profile=paper"])
    params = load_params(paper)
    assert params.profile == "paper" and str(params.evaluate.backbone) == "i3d"
    assert experiment_config(params, "ucf101_all").generator.resolution == 128
    smoke = tmp_path / "smoke.yaml"
    compose_and_dump(smoke, str(REPO / "conf"), None, "config", "", ["profile=smoke"])
    params = load_params(smoke)
    assert params.profile == "smoke" and experiment_config(params, "main").generator.resolution == 16


def test_real_statistics_follow_the_paper_per_dataset(tmp_path):
    """App. A.2 / official compute_fvd_kvd.py (train=False): Sky test, Kinetics-food validation, UCF/TaiChi all."""
    from dvc.utils.hydra import compose_and_dump

    paper = tmp_path / "paper.yaml"
    compose_and_dump(paper, str(REPO / "conf"), None, "config", "", ["profile=paper"])
    experiments = load_params(paper).experiments
    real = {name: (e.real_store or e.store, e.real_split) for name, e in experiments.items()}
    assert real["sky"] == ("test", "all") and experiments["sky"].store == "train"
    assert real["kinetics_food"] == ("validate", "all") and experiments["kinetics_food"].store == "train"
    assert real["ucf101_train"] == ("all", "all") and experiments["ucf101_train"].store == "train"
    assert all(real[n] == ("all", "all") for n in experiments if n.startswith(("ucf101", "taichi")))
    default = load_params(PARAMS).experiments  # the default profile: the synthetic test split
    assert all((e.real_store or e.store, e.real_split) == ("clips", "test") for e in default.values())


def test_shared_and_own_sigma_t():
    params = load_params(PARAMS, ["sigma_t=0.5"])
    assert experiment_config(params, "main").generator.sigma_t == 0.5
    assert experiment_config(params, "sigma_t_large").generator.sigma_t == 1.0
    assert experiment_config(params, "long").generator.sigma_t == 0.5


@pytest.mark.parametrize("edit, key", [
    (lambda d: d.update(sigma_tt=0.3), "unknown key sigma_tt"),
    (lambda d: d.update(sigma_t=-0.25), "sigma_t: must be positive"),
    (lambda d: d["experiments"]["main"].update(clips="ucf1010"), "experiments.main.clips"),
    (lambda d: d.update(download=["ucf1010"]), "download[0]: unknown dataset"),
    (lambda d: d["experiments"]["main"]["set"].update({"generator.fmm_rank": -1}), "generator.fmm_rank"),
    (lambda d: d["experiments"]["main"]["set"].update({"generator.sigma_t": 0.5}),
     "experiments.main.set.generator.sigma_t"),
    (lambda d: d["experiments"]["main"].update(sigma_t=0.5), "experiments.main.sigma_t"),
    (lambda d: d["experiments"]["main"].pop("set"), "experiments.main.set: required"),
    (lambda d: d["evaluate"].update(runs="ten"), "evaluate.runs: expected an integer"),
    (lambda d: d["experiments"]["main"].update(real_store="test"), "experiments.main.real_store"),
    (lambda d: d["experiments"]["main"].update(real_split="tset"), "experiments.main.real_split"),
    (lambda d: d["launcher"].update(kind="slurm", cluster_profile="no-such-cluster"), "launcher.cluster_profile"),
    (lambda d: d["launcher"].update(kind="slurm", evaluate_cluster_profile="no-such"),
     "launcher.evaluate_cluster_profile"),
    (lambda d: d["launcher"].update(kind="slurm", evaluate_cluster_profile="example-gpu"),
     "launcher.evaluate_cluster_profile: an evaluation job runs one process"),
])
def test_bad_params_name_the_key(tmp_path, edit, key):
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        load_params(_write(tmp_path, edit))


@pytest.mark.parametrize("stage", [["pipeline.train", "main"], ["pipeline.evaluate", "main"],
                                   ["pipeline.synthesize", "synthetic"], ["pipeline.weights", "--probe", "synthetic"]])
def test_stages_fail_before_any_work_on_bad_params(tmp_path, stage):
    path = _write(tmp_path, lambda d: d.update(sigma_t=-1.0))
    proc = subprocess.run([sys.executable, "-m", *stage, "--params", str(path)], cwd=tmp_path,
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 2, proc.stderr
    assert "sigma_t: must be positive" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]  # nothing written


TYPOS = {  # one misspelt key in every section of params.yaml, as python -m pipeline.params reports it
    "top level": (lambda d: d.update(sigmat=0.3), "unknown key sigmat"),
    "launcher": (lambda d: d["launcher"].update(knd="local"), "unknown key launcher.knd"),
    "model": (lambda d: d["model"]["generator"].update(fmm_rnak=2), "generator.fmm_rnak"),
    "datasets": (lambda d: d["datasets"]["ucf101"].update(loacl_dir="/x"), "datasets.ucf101.loacl_dir"),
    "preprocess": (lambda d: d.update(preprocess={"resolutoin": 64}), "unknown key preprocess.resolutoin"),
    "preprocess per dataset": (lambda d: d.update(preprocess={"sky": {"strid": 2}}), "preprocess.sky.strid"),
    "clip_sets": (lambda d: d.update(download=["sky"], clip_sets={"sky": {"dataset": "sky", "scale": [2]}}),
                  "unknown key clip_sets.sky.scale"),
    "synthetic_sets": (lambda d: d["synthetic_sets"]["synthetic"].update(resolutoin=16),
                       "unknown key synthetic_sets.synthetic.resolutoin"),
    "probes": (lambda d: d["probes"]["synthetic"].update(stpes=3), "unknown key probes.synthetic.stpes"),
    "evaluate": (lambda d: d["evaluate"].update(runz=3), "unknown key evaluate.runz"),
    "experiments": (lambda d: d["experiments"]["main"].update(lable="x"), "unknown key experiments.main.lable"),
    "experiment overrides": (lambda d: d["experiments"]["main"]["set"].update({"train.stepz": 3}), "train.stepz"),
}


@pytest.mark.parametrize("edit, key", TYPOS.values(), ids=TYPOS.keys())
def test_a_typo_in_any_section_fails_the_check_naming_the_key(tmp_path, capsys, edit, key):
    from pipeline.params import main

    assert main(["--params", str(_write(tmp_path, edit))]) == 2
    assert key in capsys.readouterr().err


def test_paper_ucf101_is_the_paper_profiles_ucf101_rows(tmp_path):
    """Issue 13: with UCF-101 alone, `-S profile=paper_ucf101` runs the paper profile's UCF-101 experiments,
    unchanged, and no stage of another dataset."""
    from dvc.utils.hydra import compose_and_dump

    composed = {}
    for profile in ("paper", "paper_ucf101"):
        compose_and_dump(tmp_path / f"{profile}.yaml", str(REPO / "conf"), None, "config", "", [f"profile={profile}"])
        composed[profile] = yaml.safe_load((tmp_path / f"{profile}.yaml").read_text())
    paper, ucf = composed["paper"], composed["paper_ucf101"]
    assert ucf["download"] == ["ucf101"] and list(ucf["clip_sets"]) == ["ucf101"]
    assert ucf["experiments"] == {k: v for k, v in paper["experiments"].items() if v["clips"] == "ucf101"}
    assert len(ucf["experiments"]) == 8
    shared = set(paper) - {"profile", "download", "clip_sets", "experiments"}
    assert {k: ucf[k] for k in shared} == {k: paper[k] for k in shared}
    assert load_params(tmp_path / "paper_ucf101.yaml").profile == "paper_ucf101"


def test_the_train_stage_names_every_missing_dataset_before_submitting_a_job(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    params = _write(tmp_path, lambda d: d.update(download=["taichi", "sky"]))
    from pipeline.train import main as train

    assert train(["main", "--params", str(params)]) == 2
    err = capsys.readouterr().err
    assert "2 of the datasets to download cannot be obtained" in err and "datasets.sky" in err
    assert not (tmp_path / "runs").exists()
