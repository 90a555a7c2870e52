"""Shared helpers for tests that train (a tiny config on a tiny synthetic clip store) and for tests that
run DVC in a fresh copy of the repository."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import torch
import yaml

REPO = Path(__file__).resolve().parents[1]


def tiny_config(data_path: Path, **train) -> dict:
    """A 16² DIGAN with every component of the paper model (R1 every 2 steps to exercise it)."""
    return {
        "generator": {"resolution": 16, "input_resolution": 8, "z_dim": 16, "w_dim": 16, "motion_z_dim": 16,
                      "channel_base": 128, "channel_max": 16, "fmm_rank": 2, "embedding_size": 8},
        "discriminator": {"channel_base": 128, "channel_max": 16, "mbstd_group": 4},
        "data": {"path": str(data_path), "synthetic": True, "synthetic_videos_per_class": 2},
        "train": {"batch_size": 8, "steps": 6, "d_reg_interval": 2, "ema_kimg": 0.01, "checkpoint_every": 3,
                  "sample_every": 1000, "log_every": 1, "num_threads": 1, **train},
    }


def write_config(tmp_path: Path, cfg: dict) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def run_train(config: Path, out: Path, *extra: str, check: bool = True,
              threads: int = 1) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "digan.train", "--config", str(config), "--out", str(out), "--device", "cpu",
           *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=train_env(threads))
    if check and proc.returncode != 0:
        raise AssertionError(f"training failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def train_env(threads: int = 1) -> dict:
    # Tracking is tested on its own (tests/test_tracking.py); elsewhere it would only add MLflow start-up.
    return {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1", "DIGAN_TRACKING": "none"}


def load_state(out: Path) -> dict:
    return torch.load(out / "checkpoint.pt", weights_only=True)


def assert_same_parameters(a: dict, b: dict, rtol: float = 1e-4) -> None:
    """G, D and G_ema of two checkpoints agree to ``rtol`` (DDP vs one process: float summation order)."""
    for part in ("G", "D", "G_ema"):
        for name, value in a[part].items():
            other = b[part][name]
            assert torch.allclose(value, other, rtol=rtol, atol=1e-6), (part, name, (value - other).abs().max())


def fresh_copy(dest: Path) -> Path:
    """What a user gets from git: every tracked (and not ignored) file, committed in a new repository
    with its own identity (``dvc exp run`` commits experiments; CI machines have no git identity)."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        if (REPO / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, dest / rel)
    for cmd in (["git", "init", "-q"], ["git", "config", "user.name", "digan"],
                ["git", "config", "user.email", "digan@localhost"], ["git", "add", "-A"],
                ["git", "commit", "-qm", "copy"]):
        subprocess.run(cmd, cwd=dest, check=True)
    return dest


def run_dvc(args: list[str], cwd: Path, timeout: int = 1800, tracking: str = "none") -> str:
    """``dvc <args>`` in a fresh copy, with MLflow tracking set for its stages; its output, or an
    AssertionError with the end of it."""
    env = {**os.environ, "DIGAN_TRACKING": tracking, "PYTHONUNBUFFERED": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.run(["dvc", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        raise AssertionError(f"dvc {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}")
    return proc.stdout + proc.stderr


def assert_lock_current(clone: Path) -> None:
    """The committed dvc.lock describes this code and these params: only the outputs are missing."""
    status = run_dvc(["status"], clone)
    stale = "modified:" in status or "new:" in status
    assert not stale, f"dvc.lock is stale; run dvc repro and commit it:\n{status}"
