"""Experiment tracking behind one small interface, so MLflow is imported in this module only.

Training talks to a :class:`Tracker`; :func:`make_tracker` returns an :class:`MlflowTracker` or a
:class:`NullTracker`. MLflow is imported lazily inside :class:`MlflowTracker` because importing it
takes seconds and pulls in heavy dependencies that ``import digan`` should not touch.

The default store is ``sqlite:///<cwd>/mlflow.db`` (git-ignored); ``MLFLOW_TRACKING_URI`` points it
at a server instead, ``MLFLOW_EXPERIMENT_NAME`` picks the experiment (default ``digan``). A run's
id is kept in ``<out>/mlflow_run.json`` so that resuming an output directory continues its run.
"""
from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from digan.atomic import atomic_write

DEFAULT_EXPERIMENT = "digan"
RUN_FILE = "mlflow_run.json"
# Set by DVC 3.x (dvc/stage/run.py, from dvc/repo/experiments/queue/base.py) in the environment of
# stage commands run by ``dvc exp run``; empty for plain ``dvc repro`` or direct runs.
DVC_EXP_ENV = "DVC_EXP_NAME"
STATUSES = ("FINISHED", "FAILED", "KILLED")


class Tracker(Protocol):
    def start(self, run_name: str, params: Mapping[str, Any], tags: Mapping[str, str]) -> None: ...
    def log_metrics(self, step: int, metrics: Mapping[str, float]) -> None: ...
    def log_artifact(self, path: str | os.PathLike[str], subdir: str | None = None) -> None: ...
    def log_json(self, obj: Any, name: str) -> None: ...
    def set_tags(self, tags: Mapping[str, str]) -> None: ...
    def finish(self, status: str) -> None: ...


class NullTracker:
    """Tracking disabled: every call does nothing."""

    def start(self, run_name: str, params: Mapping[str, Any], tags: Mapping[str, str]) -> None:
        pass

    def log_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        pass

    def log_artifact(self, path: str | os.PathLike[str], subdir: str | None = None) -> None:
        pass

    def log_json(self, obj: Any, name: str) -> None:
        pass

    def set_tags(self, tags: Mapping[str, str]) -> None:
        pass

    def finish(self, status: str) -> None:
        pass


