"""Kill-and-resume: an interrupted run (SIGTERM, or SIGKILL between checkpoints) resumed with the
same command ends bit-identical to an uninterrupted run."""
import json
import signal
import subprocess
import sys
import time

import pytest
import torch

from tests.helpers import REPO, load_state, run_train, tiny_config, train_env, write_config

STEPS = 16


def logged_step(out) -> int:
    path = out / "metrics.jsonl"
    if not path.exists():
        return 0
    lines = [line for line in path.read_text().splitlines() if line.endswith("}")]
    return json.loads(lines[-1])["step"] if lines else 0


def start(config, out):
    cmd = [sys.executable, "-m", "digan.train", "--config", str(config), "--out", str(out), "--device", "cpu"]
    return subprocess.Popen(cmd, cwd=REPO, env=train_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def wait_for_step(proc, out, step, timeout=120.0):
    deadline = time.time() + timeout
    while logged_step(out) < step:
        if proc.poll() is not None:
            raise AssertionError(f"training ended early:\n{proc.communicate()}")
        if time.time() > deadline:
            proc.kill()
            raise AssertionError("training did not reach the step in time")
        time.sleep(0.002)


def assert_bit_identical(a: dict, b: dict) -> None:
    assert a["step"] == b["step"] == STEPS
    for part in ("G", "D", "G_ema"):
        for name in a[part]:
            assert torch.equal(a[part][name], b[part][name]), (part, name)
    for opt in ("opt_G", "opt_D"):
        for key, state in a[opt]["state"].items():
            for field, value in state.items():
                assert torch.equal(value, b[opt]["state"][key][field]), (opt, key, field)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reference")
    config = write_config(tmp, tiny_config(tmp / "data" / "clips", steps=STEPS, checkpoint_every=10))
    run_train(config, tmp / "run")
    return config, load_state(tmp / "run"), (tmp / "run" / "metrics.jsonl").read_text()


def test_sigterm_checkpoints_and_resume_is_bit_identical(reference, tmp_path):
    config, expected, expected_log = reference
    out = tmp_path / "run"
    proc = start(config, out)
    wait_for_step(proc, out, 5)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr
    assert "checkpoint written" in stderr
    interrupted_at = load_state(out)["step"]
    assert 5 <= interrupted_at < STEPS
    run_train(config, out)
    assert_bit_identical(expected, load_state(out))
    assert (out / "metrics.jsonl").read_text() == expected_log


def test_sigkill_between_checkpoints_resumes_from_last_checkpoint_bit_identical(reference, tmp_path):
    config, expected, expected_log = reference
    out = tmp_path / "run"
    proc = start(config, out)
    wait_for_step(proc, out, 11)  # checkpoints at 10 and 16: killed in between
    proc.kill()
    proc.communicate()
    assert load_state(out)["step"] == 10
    assert logged_step(out) > 10  # work after the checkpoint was lost and is redone
    run_train(config, out)
    assert_bit_identical(expected, load_state(out))
    assert (out / "metrics.jsonl").read_text() == expected_log
