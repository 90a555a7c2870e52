"""Launch DIGAN jobs through submitit, on this machine (``local``) or on Slurm (``slurm``): trainings
and, through :func:`run_module_job`, the evaluate stage's evaluations.

    python -m pipeline.launch --launcher slurm --profile local --config C --set k=v --out DIR

The call blocks until the job ends, streams the job's log lines as they are written, and raises
:class:`JobFailedError` with the job's error text if it fails. Each task runs ``python -m digan.train``
(or the evaluation's module) as a child process so that a preemption signal can stop it cleanly (digan
checkpoints on SIGTERM) before submitit requeues the job; the requeued job resumes from
``<out>/checkpoint.pt``.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import submitit

from digan.atomic import atomic_write
from pipeline.cluster_profiles import ProfileError, load_profile

# profile key -> submitit AutoExecutor parameter
_AUTO_NAMES = {"partition": "slurm_partition", "account": "slurm_account", "constraint": "slurm_constraint",
               "qos": "slurm_qos"}
DEFAULT_TIMEOUT_MIN = 24 * 60
# Time-outs after which a run is still requeued: at a 48 h limit, 100 allow over 200 days of wall time per
# run, where submitit's own default of 3 stops a run after about 8 days.
DEFAULT_REQUEUE_LIMIT = 100
INTERRUPTED = 143  # digan.train's exit code after SIGTERM with a checkpoint written
POLL_S = 0.5
PROGRESS_EVERY_S = 10.0  # how often a job's progress bar is echoed
STATE_CHECK_S = 5.0  # how often the scheduler (sacct) is asked, for jobs that end without a result
ERROR_TAIL_LINES = 40
JOB_RECORD = "job.json"  # <out>/job.json: the job last submitted for a run directory
# Slurm states of a job that is still queued or training (squeue/sacct); any other state has ended.
ACTIVE_STATES = frozenset({"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED",
                           "REQUEUE_FED", "REQUEUE_HOLD", "RESIZING", "SIGNALING", "STAGE_OUT"})


def slurm_cluster_answers() -> bool:
    """Whether a Slurm cluster is reachable: both the controller (sinfo) and accounting (sacct, which
    submitit polls) reply."""
    if shutil.which("sinfo") is None:
        return False
    try:
        return all(subprocess.run(cmd, capture_output=True, timeout=30).returncode == 0
                   for cmd in (["sinfo", "-h"], ["sacct", "-n", "-X"]))
    except subprocess.TimeoutExpired:
        return False


class JobFailedError(RuntimeError):
    """The training job failed; the message carries the job's error text."""


def train_argv(cfg_path: Path | None, overrides: list[str], out_dir: Path) -> list[str]:
    argv = ["--config", str(cfg_path)] if cfg_path is not None else []
    for text in overrides:
        argv += ["--set", text]
    return argv + ["--out", str(out_dir)]


