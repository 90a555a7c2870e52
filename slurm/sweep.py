"""Sweeps: many DIGAN trainings from one YAML file, submitted together as one submitit job array.

    python -m slurm.sweep slurm/sweeps/sigma_t_grid.yaml [--launcher local|slurm] [--profile NAME]
        [--parallelism N] [--out DIR] [--dry-run]

A sweep file::

    name: sigma_t_grid                 # MLflow parent run name, tag ``sweep`` on every training's run
    base_config: configs/default.yaml  # the digan config every run starts from, or instead:
    experiment: main                   # an experiment of params.yaml: the exact config the pipeline trains
    params_profile: default            # with experiment: compose conf/ with this profile (default: params.yaml)
    launcher: slurm                    # or local: this machine, every run at once
    cluster_profile: local             # slurm/profiles/<name>.yaml or a path; required for slurm
    parallelism: 2                     # Slurm array throttle (--array=0-N%2); omitted: no throttle
    set: [train.steps=40]              # overrides common to every run: key=value list, or a mapping
    grid:                              # the cartesian product of the values
      generator.sigma_t: [0.1, 0.25]
    runs:                              # and/or explicit runs, each {name, set}
      - {name: no_zm, set: {generator.motion_latent: false}}
    out: runs/sweeps/sigma_t_grid      # default runs/sweeps/<name>

With both ``grid`` and ``runs``, every explicit run is crossed with every grid point. Overrides apply in
the order base config, ``set``, the run's ``set``, the grid's values; the options on the command line
replace the file's. Everything is checked before anything is submitted: the file's keys and values, the
cluster profile and the complete config of every run (``digan.config``). A sweep over ``experiment``
starts from ``pipeline.params.experiment_config``, so a run without overrides is the pipeline's run of
that experiment; the base every run starts from is written to ``<out>/base_config.yaml``.

Outputs under ``out``: one directory per run (``<out>/<run name>``, exactly ``digan.train --out``), the
submitit logs (``<out>/submitit``), ``summary.csv`` and ``summary.md``: one row per run with its status,
overrides, last logged losses, evaluation metrics found in the run directory, job id and run directory,
and the end of a failed run's error log. Exit status: 0 when every run finished, 1 when some did not
(reported once all have ended), 2 when the sweep is invalid (nothing submitted). Running a sweep again
resumes each run from its checkpoint and continues the sweep's MLflow run.
"""
from __future__ import annotations

import argparse
import csv
import io
import itertools
import json
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import submitit
import yaml
from pydantic import AfterValidator, Field

from digan.atomic import atomic_write
from digan.config import Config, ConfigError, config_from_dict
from digan.schema import Schema, parse
from digan.tracking import DEFAULT_EXPERIMENT, RUN_FILE, STATUSES, MlflowTracker, flatten, git_commit
from digan.train import prepare_data
from digan.training.loop import METRICS_NAME
from pipeline.cluster_profiles import ProfileError, load_profile
from pipeline.launch import ERROR_TAIL_LINES, STATE_CHECK_S, submit_array
from pipeline.params import PROFILES

BASE_CONFIG_NAME = "base_config.yaml"  # <out>/base_config.yaml: the config every run of the sweep starts from
LAUNCHERS = ("local", "slurm")
RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._,=+-]*")
UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9._+-]")
SUBMITIT_DIR = "submitit"  # pipeline.launch keeps an array's logs in <out>/submitit: no run may be named so
EVAL_FILES = ("metrics.json", "quality.json")  # evaluation results a run directory may hold
POLL_S = 1.0
PROGRESS_S = 30.0  # how often the step reached by every running run is printed


class SweepError(ValueError):
    """The sweep is invalid; raised before anything is submitted."""


def _name(value: str) -> str:
    if not RUN_NAME.fullmatch(value):
        raise ValueError(f"must match {RUN_NAME.pattern}, got {value!r}")
    return value


Overrides = list[str] | dict[str, Any] | None  # key=value strings, or a mapping of key to value


class RunEntry(Schema):
    name: str
    set: Overrides = None


