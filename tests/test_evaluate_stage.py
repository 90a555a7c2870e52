"""The evaluate stage: its time grids (Table 2) are what the generator is really asked to render, and the
files it writes are what pipeline.results says, with the metrics CLI's numbers, from one generator load."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
import yaml

from digan.metrics.__main__ import from_args, parse_args
from digan.metrics.backbones.i3d import I3D_WEIGHTS_FILENAME, I3D_WEIGHTS_META_FILENAME, load_i3d
from digan.metrics.backbones.probe import train_probe
from digan.metrics.generated import generated_clips
from digan.models.generator import Generator
from digan.train import write_snapshot
from digan.training.loop import Trainer
from pipeline import evaluate as stage
from pipeline.evaluate import CLIP_FRAMES
from pipeline.params import clip_store_path, experiment_config, load_params
from pipeline.report.stage import load_inputs
from pipeline.report.targets import targets
from pipeline.results import ANALYSES, ANALYSIS_FILES, RESULTS, TIME_SCENARIOS
from pipeline.synthesize import main as synthesize
from pipeline.weights import probe_path
from tests.helpers import REPO, tiny_config


def _times_seen(cfg, t_range) -> list[float]:
    G = Generator(cfg).eval().requires_grad_(False)
    seen: list[float] = []
    synthesize = G.synthesize

    def spy(w, z_motion, times, **kwargs):
        seen.extend(times.flatten().tolist())
        return synthesize(w, z_motion, times, **kwargs)

    G.synthesize = spy
    clips = list(generated_clips(G, 2, frames=CLIP_FRAMES, t_range=t_range, batch_size=2))
    assert len(clips) == 2 and clips[0].shape[0] == CLIP_FRAMES
    return seen


def test_table2_extrapolation_renders_frames_after_the_clip_only(tiny_generator_config):
    seen = _times_seen(tiny_generator_config, TIME_SCENARIOS["extrapolation"])
    assert len(seen) == CLIP_FRAMES and min(seen) > 1.0 and max(seen) == 2.0


def test_table2_interpolation_renders_only_in_between_times(tiny_generator_config):
    seen = np.array(_times_seen(tiny_generator_config, TIME_SCENARIOS["interpolation"]))
    assert seen.min() > 0 and seen.max() < 1
    training_grid = np.arange(CLIP_FRAMES) / (CLIP_FRAMES - 1)
    assert np.abs(seen[:, None] - training_grid[None]).min() > 1e-3  # never a training frame time


def test_table2_standard_is_the_training_grid(tiny_generator_config):
    seen = _times_seen(tiny_generator_config, TIME_SCENARIOS["standard"])
    assert torch.allclose(torch.tensor(seen[:CLIP_FRAMES]), torch.linspace(0, 1, CLIP_FRAMES))


def _stage_inputs(tmp_path, analyses):
    """params.yaml (the repository's, at the 16² test sizes), the synthetic store (and its 2× copy), its
    probe, a final checkpoint at step 4 and a snapshot at step 2, laid out where the stage looks for them."""
    data = yaml.safe_load((REPO / "params.yaml").read_text())
    tiny = tiny_config(tmp_path)
    data["model"] = {**data["model"], "generator": tiny["generator"], "discriminator": tiny["discriminator"]}
    data["synthetic_sets"]["synthetic"] = {"resolution": 16, "frames_per_video": 20, "clip_frames": 16,
                                           "videos_per_class": 2, "scales": [2], "scale_videos_per_class": 1}
    data["evaluate"].update(runs=2, samples=8, is_samples=8, analysis_runs=1, analysis_samples=8, projection_steps=2,
                            projection_clips=2, speed_repeats=1)
    data["experiments"] = {"main": {"clips": "synthetic", "store": "clips", "real_split": "test",
                                    "sigma_t_param": "sigma_t", "label": "DIGAN", "tables": [1, 2], "set": {},
                                    "analyses": analyses, "space_scales": [2], "metrics": ["fvd", "kvd", "is"]}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(data))
    params = load_params(tmp_path / "params.yaml")
    assert synthesize(["synthetic"]) == 0
    train_probe(clip_store_path("synthetic", "clips"), probe_path("synthetic"), steps=5, batch_size=8)
    trainer = Trainer(experiment_config(params, "main"), tmp_path / "runs/main")
    trainer.step = 2
    write_snapshot(trainer, 2)
    with torch.no_grad():
        for p in trainer.G_ema.parameters():
            p.add_(0.05 * torch.randn_like(p))  # the final generator differs from the snapshot
    trainer.step = 4
    trainer.save_checkpoint()
    return params


def test_stage_writes_its_schema_with_the_clis_numbers_from_one_generator_load(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    params = _stage_inputs(tmp_path, ["quality", "curve", "time", "motion_d"])
    checkpoint = tmp_path / "runs/main/checkpoint.pt"
    loads, built = [], []
    torch_load, build = torch.load, stage.generator_from_state
    monkeypatch.setattr(torch, "load", lambda f, *a, **k: loads.append(str(f)) or torch_load(f, *a, **k))
    monkeypatch.setattr(stage, "generator_from_state",
                        lambda state, **k: built.append(state["step"]) or build(state, **k))
    written = stage.run(params, "main", "none")
    assert [p.name for p in written] == ["quality.json", "curve.json", "time.json", "motion_d.json"]
    assert loads.count("runs/main/checkpoint.pt") == 1 and sorted(built) == [2, 4]
    files = {p.stem: json.loads(p.read_text()) for p in written}
    for stem, data in files.items():
        RESULTS[stem].model_validate(data)
    assert files["quality"]["real_clips"] == "synthetic/clips" and files["quality"]["train_steps"] == 4
    assert [pt["step"] for pt in files["curve"]["points"]] == [2, 4]

    # What the stage wrote before it called the library: the CLI on the checkpoint, FVD/KVD and IS apart.
    def cli(*extra: str) -> dict:
        return from_args(parse_args(["--checkpoint", str(checkpoint), "--real", "data/clips/synthetic/clips",
                                     "--real-split", "test", "--seed", "0", "--frames", "16", "--is-samples", "8",
                                     "--cache-dir", "data/cache/features", "--probe", str(probe_path("synthetic")),
                                     "--backbone", "probe", "--is-backbone", "probe", *extra]))["metrics"]

    quality = {**cli("--metrics", "fvd,kvd", "--runs", "2", "--samples", "8"),
               **cli("--metrics", "is", "--runs", "2", "--samples", "8")}
    assert files["quality"]["metrics"] == quality
    t0, t1 = TIME_SCENARIOS["extrapolation"]
    later = cli("--metrics", "fvd,kvd", "--runs", "1", "--samples", "8", "--t-range", str(t0), str(t1))
    assert files["time"]["scenarios"]["extrapolation"]["metrics"] == later
    assert files["time"]["scenarios"]["extrapolation"]["metrics"] != files["time"]["scenarios"]["standard"]["metrics"]


def test_every_analysis_writes_what_its_schema_says(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    written = stage.run(_stage_inputs(tmp_path, list(ANALYSES)), "main", "none")
    assert [p.stem for p in written] == [stem for a in ANALYSES for stem in ANALYSIS_FILES[a]]
    for path in written:
        RESULTS[path.stem].model_validate(json.loads(path.read_text()))
    assert (tmp_path / "metrics/main/media/prediction.png").is_file()


def _set_launcher(tmp_path, **launcher) -> None:
    data = yaml.safe_load((tmp_path / "params.yaml").read_text())
    data["launcher"].update(launcher)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(data))


def test_the_stage_measures_in_a_job_streams_its_log_and_fails_with_its_error(tmp_path, monkeypatch, capsys):
    """Issue 13: the evaluate stage is a job of the launcher (here submitit's local one), not the DVC process."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    _stage_inputs(tmp_path, ["quality", "speed"])
    assert stage.main(["main", "--tracking", "none"]) == 0
    out = capsys.readouterr().out
    assert "submitted job" in out and "(local): python -m pipeline.evaluate main" in out
    assert "task 0] evaluate main: on cpu" in out  # the job's own log, streamed
    speed = json.loads((tmp_path / "metrics/main/speed.json").read_text())
    assert speed["device"].startswith("cpu (")  # Table 3 says where it was measured
    assert not (tmp_path / "metrics/main" / stage.PROGRESS).exists()
    assert list((tmp_path / stage.JOB_LOGS / "main").glob("*_log.out"))

    probe_path("synthetic").unlink()  # fails inside the job
    assert stage.main(["main", "--tracking", "none"]) == 1
    err = capsys.readouterr().err
    assert "the evaluation job failed" in err and str(probe_path("synthetic")) in err


def test_a_requeued_evaluation_keeps_the_files_it_finished(tmp_path, monkeypatch):
    """A job requeued after its time limit measures only what it had not written; a changed protocol
    measures everything again."""
    monkeypatch.chdir(tmp_path)
    params = _stage_inputs(tmp_path, ["quality", "motion_d"])
    measured: list[str] = []
    real = dict(stage.MEASURES)

    def failing_motion_d(ctx):
        raise RuntimeError("time limit")

    def spy(stem):
        return lambda ctx: measured.append(stem) or real[stem](ctx)

    monkeypatch.setitem(stage.MEASURES, "quality", spy("quality"))
    monkeypatch.setitem(stage.MEASURES, "motion_d", failing_motion_d)
    with pytest.raises(RuntimeError, match="time limit"):
        stage.run(params, "main", "none")
    first = (tmp_path / "metrics/main/quality.json").read_text()
    assert measured == ["quality"] and (tmp_path / "metrics/main" / stage.PROGRESS).is_file()

    monkeypatch.setitem(stage.MEASURES, "motion_d", spy("motion_d"))
    written = stage.run(params, "main", "none")
    assert measured == ["quality", "motion_d"] and [p.stem for p in written] == ["quality", "motion_d"]
    assert (tmp_path / "metrics/main/quality.json").read_text() == first
    summary = json.loads((tmp_path / "summary/main.json").read_text())
    quality = json.loads(first)["metrics"]
    assert summary == {name: value["mean"] for name, value in quality.items()}
    assert not (tmp_path / "metrics/main" / stage.PROGRESS).exists()

    monkeypatch.setitem(stage.MEASURES, "motion_d", failing_motion_d)
    with pytest.raises(RuntimeError):
        stage.run(params, "main", "none")
    changed = params.model_copy(update={"evaluate": params.evaluate.model_copy(update={"samples": 6})})
    monkeypatch.setitem(stage.MEASURES, "motion_d", spy("motion_d"))
    stage.run(changed, "main", "none")
    assert measured == ["quality", "motion_d", "quality", "quality", "motion_d"]


def test_floors_and_a_second_backbone_beside_every_quality_number(tmp_path, monkeypatch):
    """evaluate.floors adds, at the same counts, real vs real (the training split as the generated side) and the
    untrained generator; also_scored_with adds FVD/KVD with another backbone at its own counts, with floors."""
    monkeypatch.chdir(tmp_path)
    _stage_inputs(tmp_path, ["quality", "curve"])
    data = yaml.safe_load((tmp_path / "params.yaml").read_text())
    data["weights"] = ["i3d"]
    data["evaluate"]["floors"] = True
    data["experiments"]["main"]["also_scored_with"] = [{"backbone": "i3d", "runs": 1, "samples": 4}]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(data))
    params = load_params(tmp_path / "params.yaml")
    load_i3d(REPO / "data" / "weights")  # the real I3D, converted once into the repository's data/weights
    (tmp_path / "data/weights/i3d").mkdir(parents=True)
    for name in (I3D_WEIGHTS_FILENAME, I3D_WEIGHTS_META_FILENAME):
        shutil.copy(REPO / "data" / "weights" / name, tmp_path / "data/weights/i3d" / name)
    path, curve = stage.run(params, "main", "none")
    body = json.loads(path.read_text())
    keys = {"fvd_probe", "kvd_probe", "is_probe", "fvd_i3d", "kvd_i3d"}
    assert set(body["metrics"]) == keys
    assert [len(body["metrics"][k]["runs"]) for k in ("fvd_probe", "fvd_i3d")] == [2, 1]
    assert body["metrics"]["fvd_i3d"]["samples_fake"] == 4
    floors = body["floors"]
    assert set(floors["untrained"]) == set(floors["real"]) == keys
    assert floors["real"]["fvd_i3d"]["samples_fake"] == floors["untrained"]["fvd_i3d"]["samples_fake"] == 4
    assert floors["real_clips"]["split"] == "train" and body["real"]["split"] == "test"
    # Real clips of the other split sit far closer to the test clips than the generator at initialisation.
    assert floors["real"]["fvd_probe"]["mean"] < floors["untrained"]["fvd_probe"]["mean"]
    # The report's targets read exactly these numbers.
    found = {t.name: t for t in targets(load_inputs(tmp_path / "params.yaml", tmp_path / "metrics", tmp_path / "runs",
                                                    REPO / "reports/reference/paper_numbers.csv"))}
    real = floors["real"]
    assert found["IS / real clips' IS (is_probe)"].measured == pytest.approx(
        body["metrics"]["is_probe"]["mean"] / real["is_probe"]["mean"])
    assert found["FVD / real-vs-real FVD (fvd_probe)"].measured == pytest.approx(
        body["metrics"]["fvd_probe"]["mean"] / real["fvd_probe"]["mean"])
    points = json.loads(curve.read_text())["points"]
    fall = found["FVD fall over the last half of training (fvd_probe)"]
    assert [p["step"] for p in points] == [2, 4] and fall.bound == points[1]["metrics"]["fvd_probe"]["std"]
    assert fall.measured == pytest.approx(points[0]["metrics"]["fvd_probe"]["mean"]
                                          - points[1]["metrics"]["fvd_probe"]["mean"])
    G = stage.untrained_generator(stage.Context(params, "main"))
    torch.manual_seed(0)  # train.seed of the tiny config
    reference = Generator(experiment_config(params, "main").generator)
    assert all(torch.equal(a, b) for a, b in zip(G.state_dict().values(), reference.state_dict().values()))
