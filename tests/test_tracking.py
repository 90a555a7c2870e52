"""Tracking: a CLI training run reports to a real MLflow server, an interrupted and resumed output
directory stays one run, and ``--tracking none`` leaves no store behind."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from digan.config import load_config
from digan.tracking import NullTracker, flatten, make_tracker
from tests.helpers import REPO, run_train, tiny_config, train_env, write_config

STEPS, LOG_EVERY, SAMPLE_EVERY = 12, 2, 6


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """``mlflow server`` on a free local port with its own sqlite store and proxied artifacts."""
    tmp = tmp_path_factory.mktemp("mlflow")
    port = _free_port()
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
           "--workers", "1", "--backend-store-uri", f"sqlite:///{tmp / 'm.db'}",
           "--artifacts-destination", str(tmp / "artifacts"), "--serve-artifacts"]
    log = (tmp / "server.log").open("w")
    proc = subprocess.Popen(cmd, cwd=tmp, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise AssertionError(f"mlflow server did not come up:\n{(tmp / 'server.log').read_text()}")
            time.sleep(0.2)
        yield uri
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server's own session: it and its workers
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def _logged_step(out: Path) -> int:
    path = out / "metrics.jsonl"
    lines = [line for line in path.read_text().splitlines() if line.endswith("}")] if path.exists() else []
    return json.loads(lines[-1])["step"] if lines else 0


def _artifacts(client, run_id: str, path: str | None = None) -> set[str]:
    found = set()
    for info in client.list_artifacts(run_id, path):
        found |= _artifacts(client, run_id, info.path) if info.is_dir else {info.path}
    return found


def test_training_is_tracked_and_resuming_continues_the_same_run(mlflow_server, tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "digan-test")
    monkeypatch.setenv("DVC_EXP_NAME", "exp-test")
    config = write_config(tmp_path, tiny_config(tmp_path / "data" / "clips", steps=STEPS, log_every=LOG_EVERY,
                                                sample_every=SAMPLE_EVERY, checkpoint_every=4))
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "digan.train", "--config", str(config), "--out", str(out), "--device", "cpu",
           "--tracking", "mlflow", "--profile", "ci"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=train_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.time() + 120
    while _logged_step(out) < 3:
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline, "training did not reach step 3"
        time.sleep(0.002)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr

    client = MlflowClient(tracking_uri=mlflow_server)
    experiment = client.get_experiment_by_name("digan-test")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1 and runs[0].info.status == "KILLED"
    run_id = runs[0].info.run_id
    assert json.loads((out / "mlflow_run.json").read_text())["run_id"] == run_id

    run_train(config, out, "--tracking", "mlflow", "--profile", "ci")
    # Already complete: no training, and still the same run.
    run_train(config, out, "--tracking", "mlflow", "--profile", "ci")

    runs = client.search_runs([experiment.experiment_id])
    assert [r.info.run_id for r in runs] == [run_id]
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "run"
    expected_params = flatten(load_config(str(config)).to_dict())
    assert run.data.params == {k: str(v) for k, v in expected_params.items()}
    assert run.data.params["train.steps"] == str(STEPS) and "generator.sigma_t" in run.data.params
    git = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True)
    commit = git.stdout.strip()
    tags = run.data.tags
    assert tags["git_commit"] == (commit or "unknown")
    assert tags["profile"] == "ci"
    assert tags["dvc_experiment"] == "exp-test"
    assert tags["checkpoint"] == str((out / "checkpoint.pt").resolve())
    assert tags["out_dir"] == str(out.resolve())

    history = client.get_metric_history(run_id, "loss_G")
    assert sorted(m.step for m in history) == list(range(LOG_EVERY, STEPS + 1, LOG_EVERY))
    expected = {json.loads(line)["step"]: json.loads(line)["loss_G"]
                for line in (out / "metrics.jsonl").read_text().splitlines()}
    assert all(m.value == pytest.approx(expected[m.step]) for m in history)

    samples = {f"samples/step{s:07d}.{ext}" for s in range(SAMPLE_EVERY, STEPS + 1, SAMPLE_EVERY)
               for ext in ("mp4", "gif")}
    assert _artifacts(client, run_id) == samples | {"metrics.json"}
    final = json.loads(Path(client.download_artifacts(run_id, "metrics.json", str(tmp_path))).read_text())
    assert final["step"] == STEPS and final["loss_G"] == pytest.approx(expected[STEPS])


def test_tracking_none_writes_no_store(tmp_path):
    config = write_config(tmp_path, tiny_config(tmp_path / "data" / "clips", steps=2))
    env = {k: v for k, v in train_env().items() if not k.startswith("MLFLOW_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    cmd = [sys.executable, "-m", "digan.train", "--config", str(config), "--out", "run", "--device", "cpu",
           "--tracking", "none"]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "run" / "checkpoint.pt").exists()
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "mlruns").exists()
    assert not (tmp_path / "run" / "mlflow_run.json").exists()


def test_importing_training_does_not_import_mlflow():
    code = "import sys, digan.train, digan.tracking; assert 'mlflow' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def test_flatten_and_null_tracker():
    assert flatten({"generator": {"sigma_t": 0.5, "deep": {"k": 1}}, "seed": 3}) == \
        {"generator.sigma_t": 0.5, "generator.deep.k": 1, "seed": 3}
    assert isinstance(make_tracker("none", "unused"), NullTracker)
    with pytest.raises(ValueError, match="unknown tracking backend"):
        make_tracker("wandb", "unused")