class SweepFile(Schema):
    """A sweep file as written (module docstring); :func:`load_sweep` checks what relates its keys."""

    name: Annotated[str, AfterValidator(_name)]
    base_config: str | None = None
    experiment: str | None = None
    params_profile: Literal[PROFILES] | None = None
    launcher: Literal[LAUNCHERS] = "slurm"
    cluster_profile: str | None = None
    parallelism: Annotated[int, Field(ge=1)] | None = None  # Slurm array throttle
    set: Overrides = None
    grid: Annotated[dict[str, Annotated[list[Any], Field(min_length=1)]], Field(min_length=1)] | None = None
    runs: Annotated[list[RunEntry], Field(min_length=1)] | None = None
    out: str | None = None


@dataclass(frozen=True)
class Run:
    """One training of a sweep: its own overrides (after the sweep's common ones) and its checked config."""

    name: str
    overrides: tuple[str, ...]
    out_dir: Path
    config: Config


@dataclass(frozen=True)
class Sweep:
    """A checked sweep file, with the command line's replacements applied: nothing left to fail but jobs."""

    name: str
    base: dict[str, Any]  # the config mapping every run starts from
    base_label: str  # where it came from: a config file, or an experiment of a profile
    launcher: str
    profile_name: str | None
    profile: dict[str, Any] | None
    parallelism: int | None
    common: tuple[str, ...]
    runs: tuple[Run, ...]
    out: Path

    def overrides(self, run: Run) -> list[str]:
        return [*self.common, *run.overrides]


@dataclass(frozen=True)
class Outcome:
    """How a run's job ended, with the end of its error log when it did not finish."""

    run: Run
    job_id: str
    status: str  # FINISHED, FAILED or KILLED: MLflow's run statuses
    error: str = ""


# ------------------------------------------------------------------------------------------ the sweep file
def format_value(value: Any) -> str:
    """A value as override text that ``digan.config.parse_override`` reads back unchanged: YAML, since
    JSON spellings such as ``1e-05`` are strings to YAML 1.1."""
    text = yaml.safe_dump(value, default_flow_style=True, width=2**31).strip()
    return text.removesuffix("...").strip()


def override_texts(value: Overrides) -> list[str]:
    """``set`` written as a list of ``key=value`` strings or as a mapping, as ``key=value`` strings."""
    if isinstance(value, Mapping):
        return [f"{key}={format_value(v)}" for key, v in value.items()]
    return list(value or [])


def short_keys(keys: Sequence[str]) -> dict[str, str]:
    """Run names use a key's last part (``sigma_t``), or the whole key where two grid keys share it."""
    last = [key.rsplit(".", 1)[-1] for key in keys]
    return {key: part if last.count(part) == 1 else key for key, part in zip(keys, last)}


def point_name(point: tuple[tuple[str, Any], ...], short: Mapping[str, str]) -> str:
    return ",".join(f"{short[key]}={UNSAFE_IN_NAME.sub('_', format_value(value))}" for key, value in point)


def expand(sweep: SweepFile, where: str) -> list[tuple[str, list[str]]]:
    """(name, overrides) of every run: the explicit runs crossed with the grid's points."""
    if sweep.grid is None and sweep.runs is None:
        raise SweepError(f"{where}: a sweep needs a grid, runs, or both")
    explicit = [(run.name, override_texts(run.set)) for run in sweep.runs] if sweep.runs else [("", [])]
    if sweep.grid is None:
        return explicit
    points = list(itertools.product(*([(key, v) for v in values] for key, values in sweep.grid.items())))
    short = short_keys(list(sweep.grid))
    return [(",".join(filter(None, (name, point_name(point, short)))),
             [*sets, *(f"{key}={format_value(value)}" for key, value in point)])
            for name, sets in explicit for point in points]


def make_run(name: str, overrides: list[str], base: dict[str, Any], common: Sequence[str], out: Path,
             where: str) -> Run:
    """A run whose complete config loads, so that a bad override fails here and not in a job."""
    if not RUN_NAME.fullmatch(name) or name == SUBMITIT_DIR:
        raise SweepError(f"{where}: run name {name!r} must match {RUN_NAME.pattern} and not be {SUBMITIT_DIR!r}")
    try:
        config = config_from_dict(base, [*common, *overrides])
    except ConfigError as e:
        raise SweepError(f"{where}: run {name}: {e}") from e
    return Run(name, tuple(overrides), out / name, config)


def check_unique(runs: Sequence[Run], where: str) -> None:
    repeated = sorted(name for name, n in Counter(run.name for run in runs).items() if n > 1)
    if repeated:
        raise SweepError(f"{where}: run name(s) {repeated} occur more than once; each run needs its own directory")


