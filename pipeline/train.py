"""Stage train@<experiment>: one DIGAN training run → runs/<experiment>/ and curves/<experiment>.csv.

The experiment's configuration (the profile's ``model`` + the experiment's σt and overrides, validated by
pipeline.params) is written to ``runs/<experiment>/config.yaml`` and trained through submitit, on this
machine or on Slurm (``launcher``). The stage blocks, streams the job's log and fails with the job's error.
``runs/<experiment>/`` persists between DVC runs so an interrupted stage resumes from its checkpoint,
also when only resumable settings changed (steps, log_every, …); after any other configuration change, or
when the training code or clips differ from those the run was trained with (``inputs.json``), the old run
is moved aside to ``runs/<experiment>.replaced-<time>/``, never deleted. An experiment with
``pretrained`` is not trained: its released checkpoint is checksummed and imported into
``runs/<experiment>/checkpoint.pt`` for the evaluate stage.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

import yaml

from digan.atomic import atomic_write
from digan.config import Config, ConfigError
from digan.data.clip_store import ClipStore
from digan.data.sources import load_sources, require_available
from digan.generate import load_generator
from digan.training.checkpoint import load_checkpoint, save_atomic
from digan.training.loop import CHECKPOINT_NAME, METRICS_NAME, RESUMABLE_CHANGES
from pipeline.closure import fingerprint, import_closure
from pipeline.cluster_profiles import load_profile
from pipeline.params import RUNS_ROOT, Params, Pretrained, experiment_config, load_params

CURVES_ROOT = Path("curves")
PRETRAINED_MARKER = "pretrained.json"  # which released checkpoint runs/<experiment>/ holds


def _changed_keys(saved: dict, cfg: Config) -> list[str]:
    """Dotted keys whose values differ, leaving out those a checkpoint resumes across (RESUMABLE_CHANGES)."""
    mine = cfg.to_dict()
    keys = {f"{section}.{key}" for part in (saved, mine) for section, values in part.items() for key in values}
    return sorted(k for k in keys if not (k.startswith("train.") and k[6:] in RESUMABLE_CHANGES)
                  and _get(saved, k) != _get(mine, k))


def _get(data: dict, dotted: str) -> object:
    section, key = dotted.split(".", 1)
    value = data.get(section, {}).get(key)
    return list(value) if isinstance(value, tuple) else value


INPUTS_NAME = "inputs.json"  # fingerprints of the code and clips a run was trained with
INPUT_NAMES = {"code": "training code", "data": "training clips"}


def training_inputs(cfg: Config) -> dict[str, str]:
    """Fingerprints of what a run's weights depend on besides its config: the training code (the import
    closure of ``digan.train``) and the training clips (every file of the clip store, once per stage run:
    1 GiB hashed in 0.88 s from the page cache on the 2-core machine, so a 10 GB paper store adds seconds
    plus its read time)."""
    data = Path(cfg.data.path)
    files = sorted(p for p in data.rglob("*") if p.is_file()) if data.is_dir() else []
    root = data
    meta = data / "meta.json"
    base = ClipStore(data).base if meta.is_file() and "base" in json.loads(meta.read_text()) else None
    if base is not None:  # an index store: its clips are its base store's
        files = [p.resolve() for p in [*files, *base.data_files]]
        root = Path(os.path.commonpath(files))
    return {"code": fingerprint(import_closure("digan.train")),
            "data": fingerprint(files, root) if files else "none"}


def config_text(cfg: Config) -> str:
    """What a run directory's config.yaml holds for ``cfg``."""
    return yaml.safe_dump(cfg.to_dict(), sort_keys=True)


def refuse_if_training_another_config(run_dir: Path, cfg: Config, inputs: dict[str, str]) -> None:
    """A run directory whose Slurm job is still queued or running is neither moved aside nor given a second
    job: the stage re-attaches to that job when config and inputs are unchanged, and otherwise stops here."""
    from pipeline.launch import active_job  # submitit is imported only when a stage trains

    job = active_job(run_dir)
    if job is None:
        return
    config_path, inputs_path = run_dir / "config.yaml", run_dir / INPUTS_NAME
    same = (config_path.is_file() and config_path.read_text() == config_text(cfg)
            and inputs_path.is_file() and json.loads(inputs_path.read_text()) == inputs)
    if not same:
        raise ValueError(f"{run_dir}: job {job.job_id} is still training it with another configuration, code or "
                         f"clips; wait for it to end or cancel it (scancel {job.job_id}), then run the stage again")


