"""python -m pipeline.plan: every stage DVC would create, where it runs, output sizes and FLOPs, before any run.

The stage list is checked against DVC's own index of dvc.yaml for the default and paper params; a clip
store's size against a store the repository's code writes; the generator's FLOPs counted on the meta device
against FlopCounterMode on real CPU tensors; device-hours against a doubled step count.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from torch.utils.flop_counter import FlopCounterMode

from digan.config import DiscriminatorConfig
from digan.data.synthetic import make_synthetic_dataset
from digan.models.discriminator import VideoDiscriminators
from digan.models.generator import Generator
from digan.training.loop import r1_penalty
from pipeline import params as params_module
from pipeline import plan
from pipeline.params import load_params
from pipeline.plan_flops import (R1_FORWARDS, discriminator_passes, generator_forward, generator_key, generator_train,
                                 projection_step)
from pipeline.plan_sizes import synthetic_stores

REPO = Path(__file__).resolve().parents[1]
FOREACH = {"download": "download", "preprocess": "clip_sets", "synthesize": "synthetic_sets", "weights": "weights",
           "probe": "probes", "train": "experiments", "evaluate": "experiments"}


def _name(kind: str, key: str | None) -> str:
    return kind if key is None else f"{kind}@{key}"


def _compose(profile: str, out: Path) -> Path:
    from dvc.utils.hydra import compose_and_dump

    compose_and_dump(out, str(REPO / "conf"), None, "config", "", [f"profile={profile}"])
    return out


@pytest.fixture(scope="module")
def params_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("profiles")
    return {profile: _compose(profile, tmp / f"{profile}.yaml") for profile in ("default", "paper", "smoke")}


def _dvc_stage_names(params_file: Path, tmp: Path) -> set[str]:
    """The stage instances DVC itself builds from dvc.yaml and a params file."""
    from dvc.repo import Repo

    tmp.mkdir()
    shutil.copy(REPO / "dvc.yaml", tmp / "dvc.yaml")
    shutil.copy(params_file, tmp / "params.yaml")
    repo = Repo.init(tmp, no_scm=True)
    try:
        return {stage.name for stage in repo.index.stages}
    finally:
        repo.close()


@pytest.mark.parametrize("profile", ["default", "paper"])
def test_stage_list_is_what_dvc_builds(profile, params_files, tmp_path):
    params = load_params(params_files[profile])
    names = [_name(kind, key) for kind, key in plan.stage_instances(params)]
    raw = yaml.safe_load(params_files[profile].read_text())
    expected = {f"{stage}@{key}" for stage, section in FOREACH.items() for key in raw[section]} | {"report"}
    assert len(names) == len(set(names)) and set(names) == expected
    assert set(names) == _dvc_stage_names(params_files[profile], tmp_path / "dvc")


def test_plan_has_a_row_per_stage_with_sizes_and_flops(params_files):
    """The whole plan of the smoke profile (the default profile's stages at the smallest sizes, which the
    meta-device counts of the default profile's seven generator variants would only make slower)."""
    params = load_params(params_files["smoke"])
    stages = plan.Planner(params).stages()
    assert [s.name for s in stages] == [_name(k, key) for k, key in plan.stage_instances(params)]
    assert all(b for s in stages for _, b in s.outputs), "every output has a size"
    train = [s for s in stages if s.name.startswith("train@")]
    assert train and all(s.runs_on.startswith("local job") and s.gpus == 0 and s.flops > 0 for s in train)
    evaluate = next(s for s in stages if s.name.startswith("evaluate@"))
    assert evaluate.work.keys() >= {"quality", "real features"}
    assert all(s.flops == 0 for s in stages if s.name.startswith(("synthesize@", "report")))


def test_paper_plan_places_jobs_and_sizes_real_stores(params_files):
    params = load_params(params_files["paper"])
    planner = plan.Planner(params)
    assert planner.job("cluster_profile") == ("slurm example-gpu: 1x8 tasks, 8 GPU", 8)
    assert planner.job("evaluate_cluster_profile") == ("slurm example-1gpu: 1x1 tasks, 1 GPU", 1)
    train = planner.train("ucf101_all")  # 15 EMA snapshots of G (63.5 M float32 parameters) in the run directory
    assert train.outputs[0][1] > 15 * 4 * 63e6 and train.flops > 0
    stores = {str(s.path): s for s in planner.stores["taichi"] + planner.stores["taichi_long"]}
    # Exact from first-order-model's metadata (digan/data/real/taichi.py): 4 clips per 64-frame block.
    assert stores["data/clips/taichi/all"].clips == 56_192 and stores["data/clips/taichi_long/all"].clips == 2_504
    x1, x4 = stores["data/clips/taichi/all"].bytes, stores["data/clips/taichi/x4/all"].bytes
    assert x4 == pytest.approx(16 * x1, rel=1e-3)  # the same clips at 512²
    ucf = {str(s.path): s for s in planner.stores["ucf101"]}
    assert ucf["data/clips/ucf101/all"].splits == {"train": 9537 * 11, "test": 3783 * 11}  # 180 frames -> 11 clips
    assert planner.download("taichi").outputs == [("data/raw/taichi", None)]  # needs local_dir


def test_clip_store_estimate_matches_a_store_on_disk(tmp_path):
    spec = {"resolution": 16, "frames_per_video": 20, "clip_frames": 8, "videos_per_class": 2, "scales": [2],
            "scale_videos_per_class": 1}
    params = params_module.parse(params_module.Params, {"synthetic_sets": {"tiny": spec}})
    estimates = {str(s.path): s for s in synthetic_stores(params, "tiny")}
    for scale in (1, 2):
        out = make_synthetic_dataset(tmp_path / f"x{scale}", videos_per_class=spec["videos_per_class"] if scale == 1
                                     else spec["scale_videos_per_class"], frames_per_video=20, clip_frames=8,
                                     resolution=16 * scale)
        on_disk = sum(f.stat().st_size for f in out.iterdir())
        est = estimates[os.path.join("data/clips/tiny", *(["x2"] if scale == 2 else []), "clips")]
        assert est.clips == json.loads((out / "meta.json").read_text())["num_clips"]
        assert (out / "clips.npy").stat().st_size == 128 + est.clips * 8 * (16 * scale) ** 2 * 3
        assert on_disk / 1.5 < est.bytes < on_disk * 1.5, (on_disk, est.bytes)


def _cpu_flops(run) -> int:
    with FlopCounterMode(display=False) as counter:
        run()
    return counter.get_total_flops()


def test_generator_flops_on_meta_match_a_count_on_real_tensors(tiny_generator_config):
    cfg = tiny_generator_config
    G = Generator(cfg)
    z, zm = torch.randn(1, cfg.z_dim), torch.randn(1, cfg.motion_z_dim)
    key = generator_key(cfg)
    with torch.no_grad():
        assert generator_forward(key, 16) == _cpu_flops(lambda: G(z, zm, torch.linspace(0, 1, 16)))
        assert generator_forward(key, 16, 64) == _cpu_flops(lambda: G(z, zm, torch.linspace(0, 1, 16), resolution=64))
    assert generator_train(key, 2) == _cpu_flops(lambda: G(z, zm, torch.rand(1, 2)).sum().backward())
    G.requires_grad_(False)
    w = torch.randn(1, cfg.w_dim, requires_grad=True)
    zm.requires_grad_(True)
    assert projection_step(key, 3, 32) == _cpu_flops(lambda: G.synthesize(w, zm, torch.rand(3)).sum().backward())


def test_r1_costs_r1_forwards_forwards():
    """The R1 ratio the plan uses, checked by counting r1_penalty's double backward on a small D."""
    cfg = DiscriminatorConfig(channel_base=128, channel_max=16, mbstd_group=4)
    D = VideoDiscriminators(cfg, 16).motion
    # a non-leaf input: FlopCounterMode's module hooks refuse autograd.grad into a leaf
    x = torch.randn(4, 7, 16, 16, requires_grad=True) * 1.0
    with torch.no_grad():
        forward = _cpu_flops(lambda: D(x))
    r1 = _cpu_flops(lambda: r1_penalty(D(x), x).sum().backward())
    assert r1 / forward == pytest.approx(R1_FORWARDS, rel=0.05)  # 5.99 at paper widths
    _, motion = discriminator_passes(cfg.model_dump_json(), 16, 0)
    assert motion.forward == forward // 4 and motion.r1 == R1_FORWARDS * motion.forward


def test_device_hours_scale_with_steps_and_throughput(params_files):
    stages = {}
    for steps in (160, 320):
        params = load_params(params_files["smoke"], [f"model.train.steps={steps}"])
        stages[steps] = plan.Planner(params).train(next(iter(params.experiments)))
    rate = plan.Throughput(50.0, 0.03)
    assert stages[320].flops == 2 * stages[160].flops
    assert stages[320].hours(rate)[0] == pytest.approx(2 * stages[160].hours(rate)[0])
    assert stages[160].hours(plan.Throughput(50.0, 0.06))[0] == pytest.approx(stages[160].hours(rate)[0] / 2)
    gpu = plan.Stage("train@x", "slurm", gpus=8, work={"steps": 10**18})
    device, wall = gpu.hours(rate)
    assert device == pytest.approx(1e18 / 50e12 / 3600) and wall == pytest.approx(device / 8)


def test_bad_params_fail_as_pipeline_params_does(tmp_path, capsys):
    data = yaml.safe_load((REPO / "params.yaml").read_text())
    data["experiments"]["main"]["tables"] = [9]
    bad = tmp_path / "params.yaml"
    bad.write_text(yaml.safe_dump(data))
    assert params_module.main(["--params", str(bad)]) == 2
    expected = capsys.readouterr().err
    assert plan.main(["--params", str(bad)]) == 2
    assert capsys.readouterr().err == expected == "invalid params: experiments.main.tables[0]: must be <= 8, got 9\n"


def test_json_and_table_output(params_files, capsys):
    assert plan.main(["--params", str(params_files["smoke"]), "--json", "--cpu-tflops", "0.07"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["throughput_tflops"] == {"gpu_tflops": 50.0, "cpu_tflops": 0.07}
    assert out["totals"]["flops"] == sum(s["flops"] for s in out["stages"])
    assert out["totals"]["cpu_hours"] == pytest.approx(sum(s["device_hours"] for s in out["stages"]))
    assert plan.main(["--params", str(params_files["smoke"])]) == 0
    table = capsys.readouterr().out
    assert all(s["name"] in table for s in out["stages"]) and "Assumed effective throughput" in table