def synthetic_store(cfg: Config) -> tuple[Path, tuple[int, int, int]] | None:
    """Where and with which parameters a run builds the embedded synthetic dataset, if it does."""
    if not cfg.data.synthetic:
        return None
    d = cfg.data
    return Path(d.path).resolve(), (d.synthetic_seed, d.synthetic_videos_per_class, cfg.generator.resolution)


def check_synthetic_stores(runs: Sequence[Run], where: str) -> None:
    """Runs building the synthetic dataset at one path must build the same one: it is built once before
    submission (:func:`prepare_synthetic_data`), as concurrent jobs would overwrite each other's."""
    first: dict[Path, tuple[str, tuple[int, int, int]]] = {}
    for run in runs:
        store = synthetic_store(run.config)
        if store is None:
            continue
        name, params = first.setdefault(store[0], (run.name, store[1]))
        if params != store[1]:
            raise SweepError(f"{where}: runs {name} and {run.name} build different synthetic datasets at "
                             f"{store[0]}; give them different data.path values")


def load_base(sweep: SweepFile, where: str) -> tuple[dict[str, Any], str]:
    """The config mapping every run starts from, and a label saying where it came from: ``base_config``
    (a digan config file) or ``experiment`` of params.yaml (or of ``params_profile`` composed from conf/)."""
    if (sweep.experiment is None) == (sweep.base_config is None):
        raise SweepError(f"{where}: give exactly one of base_config (a config file) and experiment "
                         "(an experiment of params.yaml)")
    if sweep.base_config is not None:
        if sweep.params_profile is not None:
            raise SweepError(f"{where}: params_profile goes with experiment, not base_config")
        path = Path(sweep.base_config)
        if not path.is_file():
            raise SweepError(f"{where}: base_config: no file {path}")
        loaded = yaml.safe_load(path.read_text()) or {}
        if not isinstance(loaded, dict):
            raise SweepError(f"{where}: base_config {path} is not a mapping")
        return loaded, str(path)
    from pipeline.configs import profile_params
    from pipeline.params import experiment_config, load_params

    name, profile = sweep.experiment, sweep.params_profile
    try:
        params = profile_params(profile) if profile is not None else load_params("params.yaml")
    except ConfigError as e:
        raise SweepError(f"{where}: {e}") from e
    source = f"profile {profile}" if profile is not None else "params.yaml"
    if name not in params.experiments:
        raise SweepError(f"{where}: experiment: no experiment {name!r} in {source} "
                         f"(known: {', '.join(params.experiments)})")
    return experiment_config(params, name).to_dict(), f"experiment {name} of {source}"


def read_sweep_file(path: Path, replacements: Mapping[str, Any]) -> SweepFile:
    """The sweep file with the command line's ``replacements`` (None: keep the file's value), checked."""
    if not path.is_file():
        raise SweepError(f"no sweep file {path}")
    data = yaml.safe_load(path.read_text())
    if isinstance(data, dict):
        data.update({key: value for key, value in replacements.items() if value is not None})
    try:
        return parse(SweepFile, data)
    except ConfigError as e:
        raise SweepError(f"{path}: {e}") from None


def load_sweep(path: Path, *, launcher: str | None = None, profile: str | None = None,
               parallelism: int | None = None, out: Path | None = None) -> Sweep:
    """Read and check a sweep file; the keyword arguments replace the file's values (command line)."""
    where = str(path)
    sweep = read_sweep_file(path, {"launcher": launcher, "cluster_profile": profile, "parallelism": parallelism,
                                   "out": None if out is None else str(out)})
    if sweep.launcher == "slurm" and sweep.cluster_profile is None:
        raise SweepError(f"{where}: the slurm launcher needs a cluster_profile (a name in slurm/profiles/ or a path)")
    profile_data = load_profile(sweep.cluster_profile) if sweep.cluster_profile is not None else None
    base, base_label = load_base(sweep, where)
    common = tuple(override_texts(sweep.set))
    out = Path(sweep.out or Path("runs", "sweeps", sweep.name))
    runs = tuple(make_run(name, overrides, base, common, out, where) for name, overrides in expand(sweep, where))
    check_unique(runs, where)
    check_synthetic_stores(runs, where)
    return Sweep(name=sweep.name, base=base, base_label=base_label, launcher=sweep.launcher,
                 profile_name=sweep.cluster_profile, profile=profile_data, parallelism=sweep.parallelism,
                 common=common, runs=runs, out=out)


