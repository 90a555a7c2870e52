"""The train stage never deletes a run: resumable changes resume it, any other change moves it aside."""
from __future__ import annotations

import dataclasses

import yaml

from digan.config import load_config
from pipeline.train import prepare_run_dir


def _run(tmp_path):
    run_dir = tmp_path / "runs" / "main"
    cfg = load_config(None, ["train.steps=100"])
    prepare_run_dir(run_dir, cfg)
    (run_dir / "checkpoint.pt").write_bytes(b"weights of a long run")
    return run_dir, cfg


def test_same_or_resumable_config_keeps_the_run(tmp_path):
    run_dir, cfg = _run(tmp_path)
    prepare_run_dir(run_dir, cfg)
    longer = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, steps=400, log_every=7))
    prepare_run_dir(run_dir, longer)
    assert (run_dir / "checkpoint.pt").read_bytes() == b"weights of a long run"
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["train"]["steps"] == 400
    assert [p.name for p in run_dir.parent.iterdir()] == ["main"]


def test_other_config_change_moves_the_run_aside(tmp_path, capsys):
    run_dir, cfg = _run(tmp_path)
    for sigma_t in (0.5, 1.0):  # twice within a second: two distinct kept copies
        changed = dataclasses.replace(cfg, generator=dataclasses.replace(cfg.generator, sigma_t=sigma_t))
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
