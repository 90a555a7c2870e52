"""Training launched through submitit: locally, and on a real Slurm cluster
(``bash slurm/local-cluster/start.sh``). Cluster tests skip without ``sinfo``, unless
DIGAN_REQUIRE_SLURM=1, where a missing cluster is a failure (CI starts one)."""
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from pipeline.cluster_profiles import ProfileError, load_profile
from submitit.core.utils import DelayedSubmission

from digan.config import config_from_dict
from pipeline.launch import (DEFAULT_REQUEUE_LIMIT, JobFailedError, active_job, launch, launch_array, main,
                             make_executor, slurm_cluster_answers)
from pipeline.train import prepare_run_dir, refuse_if_training_another_config, training_inputs
from tests.helpers import REPO, assert_same_parameters, load_state, run_train, tiny_config, write_config
from tests.test_resume import assert_bit_identical

STEPS = 16  # as in tests/test_resume.py, whose bit-identity check is reused


@pytest.fixture(scope="module")
def slurm() -> dict:
    """The local-cluster profile, once a Slurm cluster answers."""
    if not slurm_cluster_answers():
        message = "no Slurm cluster answers sinfo/sacct (start one: bash slurm/local-cluster/start.sh)"
        if os.environ.get("DIGAN_REQUIRE_SLURM") == "1":
            pytest.fail(message + "; DIGAN_REQUIRE_SLURM=1 requires it")
        pytest.skip(message)
    return load_profile("local")


@pytest.fixture
def config(tmp_path) -> Path:
    return write_config(tmp_path, tiny_config(tmp_path / "data" / "clips"))


def test_local_launcher_trains(config, tmp_path):
    launch(config, [], tmp_path / "run", launcher="local", profile=None)
    assert load_state(tmp_path / "run")["step"] == 6


def test_missing_or_malformed_profile_fails_before_submission(tmp_path, capsys):
    with pytest.raises(ProfileError, match="no cluster profile 'nope'.*local"):
        load_profile("nope")
    bad = tmp_path / "bad.yaml"
    bad.write_text("partition: debug\ngpus: 8\n")
    with pytest.raises(ProfileError, match=r"unknown key gpus \(known: partition"):
        load_profile(bad)
    bad.write_text("partition: debug\ntimeout_min: 2d\n")
    with pytest.raises(ProfileError, match=r"bad.yaml: timeout_min: expected an integer, got '2d'"):
        load_profile(bad)
    assert main(["--launcher", "slurm", "--profile", "nope", "--out", str(tmp_path / "run")]) == 1
    assert "no cluster profile" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_slurm_job_trains_and_checkpoints(slurm, config, tmp_path, capsys):
    launch(config, [], tmp_path / "run", launcher="slurm", profile={**slurm, "requeue_limit": 5})
    assert load_state(tmp_path / "run")["step"] == 6
    assert re.search(r"\[job \d+ task 0\] starting at step 0/6", capsys.readouterr().out)
    submitted = DelayedSubmission.load(next((tmp_path / "run" / "submitit").glob("*_submitted.pkl")))
    assert submitted._timeout_countdown == 5  # the profile's requeue limit reached the job


def test_requeue_limit_defaults_high_enough_for_the_paper_runs(tmp_path):
    """submitit's own default (3 time-outs) would end a 48 h-limit run after about 8 days."""
    assert make_executor("slurm", {"timeout_min": 2880}, tmp_path)._executor.max_num_timeout == DEFAULT_REQUEUE_LIMIT
    assert make_executor("local", None, tmp_path).max_num_timeout == DEFAULT_REQUEUE_LIMIT >= 100
    assert make_executor("slurm", load_profile("example-gpu"), tmp_path)._executor.max_num_timeout == 100


def test_slurm_two_task_ddp_matches_single_process(slurm, tmp_path):
    config = write_config(tmp_path, tiny_config(tmp_path / "data" / "clips", steps=5))
    run_train(config, tmp_path / "single")
    launch(config, [], tmp_path / "ddp", launcher="slurm", profile={**slurm, "tasks_per_node": 2})
    single, ddp = load_state(tmp_path / "single"), load_state(tmp_path / "ddp")
    assert single["step"] == ddp["step"] == 5
    assert_same_parameters(single, ddp)
    assert "2 process(es)" in "".join(p.read_text() for p in (tmp_path / "ddp" / "submitit").glob("*_0_log.out"))