def tracking_backend() -> str:
    """``$DIGAN_TRACKING`` as digan.train reads it in every job; checked here so no job fails on it."""
    kind = os.environ.get("DIGAN_TRACKING", "mlflow")
    if kind not in ("mlflow", "none"):
        raise SweepError(f"DIGAN_TRACKING must be mlflow or none, got {kind!r}")
    return kind


# ------------------------------------------------------------------------------------------ running it
def prepare_synthetic_data(runs: Sequence[Run]) -> None:
    """Build each synthetic dataset once here: jobs then find it up to date instead of racing to write it."""
    built: set[Path] = set()
    for run in runs:
        store = synthetic_store(run.config)
        if store is not None and store[0] not in built:
            built.add(store[0])
            prepare_data(run.config)


def job_state(job: submitit.Job) -> str:
    state = job.state
    return "SUBMITTED" if state == "UNKNOWN" else state  # not yet in Slurm's accounting


def error_tail(job: submitit.Job, error: Exception) -> str:
    """The end of the job's error log, where digan and submitit write why it failed; else the exception."""
    text = job.stderr() or ""
    lines = [shown for line in text.splitlines() if (shown := line.split("\r")[-1]).strip()]
    return "\n".join((lines or str(error).splitlines())[-ERROR_TAIL_LINES:])


def outcome(run: Run, job: submitit.Job) -> Outcome:
    """How an ended job went; a cancelled (or locally interrupted) job counts as KILLED."""
    error = job.exception()
    if error is None:
        return Outcome(run, str(job.job_id), "FINISHED")
    status = "KILLED" if job.state.startswith(("CANCELLED", "INTERRUPTED")) else "FAILED"
    return Outcome(run, str(job.job_id), status, error_tail(job, error))


def final_metrics(run_dir: Path) -> dict[str, Any]:
    """The last complete line of the run's metrics log (a line being appended is skipped)."""
    path = run_dir / METRICS_NAME
    lines = [line for line in path.read_text().split("\n")[:-1] if line] if path.exists() else []
    return json.loads(lines[-1]) if lines else {}


class Follower:
    """Follows a sweep's jobs to their end, printing a line whenever a run changes state."""

    def __init__(self, sweep: Sweep, jobs: Sequence[submitit.Job]) -> None:
        self.sweep = sweep
        self.jobs = list(jobs)
        self.outcomes: dict[int, Outcome] = {}
        self.states: dict[int, str] = {}

    def poll(self, force: bool) -> None:
        for i, (run, job) in enumerate(zip(self.sweep.runs, self.jobs)):
            if i not in self.outcomes and job.done(force_check=force):
                self.outcomes[i] = outcome(run, job)
            state = self.outcomes[i].status if i in self.outcomes else job_state(job)
            if self.states.get(i) != state:
                self.states[i] = state
                self.say(f"{run.name} (job {job.job_id}): {state}   [{len(self.outcomes)}/{len(self.jobs)} ended]")

    def print_steps(self) -> None:
        for i, run in enumerate(self.sweep.runs):
            if self.states.get(i) == "RUNNING":
                last = final_metrics(run.out_dir)
                losses = " ".join(f"{k}={v:.3f}" for k, v in last.items() if k.startswith("loss"))
                self.say(f"{run.name}: step {last.get('step', 0)}/{run.config.train.steps} {losses}".rstrip())

    def say(self, text: str) -> None:
        print(f"[sweep {self.sweep.name}] {text}", flush=True)

    def wait(self) -> list[Outcome]:
        """Block until every job has ended; also print each running run's step every PROGRESS_S."""
        last_check = last_progress = time.monotonic()
        while True:
            force = time.monotonic() - last_check > STATE_CHECK_S  # jobs ending without a result need sacct
            if force:
                last_check = time.monotonic()
            self.poll(force)
            if len(self.outcomes) == len(self.jobs):
                return [self.outcomes[i] for i in range(len(self.jobs))]
            if time.monotonic() - last_progress > PROGRESS_S:
                last_progress = time.monotonic()
                self.print_steps()
            time.sleep(POLL_S)


# ------------------------------------------------------------------------------------------ the summary
def eval_metrics(run_dir: Path) -> dict[str, float]:
    """Numbers from evaluation results in the run directory, as ``<file stem>.<dotted key>``."""
    found: dict[str, float] = {}
    for name in EVAL_FILES:
        path = run_dir / name
        if path.is_file():
            flat = flatten(json.loads(path.read_text()))
            found.update({f"{path.stem}.{k}": v for k, v in flat.items()
                          if isinstance(v, (int, float)) and not isinstance(v, bool)})
    return found


