"""Submission-to-start overhead of a submitit job on Slurm: what every training or sweep run pays
before its first line of Python runs.

    python bench/slurm_overhead.py [--jobs 5] [--profile local] [--folder runs/bench/slurm_overhead]

Submits N trivial jobs through the executor ``pipeline.launch`` uses, one after another (each waits for
the previous, so that queueing behind a busy node is not counted), and prints per job and as
median / max:

- ``first line``: wall time from just before ``executor.submit`` to the job function's first line, read
  from one clock (exact on the single-node test cluster; on a real cluster, off by the nodes' clock skew);
- ``sbatch``: the submit call itself (pickling, writing the script, ``sbatch``);
- ``sacct queue``: Slurm's own Submit -> Start, from timestamps in whole seconds (so +-1 s);
- ``start -> first line``: the rest, from Slurm's start to Python (srun, interpreter, submitit,
  unpickling), with the same +-1 s from Slurm's start time.

Without a Slurm cluster that answers ``sinfo`` and ``sacct`` it says so and exits 0.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import submitit

from pipeline.cluster_profiles import load_profile
from pipeline.launch import make_executor, slurm_cluster_answers


def first_line() -> float:
    """The job: its first line reports the time, so everything before it counts as overhead."""
    return time.time()


def sacct_times(job_id: str) -> tuple[float, float] | None:
    """Slurm's Submit and Start of a job as Unix times, once it has ended and left the node."""
    out = subprocess.run(["sacct", "-n", "-X", "-P", "-j", job_id, "-o", "Submit,Start,End"],
                         capture_output=True, text=True).stdout.split()
    if not out or "Unknown" in out[0]:
        return None
    submit, start, _ = out[0].split("|")
    return datetime.fromisoformat(submit).timestamp(), datetime.fromisoformat(start).timestamp()


def measure(executor: submitit.Executor, job_index: int) -> dict[str, float]:
    """Submit one trivial job, wait until it has left the node, and return its overheads in seconds."""
    t_submit = time.time()
    job = executor.submit(first_line)
    t_submitted = time.time()
    t_first = job.result()
    deadline = time.time() + 60
    # The result is written before the job ends: the next job would otherwise queue behind this one.
    while (times := sacct_times(str(job.job_id))) is None and time.time() < deadline:
        time.sleep(0.2)
    result = {"first line": t_first - t_submit, "sbatch": t_submitted - t_submit}
    if times is not None:
        result.update({"sacct queue": times[1] - times[0], "start -> first line": t_first - times[1]})
    shown = "  ".join(f"{k} {v:6.2f}s" for k, v in result.items())
    print(f"job {job_index + 1} ({job.job_id}): {shown}", flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--jobs", type=int, default=5)
    p.add_argument("--profile", default="local", help="cluster profile name (slurm/profiles/) or YAML path")
    p.add_argument("--folder", type=Path, default=Path("runs/bench/slurm_overhead"),
                   help="submitit logs; must be on a filesystem the nodes share")
    args = p.parse_args(argv)
    if not slurm_cluster_answers():
        print("no Slurm cluster answers sinfo/sacct: nothing measured "
              "(start the test cluster with: bash slurm/local-cluster/start.sh)")
        return 0
    profile = {**load_profile(args.profile), "timeout_min": 5}
    executor = make_executor("slurm", profile, args.folder)
    print(f"{args.jobs} trivial jobs, one at a time, profile {args.profile}")
    results = [measure(executor, i) for i in range(args.jobs)]
    for key in dict.fromkeys(k for r in results for k in r):
        values = [r[key] for r in results if key in r]
        print(f"{key:>20}: median {statistics.median(values):6.2f}s  max {max(values):6.2f}s  (n={len(values)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
