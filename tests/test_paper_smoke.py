"""The paper profile end to end at smoke scale (issue 13, item 7): ``dvc exp run -S profile=paper_smoke`` in a
fresh copy, on fixture copies of the four datasets in their published layouts (UCF101.rar and the Kinetics
archives over HTTP, TaiChi and Sky as local folders), the real I3D, C3D files of the published layout from a
local server, 2-task DDP training and evaluation as jobs on the local Slurm cluster, every analysis and the
report. The DVC process is killed while the first training job runs: the re-run follows that job instead of
submitting a second. Then a no-op repro, and a changed ``train.log_every`` resumes the run, deleting nothing."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.results import ANALYSIS_FILES
from tests.helpers import fresh_copy, run_dvc
from tests.http_server import FileServer
from tests.test_slurm import slurm  # noqa: F401  (the cluster fixture)

pytestmark = pytest.mark.paper_smoke
PORT = 8765  # conf/profile/paper_smoke.yaml's URLs
FIRST = "ucf101_all"  # the first train stage DVC runs


def _env() -> dict[str, str]:
    env = {**os.environ, "DIGAN_TRACKING": "none", "PYTHONUNBUFFERED": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def _kill_while_training(project: Path) -> str:
    """Start the experiment, wait until the first training job runs, then kill DVC and its stage process."""
    proc = subprocess.Popen(["dvc", "exp", "run", "-S", "profile=paper_smoke"], cwd=project, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    job, lines = None, []
    deadline = time.monotonic() + 1800
    for line in proc.stdout:
        lines.append(line)
        match = re.search(rf"submitted job (\d+) \(slurm\) -> runs/{FIRST}$", line.strip())
        job = match.group(1) if match else job
        if job and f"[job {job} task 0]" in line and "starting at step" in line:
            break
        assert time.monotonic() < deadline and proc.poll() is None, "".join(lines[-50:])
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert job is not None, "".join(lines[-50:])
    return job


def test_paper_smoke_runs_every_stage_survives_a_killed_dvc_and_resumes(slurm, tmp_path):  # noqa: F811
    start = time.monotonic()
    project = fresh_copy(tmp_path / "project")
    fixtures = project / "data" / "fixtures"
    subprocess.run([sys.executable, "-m", "tests.fixtures.real_layouts", "--out", str(fixtures), "--frames", "64",
                    "--videos-per-class", "2"],
                   cwd=project, check=True, env={**_env(), "PYTHONPATH": str(project)})
    server = FileServer(fixtures, port=PORT)
    try:
        job = _kill_while_training(project)
        state = subprocess.run(["squeue", "-h", "-j", job, "-o", "%T"], capture_output=True, text=True).stdout
        assert state.strip() in ("PENDING", "RUNNING", "COMPLETING", ""), state

        out = run_dvc(["exp", "run", "-S", "profile=paper_smoke"], project, timeout=3600)
        # The job still running is followed; one that ended meanwhile left a finished run that needs no job.
        mine = "".join(line for line in out.splitlines(keepends=True) if FIRST in line)
        assert f"re-attaching to job {job}" in out or f"runs/{FIRST} is trained to step" in out, mine[-3000:]
        submitted = sorted((project / "runs" / FIRST / "submitit").glob("*_submitted.pkl"))
        assert [p.name.split("_")[0] for p in submitted] == [job]  # one job, not two
        served = {r.path for r in server.requests}
        assert "/ucf101/UCF101.rar" in served and "/c3d/conv3d_deepnetA_ucf.npz" in served
    finally:
        server.stop()
    wall = time.monotonic() - start

    params = __import__("yaml").safe_load((project / "params.yaml").read_text())
    assert params["profile"] == "paper_smoke" and len(params["experiments"]) == 14
    for name, exp in params["experiments"].items():
        for analysis in exp.get("analyses", ["quality"]):
            for stem in ANALYSIS_FILES[analysis]:
                data = json.loads((project / "metrics" / name / f"{stem}.json").read_text())
                assert data["profile"] == "paper_smoke", (name, stem)
    speed = json.loads((project / "metrics" / FIRST / "speed.json").read_text())
    assert speed["device"].startswith("cpu (")
    for table in range(1, 9):
        assert (project / "reports" / "tables" / f"table{table}.md").is_file()
    print(f"paper_smoke: dvc exp run (killed and re-run) in {wall / 60:.1f} min")

    noop = run_dvc(["repro"], project)
    assert "didn't change, skipping" in noop and "Running stage" not in noop

    runs_before = sorted(p.name for p in (project / "runs").iterdir())
    out = run_dvc(["exp", "run", "-S", "profile=paper_smoke", "-S", "model.train.log_every=2", f"train@{FIRST}"],
                  project)
    assert "only resumable settings changed; resuming" in out, out[-3000:]
    assert sorted(p.name for p in (project / "runs").iterdir()) == runs_before  # nothing moved aside or deleted