def prepare_run_dir(run_dir: Path, cfg: Config, inputs: dict[str, str] | None = None) -> Path:
    """Write config.yaml (and inputs.json). A run with the same configuration, or one that differs only
    in keys a checkpoint resumes across (steps, log_every, …), is resumed, unless it was trained with
    other code or clips (``inputs``); any other run is moved aside to ``<run_dir>.replaced-<time>``,
    never deleted."""
    config_path, inputs_path = run_dir / "config.yaml", run_dir / INPUTS_NAME
    text = config_text(cfg)
    if run_dir.exists() and any(run_dir.iterdir()):
        why = None
        if not config_path.is_file():
            why = "it holds a run without config.yaml"
        elif config_path.read_text() != text:
            changed = _changed_keys(yaml.safe_load(config_path.read_text()) or {}, cfg)
            if changed:
                why = f"configuration changed ({', '.join(changed[:5])})"
        if why is None and inputs is not None and inputs_path.is_file():
            saved = json.loads(inputs_path.read_text())
            changed = [k for k in inputs if saved.get(k) != inputs[k]]
            if changed:
                why = f"trained with other {' and '.join(INPUT_NAMES[k] for k in changed)}"
        if why is not None:
            move_aside(run_dir, why)
        elif config_path.read_text() != text:
            print(f"{run_dir}: only resumable settings changed; resuming", flush=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    config_path.write_text(text)
    if inputs is not None:
        with atomic_write(inputs_path) as f:
            f.write(json.dumps(inputs, indent=1, sort_keys=True).encode())
    return config_path



def trained_steps(run_dir: Path) -> int | None:
    """The step of the run directory's checkpoint (None without one): a finished run needs no job, e.g. when
    the stage re-runs after its DVC process was killed while the job ended."""
    checkpoint = run_dir / CHECKPOINT_NAME
    return int(load_checkpoint(checkpoint)["step"]) if checkpoint.is_file() else None


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


def move_aside(run_dir: Path, why: str) -> None:
    """Keep an existing run under a new name instead of deleting it."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    kept = run_dir.with_name(f"{run_dir.name}.replaced-{stamp}")
    n = 1
    while kept.exists():
        n += 1
        kept = run_dir.with_name(f"{run_dir.name}.replaced-{stamp}-{n}")
    run_dir.rename(kept)
    print(f"{run_dir}: {why}; the old run is kept at {kept}", flush=True)


def import_pretrained(pre: Pretrained, name: str, run_dir: Path) -> Path:
    """runs/<name>/checkpoint.pt from a released checkpoint: checksummed, imported (an official
    snapshot through digan.official's restricted unpickler) or verified (ours), written atomically."""
    from digan.download import sha256_file

    source = Path(pre.path)
    if not source.is_file():
        raise FileNotFoundError(f"experiments.{name}.pretrained.path: no file at {source}. Download the released "
                                "checkpoint (the official README links them) and put it there.")
    digest = sha256_file(source)
    if pre.sha256 and digest != pre.sha256:
        raise ValueError(f"experiments.{name}.pretrained: {source} has sha256 {digest}, expected {pre.sha256}")
    if not pre.sha256:
        print(f"train {name}: {source} has sha256 {digest}; pin it as experiments.{name}.pretrained.sha256",
              flush=True)
    marker = run_dir / PRETRAINED_MARKER
    wanted = json.dumps({"path": str(source), "sha256": digest}, sort_keys=True)
    if run_dir.exists() and not (marker.is_file() and marker.read_text() == wanted):
        move_aside(run_dir, "it does not hold this pretrained checkpoint")
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = run_dir / CHECKPOINT_NAME
    if not checkpoint.is_file():
        if source.suffix == ".pkl":
            from digan.official import import_snapshot

            import_snapshot(source, checkpoint)
        else:
            state = load_checkpoint(source)  # weights only: runs no code
            load_generator(source)  # refuses a checkpoint whose generator does not match its config
            save_atomic({**state, "source": {"checkpoint": source.name, "sha256": digest}}, checkpoint)
    with atomic_write(marker) as f:
        f.write(wanted.encode())
    return checkpoint


def write_curve_header(out: Path) -> None:
    """An empty training curve (a pretrained experiment has no training log)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("step\n")


def run(params: Params, name: str) -> Path:
    from pipeline.launch import active_job, launch  # submitit is imported only when a stage trains

    exp = params.experiments[name]
    if exp.pretrained is not None:
        run_dir = RUNS_ROOT / name
        checkpoint = import_pretrained(exp.pretrained, name, run_dir)
        write_curve_header(CURVES_ROOT / f"{name}.csv")
        print(f"train {name}: not trained; evaluates the pretrained {exp.pretrained.path} -> {checkpoint}", flush=True)
        return run_dir
    # Every dataset of the profile, so a missing one is reported before the first job, not after days of another's.
    require_available(load_sources({"datasets": params.datasets}), params.download)
    cfg = experiment_config(params, name)
    run_dir = RUNS_ROOT / name
    inputs = training_inputs(cfg)
    la = params.launcher
    if la.kind == "slurm":
        refuse_if_training_another_config(run_dir, cfg, inputs)
    config_path = prepare_run_dir(run_dir, cfg, inputs)
    profile = load_profile(la.cluster_profile) if la.kind == "slurm" else None
    os.environ["DIGAN_PROFILE"] = params.profile
    done = trained_steps(run_dir)
    if done is not None and done >= cfg.train.steps and (la.kind != "slurm" or active_job(run_dir) is None):
        print(f"train {name}: {run_dir} is trained to step {done} of {cfg.train.steps}; no job needed", flush=True)
    else:
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
    except (FileNotFoundError, ValueError) as e:
        print(f"train {args.experiment}: error: {e}", file=sys.stderr)
        return 2
    except JobFailedError as e:
        print(f"train {args.experiment}: the training job failed:\n{e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