class ModuleTask(submitit.helpers.Checkpointable):
    """What each task of a job runs: ``python -m <module> ARGV`` (``digan.train`` for a training, the
    evaluate stage's own module for an evaluation) in the process group of the job."""

    def __init__(self, module: str = "digan.train") -> None:
        self.module = module
        self._proc: subprocess.Popen | None = None

    def __getstate__(self) -> dict:
        return {"module": self.module}  # the child process belongs to one run of the job, not its requeued successor

    def __setstate__(self, state: dict) -> None:
        self.module = state.get("module", "digan.train")
        self._proc = None

    def __call__(self, argv: list[str]) -> None:
        env = {**os.environ, **distributed_env(), "PYTHONUNBUFFERED": "1"}
        preempt = getattr(signal, "SIG" + os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2"))
        # The child ignores the preemption signal (Slurm sends it to every process of the step); it is
        # stopped with SIGTERM instead, on every rank, before submitit checkpoints and requeues.
        self._proc = subprocess.Popen([sys.executable, "-m", self.module, *argv], env=env,
                                      preexec_fn=lambda: signal.signal(preempt, signal.SIG_IGN))
        submitit_handler = signal.getsignal(preempt)
        preempted: list[int] = []

        def on_preempt(signum: int, _frame: Any) -> None:
            # Only signal here: waiting for the child inside a handler would deadlock on Popen's lock.
            preempted.append(signum)
            self._proc.send_signal(signal.SIGTERM)

        signal.signal(preempt, on_preempt)
        rc = self._proc.wait()
        if preempted and callable(submitit_handler):
            submitit_handler(preempted[0], None)  # checkpoint() and requeue (rank 0), then exit
        if rc == INTERRUPTED:
            # SIGTERM from Slurm (requeue, preemption, cancel): the checkpoint is written. Leave without
            # a result so that a requeued job is still awaited, and a cancelled one ends as cancelled.
            print(f"{self.module} interrupted (exit {rc}); checkpoint written", file=sys.stderr, flush=True)
            sys.exit(rc)
        if rc != 0:
            raise RuntimeError(f"python -m {self.module} {' '.join(argv)} exited with code {rc}")

    def _stop_child(self) -> None:
        """SIGTERM the child and wait for what it writes on the way out (a training's checkpoint)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            self._proc.wait()

    def checkpoint(self, *args: Any, **kwargs: Any) -> submitit.helpers.DelayedSubmission:
        self._stop_child()
        return super().checkpoint(*args, **kwargs)


def distributed_env() -> dict[str, str]:
    """RANK/WORLD_SIZE/MASTER_* for a multi-task job: master is the first node, port from the job id."""
    job = submitit.JobEnvironment()
    if job.num_tasks == 1:
        return {}
    job_id = int(os.environ.get("SLURM_JOB_ID", re.sub(r"\D", "", job.job_id) or "0"))
    return {"RANK": str(job.global_rank), "WORLD_SIZE": str(job.num_tasks), "LOCAL_RANK": str(job.local_rank),
            "MASTER_ADDR": job.hostnames[0], "MASTER_PORT": str(20000 + job_id % 20000)}


def make_executor(launcher: str, profile: dict[str, Any] | None, folder: Path,
                  parallelism: int | None = None) -> submitit.Executor:
    """A submitit executor for ``local`` (one task on this machine) or ``slurm`` (the profile's resources).
    ``parallelism`` throttles a Slurm job array (``--array=0-N%parallelism``); local jobs all start at once."""
    profile = dict(profile or {})
    timeout = int(profile.pop("timeout_min", DEFAULT_TIMEOUT_MIN))
    requeues = int(profile.pop("requeue_limit", DEFAULT_REQUEUE_LIMIT))
    if launcher == "local":
        executor = submitit.LocalExecutor(folder, max_num_timeout=requeues)
        executor.update_parameters(timeout_min=timeout)
        return executor
    if launcher == "slurm":
        executor = submitit.AutoExecutor(folder, cluster="slurm", slurm_max_num_timeout=requeues)
        executor.update_parameters(timeout_min=timeout, **{_AUTO_NAMES.get(k, k): v for k, v in profile.items()})
        if parallelism is not None:
            executor.update_parameters(slurm_array_parallelism=parallelism)
        return executor
    raise ValueError(f"unknown launcher {launcher!r}; use 'local' or 'slurm'")


class LogStreamer:
    """Copies new complete lines of a job's submitit logs (every task) to this process's stdout/stderr."""

    def __init__(self, job: submitit.Job) -> None:
        self.job = job
        self.pattern = re.compile(rf"{re.escape(str(job.job_id))}_(\d+)_log\.(out|err)")
        self.offsets: dict[Path, int] = {}
        self.last_progress: dict[Path, float] = {}

    def poll(self, final: bool = False) -> None:
        folder = self.job.paths.folder
        if not folder.is_dir():
            return
        for path in sorted(folder.iterdir()):
            match = self.pattern.fullmatch(path.name)
            if match is None:
                continue
            with path.open("rb") as f:
                f.seek(self.offsets.get(path, 0))
                data = f.read()
            # Progress bars redraw with carriage returns: consume up to the last \r or \n, print whole
            # lines, and of the redraws only the latest, at most every PROGRESS_EVERY_S.
            end = len(data) if final else max(data.rfind(b"\n"), data.rfind(b"\r")) + 1
            self.offsets[path] = self.offsets.get(path, 0) + end
            stream: TextIO = sys.stdout if match.group(2) == "out" else sys.stderr
            prefix = f"[job {self.job.job_id} task {match.group(1)}]"
            text = data[:end].decode(errors="replace")
            *lines, redraw = re.split(r"\n", text)
            for line in lines:
                shown = line.split("\r")[-1] or (line.rstrip("\r").split("\r")[-1])
                if shown:
                    print(f"{prefix} {shown}", file=stream, flush=True)
            latest = redraw.rstrip("\r").split("\r")[-1]
            now = time.monotonic()
            if latest and (final or now - self.last_progress.get(path, 0.0) >= PROGRESS_EVERY_S):
                self.last_progress[path] = now
                print(f"{prefix} {latest}", file=stream, flush=True)

    def error_tail(self) -> str:
        """The end of every task's stderr log: where digan and submitit write the reason of a failure."""
        parts = []
        for path in sorted(self.offsets):
            if path.suffix == ".err":
                lines = path.read_text(errors="replace").splitlines()[-ERROR_TAIL_LINES:]
                parts.append(f"--- {path} (last {len(lines)} lines) ---\n" + "\n".join(lines))
        return "\n".join(parts)


def wait_for(jobs: list[submitit.Job]) -> None:
    """Stream the jobs' logs until all have ended; raise :class:`JobFailedError` naming every failure."""
    streamers = [LogStreamer(job) for job in jobs]
    pending = list(zip(jobs, streamers))
    last_check = time.monotonic()
    while pending:
        force = time.monotonic() - last_check > STATE_CHECK_S
        if force:
            last_check = time.monotonic()
        for streamer in streamers:
            streamer.poll()
        pending = [(j, s) for j, s in pending if not j.done(force_check=force)]
        if pending:
            time.sleep(POLL_S)
    failures = []
    for job, streamer in zip(jobs, streamers):
        streamer.poll(final=True)
        error = job.exception()
        if error is not None:
            failures.append(f"job {job.job_id} failed ({job.state}): {error}\n{streamer.error_tail()}")
    if failures:
        raise JobFailedError("\n\n".join(failures))


def active_job(out_dir: Path) -> submitit.Job | None:
    """The Slurm job recorded in ``out_dir`` while the scheduler still has it queued or running, else None.
    (A local job ends with the process that started it, so only Slurm jobs outlive a killed stage.)"""
    path = out_dir / JOB_RECORD
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    if record.get("launcher") != "slurm":
        return None
    job = submitit.SlurmJob(folder=record["folder"], job_id=record["job_id"], tasks=tuple(range(record["tasks"])))
    return job if job.state.split()[0] in ACTIVE_STATES else None


def _record_job(out_dir: Path, job: submitit.Job, launcher: str, tasks: int) -> None:
    record = {"launcher": launcher, "job_id": str(job.job_id), "folder": str(job.paths.folder), "tasks": tasks}
    with atomic_write(out_dir / JOB_RECORD) as f:
        f.write(json.dumps(record, indent=1).encode())


def launch(cfg_path: Path | None, overrides: list[str], out_dir: Path, *, launcher: str,
           profile: dict | None) -> None:
    """Run one training to completion through submitit (see the module docstring). A Slurm job that an
    earlier, interrupted call submitted for ``out_dir`` and that is still queued or running is followed
    instead of submitting a second job into the same directory."""
    job = active_job(out_dir) if launcher == "slurm" else None
    if job is not None:
        print(f"re-attaching to job {job.job_id} ({job.state}), submitted earlier for {out_dir}", flush=True)
        wait_for([job])
        return
    launch_array(cfg_path, [overrides], [out_dir], launcher=launcher, profile=profile)


def launch_array(cfg_path: Path | None, overrides: list[list[str]], out_dirs: list[Path], *, launcher: str,
                 profile: dict | None, parallelism: int | None = None) -> None:
    """A sweep: one training per override list, submitted together (a Slurm job array)."""
    wait_for(submit_array(cfg_path, overrides, out_dirs, launcher=launcher, profile=profile,
                          parallelism=parallelism))


def submit_array(cfg_path: Path | None, overrides: list[list[str]], out_dirs: list[Path], *, launcher: str,
                 profile: dict | None, parallelism: int | None = None) -> list[submitit.Job]:
    """Submit :func:`launch_array`'s jobs without waiting, for callers that follow the jobs themselves."""
    if len(overrides) != len(out_dirs) or not out_dirs:
        raise ValueError("launch_array needs one output directory per override list")
    for out in out_dirs:
        out.mkdir(parents=True, exist_ok=True)
    executor = make_executor(launcher, profile, out_dirs[0].parent / "submitit" if len(out_dirs) > 1
                             else out_dirs[0] / "submitit", parallelism)
    task = ModuleTask("digan.train")
    with executor.batch():
        jobs = [executor.submit(task, train_argv(cfg_path, o, out)) for o, out in zip(overrides, out_dirs)]
    tasks = int((profile or {}).get("nodes", 1)) * int((profile or {}).get("tasks_per_node", 1))
    for job, out in zip(jobs, out_dirs):
        _record_job(out, job, launcher, tasks if launcher == "slurm" else 1)
        print(f"submitted job {job.job_id} ({launcher}) -> {out}", flush=True)
    return jobs


def run_module_job(module: str, argv: list[str], folder: Path, *, launcher: str, profile: dict | None) -> None:
    """Run ``python -m module ARGV`` as one job of one task (an evaluation), stream its log and wait;
    :class:`JobFailedError` with the job's error text if it fails."""
    folder.mkdir(parents=True, exist_ok=True)
    executor = make_executor(launcher, profile, folder)
    job = executor.submit(ModuleTask(module), argv)
    print(f"submitted job {job.job_id} ({launcher}): python -m {module} {' '.join(argv)}", flush=True)
    wait_for([job])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pipeline.launch", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--launcher", choices=("local", "slurm"), default="local")
    p.add_argument("--profile", default=None, help="cluster profile name (slurm/profiles/) or YAML path")
    p.add_argument("--config", type=Path, default=None)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    try:
        profile = load_profile(args.profile) if args.profile else None
        launch(args.config, args.set, args.out, launcher=args.launcher, profile=profile)
    except (ProfileError, JobFailedError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