def override_values(overrides: Sequence[str]) -> dict[str, str]:
    """``key=value`` texts as ``{key: value}``: one summary column per overridden key."""
    return {key.strip(): value.strip() for key, value in (text.split("=", 1) for text in overrides)}


def summary_table(outcomes: Sequence[Outcome]) -> tuple[list[str], list[dict[str, Any]]]:
    """Columns and rows: name, status and overrides first, then one column per overridden key, logged
    loss and evaluation metric seen in any run (in that order), then job id, run directory and error."""
    parts = [(override_values(o.run.overrides), final_metrics(o.run.out_dir), eval_metrics(o.run.out_dir))
             for o in outcomes]
    middle = dict.fromkeys(key for group in range(3) for part in parts for key in part[group])
    rows = [{"name": o.run.name, "status": o.status, "overrides": " ".join(o.run.overrides), **values,
             **losses, **evaluation, "job_id": o.job_id, "run_dir": str(o.run.out_dir), "error": o.error}
            for o, (values, losses, evaluation) in zip(outcomes, parts)]
    return ["name", "status", "overrides", *middle, "job_id", "run_dir", "error"], rows


def to_csv(columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def md_cell(value: Any) -> str:
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(sweep: Sweep, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> str:
    """A table of every run, then each unfinished run's error tail (too long for a table cell)."""
    shown = [c for c in columns if c != "error"]
    counts = Counter(row["status"] for row in rows)
    lines = [f"# Sweep `{sweep.name}`", "",
             f"- base config: {sweep.base_label}; common overrides: "
             f"{' '.join(f'`{o}`' for o in sweep.common) or 'none'}",
             f"- launcher {sweep.launcher}, cluster profile {sweep.profile_name or 'none'}, "
             f"parallelism {sweep.parallelism or 'unthrottled'}",
             f"- {len(rows)} runs: " + ", ".join(f"{counts[s]} {s}" for s in STATUSES) + "; all values in summary.csv",
             "", "| " + " | ".join(shown) + " |", "|" + "---|" * len(shown)]
    lines += ["| " + " | ".join(md_cell(row.get(c, "")) for c in shown) + " |" for row in rows]
    failed = [row for row in rows if row["status"] != "FINISHED"]
    if failed:
        lines += ["", "## Runs that did not finish"]
        for row in failed:
            lines += ["", f"### {row['name']} (job {row['job_id']}, {row['status']})", "", "```text",
                      row["error"], "```"]
    return "\n".join(lines) + "\n"


def write_text(path: Path, text: str) -> None:
    with atomic_write(path) as f:
        f.write(text.encode())


def write_summary(sweep: Sweep, outcomes: Sequence[Outcome]) -> tuple[Path, Path]:
    """``<out>/summary.csv`` and ``<out>/summary.md``, one row per run in the sweep's order."""
    columns, rows = summary_table(outcomes)
    csv_path, md_path = sweep.out / "summary.csv", sweep.out / "summary.md"
    write_text(csv_path, to_csv(columns, rows))
    write_text(md_path, to_markdown(sweep, columns, rows))
    return csv_path, md_path


# ------------------------------------------------------------------------------------------ MLflow
class SweepTracker(MlflowTracker):
    """The sweep's MLflow parent run (one per sweep output directory, resumed by a re-run); it also files
    each training's own run, created by digan.train in the job, under it."""

    def adopt(self, run_dir: Path, tags: Mapping[str, str]) -> bool:
        """Tag the run recorded in ``run_dir`` as a child; False when it has none in this store."""
        path = run_dir / RUN_FILE
        saved = json.loads(path.read_text()) if path.exists() else {}
        if saved.get("tracking_uri") != self.tracking_uri:
            return False
        for key, value in {**tags, "mlflow.parentRunId": self.run_id}.items():
            self._client.set_tag(saved["run_id"], key, value)
        return True


def start_parent_run(sweep: Sweep) -> SweepTracker:
    tracker = SweepTracker(sweep.out, os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT)
    params = {"base_config": sweep.base_label, "launcher": sweep.launcher, "cluster_profile": sweep.profile_name,
              "parallelism": sweep.parallelism, "runs": len(sweep.runs), "set": " ".join(sweep.common)}
    tracker.start(sweep.name, params, {"sweep": sweep.name, "git_commit": git_commit(),
                                       "out_dir": str(sweep.out.resolve())})
    return tracker


def report_parent_run(tracker: SweepTracker, sweep: Sweep, outcomes: Sequence[Outcome],
                      summary: Sequence[Path]) -> None:
    for result in outcomes:
        tracker.adopt(result.run.out_dir, {"sweep": sweep.name})
    counts = Counter(result.status for result in outcomes)
    tracker.log_metrics(0, {f"runs_{status.lower()}": counts[status] for status in STATUSES})
    for path in summary:
        tracker.log_artifact(path)


def write_base_config(sweep: Sweep) -> Path:
    """<out>/base_config.yaml: what every run's job starts from (its overrides follow on its command line)."""
    path = sweep.out / BASE_CONFIG_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as f:
        f.write(yaml.safe_dump(sweep.base, sort_keys=False).encode())
    return path


def run_sweep(sweep: Sweep, tracking: str) -> list[Outcome]:
    """Submit every run as one job array, follow them to the end and write the summary; with ``tracking``
    ``mlflow``, the sweep is one parent run with the summary as artifacts."""
    prepare_synthetic_data(sweep.runs)
    tracker = start_parent_run(sweep) if tracking == "mlflow" else None
    status = "FAILED"
    try:
        jobs = submit_array(write_base_config(sweep), [sweep.overrides(run) for run in sweep.runs],
                            [run.out_dir for run in sweep.runs], launcher=sweep.launcher, profile=sweep.profile,
                            parallelism=sweep.parallelism)
        outcomes = Follower(sweep, jobs).wait()
        summary = write_summary(sweep, outcomes)
        if tracker is not None:
            report_parent_run(tracker, sweep, outcomes, summary)
        status = "FINISHED" if all(result.status == "FINISHED" for result in outcomes) else "FAILED"
        return outcomes
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        if tracker is not None:
            tracker.finish(status)


# ------------------------------------------------------------------------------------------ command line
def print_plan(sweep: Sweep) -> None:
    where = f"profile {sweep.profile_name}" if sweep.profile_name else "no profile"
    print(f"sweep {sweep.name}: {len(sweep.runs)} run(s), launcher {sweep.launcher} ({where}, parallelism "
          f"{sweep.parallelism or 'unthrottled'}), base config: {sweep.base_label}, out {sweep.out}")
    if sweep.common:
        print(f"  common overrides: {' '.join(sweep.common)}")
    for run in sweep.runs:
        print(f"  {run.name}: {' '.join(run.overrides) or '(no overrides)'} -> {run.out_dir}")
    if sweep.launcher == "local" and sweep.parallelism is not None and sweep.parallelism < len(sweep.runs):
        print(f"  note: the local launcher starts all {len(sweep.runs)} runs at once; parallelism throttles "
              "Slurm arrays only")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m slurm.sweep", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sweep", type=Path, help="sweep YAML file (slurm/sweeps/)")
    p.add_argument("--launcher", choices=LAUNCHERS, default=None, help="replaces the file's launcher")
    p.add_argument("--profile", default=None, help="replaces cluster_profile: a slurm/profiles/ name or a path")
    p.add_argument("--parallelism", type=int, default=None, help="replaces parallelism (Slurm array throttle)")
    p.add_argument("--out", type=Path, default=None, help="replaces out")
    p.add_argument("--dry-run", action="store_true", help="check the sweep and list its runs; submit nothing")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        sweep = load_sweep(args.sweep, launcher=args.launcher, profile=args.profile, parallelism=args.parallelism,
                           out=args.out)
        tracking = tracking_backend()
    except (SweepError, ProfileError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print_plan(sweep)
    if args.dry_run:
        return 0
    try:
        outcomes = run_sweep(sweep, tracking)
    except ConfigError as e:  # the synthetic dataset could not be prepared: still nothing submitted
        print(f"error: {e}", file=sys.stderr)
        return 2
    print((sweep.out / "summary.md").read_text(), end="")
    failed = [result.run.name for result in outcomes if result.status != "FINISHED"]
    if failed:
        print(f"error: {len(failed)} of {len(outcomes)} run(s) did not finish: {', '.join(failed)} "
              f"(error logs in {sweep.out / 'summary.md'})", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
