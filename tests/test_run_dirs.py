"""The train stage never deletes a run: resumable changes resume it, any other change (config, training
code or clips) moves it aside."""
from __future__ import annotations


import yaml

from digan.config import load_config
from pipeline.closure import REPO, import_closure
from pipeline.train import prepare_run_dir, training_inputs
from tests.helpers import fresh_copy, run_dvc


def _run(tmp_path):
    run_dir = tmp_path / "runs" / "main"
    cfg = load_config(None, ["train.steps=100"])
    prepare_run_dir(run_dir, cfg)
    (run_dir / "checkpoint.pt").write_bytes(b"weights of a long run")
    return run_dir, cfg


def test_same_or_resumable_config_keeps_the_run(tmp_path):
    run_dir, cfg = _run(tmp_path)
    prepare_run_dir(run_dir, cfg)
    longer = cfg.model_copy(update={"train": cfg.train.model_copy(update={"steps": 400, "log_every": 7})})
    prepare_run_dir(run_dir, longer)
    assert (run_dir / "checkpoint.pt").read_bytes() == b"weights of a long run"
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["train"]["steps"] == 400
    assert [p.name for p in run_dir.parent.iterdir()] == ["main"]


def test_other_config_change_moves_the_run_aside(tmp_path, capsys):
    run_dir, cfg = _run(tmp_path)
    for sigma_t in (0.5, 1.0):  # twice within a second: two distinct kept copies
        changed = cfg.model_copy(update={"generator": cfg.generator.model_copy(update={"sigma_t": sigma_t})})
        prepare_run_dir(run_dir, changed)
        (run_dir / "checkpoint.pt").write_bytes(f"run with sigma_t {sigma_t}".encode())
    kept = sorted(p for p in run_dir.parent.iterdir() if p.name.startswith("main.replaced-"))
    assert [(p / "checkpoint.pt").read_bytes() for p in kept] == [b"weights of a long run", b"run with sigma_t 0.5"]
    assert "generator.sigma_t" in capsys.readouterr().out
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["generator"]["sigma_t"] == 1.0


def test_a_directory_without_config_is_kept(tmp_path):
    run_dir = tmp_path / "runs" / "main"
    run_dir.mkdir(parents=True)
    (run_dir / "notes.txt").write_text("mine")
    prepare_run_dir(run_dir, load_config(None))
    [kept] = [p for p in run_dir.parent.iterdir() if p.name != "main"]
    assert (kept / "notes.txt").read_text() == "mine"


def test_a_finished_run_trained_with_other_code_or_clips_is_moved_aside(tmp_path, capsys):
    """DVC re-runs train@ when a code or data dep changed; the config alone would then say 'resume'."""
    run_dir, cfg = _run(tmp_path)
    prepare_run_dir(run_dir, cfg, {"code": "a", "data": "b"})
    prepare_run_dir(run_dir, cfg, {"code": "a", "data": "b"})
    assert (run_dir / "checkpoint.pt").is_file()
    prepare_run_dir(run_dir, cfg, {"code": "changed", "data": "b"})
    assert not (run_dir / "checkpoint.pt").exists()
    kept = [p for p in run_dir.parent.iterdir() if p.name.startswith("main.replaced-")]
    assert len(kept) == 1 and (kept[0] / "checkpoint.pt").read_bytes() == b"weights of a long run"
    assert "trained with other training code" in capsys.readouterr().out


def test_training_inputs_follow_the_clips_and_the_code(tmp_path):
    store = tmp_path / "clips"
    store.mkdir()
    (store / "meta.json").write_text("{}")
    cfg = load_config(None, [f"data.path={store}"])
    before = training_inputs(cfg)
    assert before == training_inputs(cfg)
    (store / "manifest.csv").write_text("clip_index\n0\n")
    after = training_inputs(cfg)
    assert after["data"] != before["data"] and after["code"] == before["code"]
    trained_code = {p.relative_to(REPO).as_posix() for p in import_closure("digan.train")}
    assert {"digan/models/inr.py", "digan/training/loop.py", "digan/config.py"} <= trained_code


def test_the_forced_checkout_of_dvc_exp_run_keeps_an_interrupted_run(tmp_path):
    """`dvc exp run` begins with `dvc checkout --force --allow-missing` (dvc/repo/experiments/executor/base.py).
    A cached run directory whose stage was killed before dvc.lock recorded it would be deleted there, and one
    trained past its recorded hash rolled back; an uncached one is left alone."""
    project = fresh_copy(tmp_path / "project")
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    del lock["stages"]["train@main"]  # killed before its first lock entry
    (project / "dvc.lock").write_text(yaml.safe_dump(lock, sort_keys=False))
    interrupted = project / "runs" / "main"
    interrupted.mkdir(parents=True)
    (interrupted / "checkpoint.pt").write_bytes(b"two days of training")
    run_dvc(["checkout", "--force", "--allow-missing"], project)
    assert (interrupted / "checkpoint.pt").read_bytes() == b"two days of training"
