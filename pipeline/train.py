"""Stage train@<experiment>: one DIGAN training run → runs/<experiment>/ and curves/<experiment>.csv.

The experiment's configuration (the profile's ``model`` + the experiment's σt and overrides, validated by
pipeline.params) is written to ``runs/<experiment>/config.yaml`` and trained through submitit, on this
machine or on Slurm (``launcher``). The stage blocks, streams the job's log and fails with the job's error.
``runs/<experiment>/`` persists between DVC runs so an interrupted stage resumes from its checkpoint;
when the configuration changed, the old run is discarded first, never resumed.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
from pathlib import Path

import yaml

from digan.config import Config, ConfigError
from digan.training.loop import METRICS_NAME
from pipeline.params import RUNS_ROOT, Params, experiment_config, load_params

CURVES_ROOT = Path("curves")


def prepare_run_dir(run_dir: Path, cfg: Config) -> Path:
    """Write config.yaml; a run directory trained with another configuration is emptied first."""
    config_path = run_dir / "config.yaml"
    text = yaml.safe_dump(cfg.to_dict(), sort_keys=True)
    if run_dir.exists() and (not config_path.is_file() or config_path.read_text() != text):
        if any(run_dir.iterdir()):
            print(f"{run_dir}: configuration changed since the last run; starting over", flush=True)
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    config_path.write_text(text)
    return config_path


def write_curve(run_dir: Path, out: Path) -> int:
    """The training log as CSV for ``dvc plots`` (one row per logged step)."""
    rows = [json.loads(line) for line in (run_dir / METRICS_NAME).read_text().splitlines() if line.strip()]
    columns = sorted({k for row in rows for k in row}, key=lambda k: (k != "step", k))
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def run(params: Params, name: str) -> Path:
    from pipeline.launch import launch, load_profile  # submitit is imported only when a stage trains

    cfg = experiment_config(params, name)
    run_dir = RUNS_ROOT / name
    config_path = prepare_run_dir(run_dir, cfg)
    la = params.launcher
    profile = load_profile(la.cluster_profile) if la.kind == "slurm" else None
    os.environ["DIGAN_PROFILE"] = params.profile
    launch(config_path, [], run_dir, launcher=la.kind, profile=profile)
    rows = write_curve(run_dir, CURVES_ROOT / f"{name}.csv")
    print(f"train {name}: {cfg.train.steps} steps done, {rows} logged steps -> {run_dir}", flush=True)
    return run_dir


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pipeline.train", description=__doc__.split("\n")[0])
    p.add_argument("experiment", help="a key of experiments in params.yaml")
    p.add_argument("--params", default="params.yaml")
    args = p.parse_args(argv)
    try:
        params = load_params(args.params)
        if args.experiment not in params.experiments:
            raise ConfigError(f"experiments.{args.experiment}: not in {sorted(params.experiments)}")
    except ConfigError as e:
        print(f"train: invalid params: {e}", file=sys.stderr)
        return 2
    from pipeline.launch import JobFailedError

    try:
        run(params, args.experiment)
    except JobFailedError as e:
        print(f"train {args.experiment}: the training job failed:\n{e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