def default_tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` if set, else a sqlite file in the working directory (absolute, so
    the store does not move when a library changes directory)."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path.cwd().resolve() / 'mlflow.db'}"


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts to dotted keys, e.g. ``{"generator": {"sigma_t": 1}}`` -> ``generator.sigma_t``."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def git_commit() -> str:
    """The commit of the checkout holding this code, or ``unknown`` outside git."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"


def run_tags(profile: str, out_dir: str | os.PathLike[str],
             checkpoint: str | os.PathLike[str]) -> dict[str, str]:
    """The provenance tags of a training run (DESIGN §7)."""
    commit = git_commit()
    return {"git_commit": commit, "mlflow.source.git.commit": commit,
            "dvc_experiment": os.environ.get(DVC_EXP_ENV, ""), "profile": profile,
            "out_dir": str(Path(out_dir).resolve()), "checkpoint": str(Path(checkpoint).resolve())}


@contextmanager
def _sqlite_init_lock(uri: str) -> Iterator[None]:
    """Serialise first contact with a sqlite store: MLflow creates and migrates its tables then, and
    two processes doing so at once (parallel test runs, concurrent jobs) fail. The lock is a flock
    on the database file itself, independent of sqlite's own fcntl locks, so no extra file appears."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    path = Path(uri.removeprefix("sqlite:///"))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class MlflowTracker:
    """One MLflow run per output directory, resumed across restarts via ``<out>/mlflow_run.json``."""

    def __init__(self, out_dir: str | os.PathLike[str], experiment: str = DEFAULT_EXPERIMENT,
                 tracking_uri: str | None = None) -> None:
        self.run_file = Path(out_dir) / RUN_FILE
        self.experiment = experiment
        self.tracking_uri = tracking_uri or default_tracking_uri()
        self.run_id: str | None = None

    def start(self, run_name: str, params: Mapping[str, Any], tags: Mapping[str, str]) -> None:
        from mlflow.tracking import MlflowClient

        with _sqlite_init_lock(self.tracking_uri):
            self._client = MlflowClient(tracking_uri=self.tracking_uri)  # opens (creates) the store
            run = self._previous_run()
            experiment_id = self._experiment_id() if run is None else ""
        if run is None:
            run = self._client.create_run(experiment_id, run_name=run_name, tags=dict(tags))
            self.run_id = run.info.run_id
            logged: Mapping[str, str] = {}
        else:
            self.run_id = run.info.run_id
            self._client.update_run(self.run_id, status="RUNNING")
            self.set_tags(tags)
            logged = run.data.params
        self._write_run_file()
        self._log_params(params, logged)

    def _previous_run(self) -> Any:
        """The run recorded in the output directory, if it lives in this store and still exists."""
        from mlflow.exceptions import MlflowException

        if not self.run_file.exists():
            return None
        saved = json.loads(self.run_file.read_text())
        if saved.get("tracking_uri") != self.tracking_uri:
            return None
        try:
            run = self._client.get_run(saved["run_id"])
        except MlflowException:
            return None
        return run if run.info.lifecycle_stage == "active" else None

    def _experiment_id(self) -> str:
        """Get or create the experiment; a concurrent creator winning the race is fine."""
        from mlflow.exceptions import MlflowException

        found = self._client.get_experiment_by_name(self.experiment)
        if found is not None:
            return found.experiment_id
        try:
            return self._client.create_experiment(self.experiment)
        except MlflowException:
            found = self._client.get_experiment_by_name(self.experiment)
            if found is None:
                raise
            return found.experiment_id

    def _write_run_file(self) -> None:
        data = {"run_id": self.run_id, "tracking_uri": self.tracking_uri, "experiment": self.experiment}
        with atomic_write(self.run_file) as f:
            f.write(json.dumps(data, indent=2).encode() + b"\n")

    def _log_params(self, params: Mapping[str, Any], logged: Mapping[str, str]) -> None:
        """MLflow params are immutable: on resume, log only new keys and record changed values as
        ``resumed.<key>`` tags (e.g. a raised ``train.steps``) instead of failing."""
        from mlflow.entities import Param

        new = [Param(k, str(v)) for k, v in params.items() if k not in logged]
        changed = {f"resumed.{k}": str(v) for k, v in params.items() if k in logged and logged[k] != str(v)}
        for i in range(0, len(new), 100):  # MLflow's per-request limit on params
            self._client.log_batch(self.run_id, params=new[i:i + 100])
        if changed:
            self.set_tags(changed)

    def log_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, step) for k, v in metrics.items()]
        self._client.log_batch(self.run_id, metrics=batch)

    def log_artifact(self, path: str | os.PathLike[str], subdir: str | None = None) -> None:
        self._client.log_artifact(self.run_id, str(path), artifact_path=subdir)

    def log_json(self, obj: Any, name: str) -> None:
        self._client.log_dict(self.run_id, obj, name)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        from mlflow.entities import RunTag

        self._client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def finish(self, status: str) -> None:
        if status not in STATUSES:
            raise ValueError(f"run status must be one of {STATUSES}, got {status!r}")
        self._client.set_terminated(self.run_id, status=status)


def default_tracking() -> str:
    """$DIGAN_TRACKING, else ``mlflow`` where it is installed (the pipeline extra) and ``none`` where the
    library was installed alone."""
    return os.environ.get("DIGAN_TRACKING") or ("mlflow" if importlib.util.find_spec("mlflow") else "none")


def make_tracker(kind: str, out_dir: str | os.PathLike[str]) -> Tracker:
    """``mlflow`` or ``none``; the experiment name comes from ``MLFLOW_EXPERIMENT_NAME``."""
    if kind == "none":
        return NullTracker()
    if kind == "mlflow":
        return MlflowTracker(out_dir, os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT)
    raise ValueError(f"unknown tracking backend {kind!r} (expected mlflow or none)")