def test_slurm_job_array_runs_every_override(slurm, config, tmp_path):
    steps = (2, 3, 4)
    # each job builds its own synthetic data: concurrent jobs must not write one directory
    overrides = [[f"train.steps={s}", f"data.path={tmp_path / f'data{s}' / 'clips'}"] for s in steps]
    outs = [tmp_path / "sweep" / f"steps{s}" for s in steps]
    launch_array(config, overrides, outs, launcher="slurm", profile=slurm)
    assert [load_state(out)["step"] for out in outs] == list(steps)


def _wait(predicate, what: str, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _squeue(job_id: str, fmt: str) -> str:
    return subprocess.run(["squeue", "-h", "-j", job_id, "-o", fmt], capture_output=True, text=True).stdout.strip()


# scontrol requeue: Slurm SIGTERMs the job (digan checkpoints) and requeues it. USR2: the signal submitit asks
# Slurm to send before the time limit; the task stops training, then submitit checkpoints and requeues.
# With 2 tasks (DDP) the ranks see the signal at different moments and must still stop after the same step.
@pytest.mark.parametrize("interrupt, tasks", [(["scontrol", "requeue"], 1), (["scancel", "--signal=USR2"], 1),
                                              (["scancel", "--signal=USR2"], 2)],
                         ids=["scontrol-requeue", "usr2", "usr2-two-tasks"])
def test_slurm_requeued_job_resumes_bit_identical(slurm, tmp_path, interrupt, tasks):
    config = write_config(tmp_path, tiny_config(tmp_path / "data" / "clips", steps=STEPS, checkpoint_every=2))
    run_train(config, tmp_path / "reference", *(["--nproc", str(tasks)] if tasks > 1 else []))
    slurm = {**slurm, "tasks_per_node": tasks}
    out = tmp_path / "run"
    errors: list[BaseException] = []

    def run() -> None:
        try:
            launch(config, [], out, launcher="slurm", profile=slurm)
        except BaseException as e:  # noqa: BLE001 - reported by the test thread below
            errors.append(e)

    thread = threading.Thread(target=run)
    thread.start()
    _wait(lambda: (out / "checkpoint.pt").exists(), "the first checkpoint")
    job_id = next((out / "submitit").glob("*_submitted.pkl")).name.split("_")[0]
    subprocess.run([*interrupt, job_id], check=True)
    # A requeued job waits in BeginTime (about two minutes) before it may start again. It is released
    # early, but only once its first run has left the node: a start before that has its credential
    # revoked and fails. (Single-node cluster: the old run's slurmstepd processes are visible here.)
    def old_run_gone() -> bool:
        steps = subprocess.run(["pgrep", "-f", rf"slurmstepd: \[{job_id}\."], capture_output=True)
        return _squeue(job_id, "%T %r") == "PENDING BeginTime" and steps.returncode == 1

    _wait(old_run_gone, "the first run to end and the job to be pending again")
    time.sleep(2)
    subprocess.run(["scontrol", "update", f"JobId={job_id}", "StartTime=now"], check=True)
    thread.join(timeout=300)
    assert not thread.is_alive() and not errors, errors
    log = (out / "submitit" / f"{job_id}_0_log.out").read_text()
    resumed = re.search(r"resumed at step (\d+)/", log)
    assert resumed and 2 <= int(resumed.group(1)) < STEPS, log
    assert_bit_identical(load_state(tmp_path / "reference"), load_state(out))


def test_slurm_failing_job_raises_with_its_error(slurm, config, tmp_path):
    missing = tmp_path / "no" / "clips"
    with pytest.raises(JobFailedError, match=r"(?s)failed.*no clip store at " + re.escape(str(missing))):
        launch(config, ["data.synthetic=false", f"data.path={missing}"], tmp_path / "run", launcher="slurm",
               profile=slurm)


def _stage_params(tmp_path: Path, launcher: dict) -> None:
    """A params.yaml whose one experiment is the tiny test model, in a project directory at tmp_path."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    tiny = tiny_config(Path("unused"))
    params["launcher"] = launcher
    params["model"] = {k: v for k, v in tiny.items() if k != "data"}
    params["experiments"] = {"tiny": {**params["experiments"]["main"], "analyses": ["quality"], "space_scales": [],
                                      "set": {"data.synthetic": True, "data.synthetic_videos_per_class": 2}}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))


def test_train_stage_with_slurm_launcher_runs_a_cluster_job(slurm, tmp_path):
    """pipeline.train (the DVC stage) with launcher.kind slurm: a real job, the log streamed, the curve written."""
    _stage_params(tmp_path, {"kind": "slurm", "cluster_profile": "local"})
    proc = subprocess.run([sys.executable, "-m", "pipeline.train", "tiny"], cwd=tmp_path, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(REPO), "DIGAN_TRACKING": "none"})
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert re.search(r"submitted job \d+ \(slurm\)", proc.stdout)
    assert re.search(r"\[job \d+ task 0\] starting at step 0/6", proc.stdout)
    assert load_state(tmp_path / "runs" / "tiny")["step"] == 6
    assert (tmp_path / "curves" / "tiny.csv").read_text().startswith("step,")


def test_train_stage_fails_with_the_jobs_error(slurm, tmp_path):
    _stage_params(tmp_path, {"kind": "slurm", "cluster_profile": "local"})
    params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    params["experiments"]["tiny"]["set"] = {"data.synthetic": False}  # no clip store: fails inside the job
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    proc = subprocess.run([sys.executable, "-m", "pipeline.train", "tiny"], cwd=tmp_path, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(REPO), "DIGAN_TRACKING": "none"})
    assert proc.returncode == 1
    assert "the training job failed" in proc.stderr and "no clip store at" in proc.stderr


def test_a_second_launch_re_attaches_to_the_job_still_training_the_run(slurm, tmp_path, capsys):
    """Re-running the train stage (e.g. after the DVC process was killed) follows the job already training the
    run directory instead of submitting a second one into it, and refuses a changed configuration while
    that job runs; a job that has ended is not followed."""
    cfg = config_from_dict(tiny_config(tmp_path / "data" / "clips", steps=320, checkpoint_every=20))
    out = tmp_path / "run"
    inputs = training_inputs(cfg)
    config = prepare_run_dir(out, cfg, inputs)
    first = threading.Thread(target=launch, args=(config, [], out), kwargs={"launcher": "slurm", "profile": slurm})
    first.start()
    _wait(lambda: (out / "checkpoint.pt").exists(), "the first checkpoint")
    changed = cfg.model_copy(update={"train": cfg.train.model_copy(update={"lr": 0.001})})
    with pytest.raises(ValueError, match=r"still training it with another configuration.*scancel"):
        refuse_if_training_another_config(out, changed, inputs)
    refuse_if_training_another_config(out, cfg, inputs)  # the same run: re-attach
    launch(config, [], out, launcher="slurm", profile=slurm)
    first.join(timeout=300)
    assert not first.is_alive()
    assert re.search(r"re-attaching to job \d+ \(RUNNING\)", capsys.readouterr().out)
    assert len(list((out / "submitit").glob("*_submitted.pkl"))) == 1  # one job, not two
    assert load_state(out)["step"] == 320
    assert active_job(out) is None  # ended: a later launch submits (and resumes as done)


def test_evaluate_stage_with_slurm_launcher_runs_a_cluster_job(slurm, tmp_path):
    """pipeline.evaluate (the DVC stage) with launcher.kind slurm: the analyses run in a job of
    launcher.evaluate_cluster_profile, whose log is streamed; the stage process measures nothing itself."""
    from tests.test_evaluate_stage import _set_launcher, _stage_inputs

    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        _stage_inputs(tmp_path, ["quality", "speed"])
    finally:
        os.chdir(cwd)
    _set_launcher(tmp_path, kind="slurm", cluster_profile="local", evaluate_cluster_profile="local")
    proc = subprocess.run([sys.executable, "-m", "pipeline.evaluate", "main"], cwd=tmp_path, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(REPO), "DIGAN_TRACKING": "none"})
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert re.search(r"submitted job \d+ \(slurm\): python -m pipeline.evaluate main", proc.stdout)
    assert re.search(r"\[job \d+ task 0\] evaluate main: speed done", proc.stdout)
    assert json.loads((tmp_path / "metrics/main/speed.json").read_text())["device"].startswith("cpu (")
