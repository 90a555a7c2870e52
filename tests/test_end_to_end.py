"""The default tiny model really learns on the synthetic data, and the entry points work on its
checkpoint: training CLI with samples, generation CLI at any frame count, time range and size."""
import subprocess
import sys

import numpy as np
import pytest
import torch

from digan.config import load_config
from digan.data.clip_store import ClipStore
from digan.data.video_io import read_video
from digan.generate import generate_frames, load_generator
from digan.models.generator import Generator
from tests.clip_stats import clip_statistics, standardized_frechet_distance
from tests.helpers import REPO, run_train, train_env

STEPS = 200


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    data = tmp / "data" / "clips"
    run_train(REPO / "configs" / "default.yaml", tmp / "run", "--set", f"data.path={data}",
              "--set", f"train.steps={STEPS}", "--set", "train.sample_every=100", threads=2)
    return tmp, data


def distance_to_real(G: Generator, store: ClipStore) -> float:
    idx = store.split_indices("train")
    real = torch.from_numpy(np.stack([store[i] for i in idx])).permute(0, 1, 4, 2, 3).float() / 127.5 - 1
    g = torch.Generator().manual_seed(5)
    z = torch.randn(len(idx), G.cfg.z_dim, generator=g)
    zm = torch.randn(len(idx), G.cfg.motion_z_dim, generator=g)
    fake = generate_frames(G, z, zm, torch.linspace(0, 1, store.frames))
    return standardized_frechet_distance(clip_statistics(real), clip_statistics(fake))


def test_training_halves_the_distance_to_real_clips(trained):
    """Fréchet distance of per-frame colour and frame-difference statistics (content and motion)
    drops below half its value at initialisation after a few hundred CPU iterations."""
    tmp, data = trained
    cfg = load_config(REPO / "configs" / "default.yaml", [f"data.path={data}"])
    store = ClipStore(data)
    torch.manual_seed(cfg.train.seed)
    initial = Generator(cfg.generator).eval()  # the trainer's initialisation (same seed)
    before = distance_to_real(initial, store)
    after = distance_to_real(load_generator(tmp / "run" / "checkpoint.pt"), store)
    assert after < 0.5 * before, (before, after)


def test_training_writes_samples_metrics_and_checkpoint(trained):
    tmp, _ = trained
    run = tmp / "run"
    assert (run / "checkpoint.pt").exists()
    assert len((run / "metrics.jsonl").read_text().splitlines()) == STEPS // 10
    video = read_video(run / "samples" / "step0000200.mp4")
    assert video.shape == (16, 64, 128, 3)  # 8 videos in a 2×4 grid of 32² frames
    assert (run / "samples" / "step0000100.gif").exists()


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_generate_cli_long_extrapolated_upsampled_video(trained, suffix):
    tmp, _ = trained
    out = tmp / f"video{suffix}"
    cmd = [sys.executable, "-m", "digan.generate", "--checkpoint", str(tmp / "run" / "checkpoint.pt"),
           "--frames", "64", "--t-range", "0", "4", "--resolution", "64", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=train_env())
    assert proc.returncode == 0, proc.stderr
    assert read_video(out).shape == (64, 64, 64, 3)


def test_generate_cli_zoom_out_and_bad_resolution(trained):
    tmp, _ = trained
    base = [sys.executable, "-m", "digan.generate", "--checkpoint", str(tmp / "run" / "checkpoint.pt")]
    out = tmp / "zoom.mp4"
    ok = subprocess.run(base + ["--spatial-range", "-0.25", "1.25", "--num-videos", "4", "--out", str(out)],
                        capture_output=True, text=True, cwd=REPO, env=train_env())
    assert ok.returncode == 0, ok.stderr
    assert read_video(out).shape == (16, 64, 64, 3)
    bad = subprocess.run(base + ["--resolution", "33", "--out", str(tmp / "bad.mp4")],
                         capture_output=True, text=True, cwd=REPO, env=train_env())
    assert bad.returncode != 0 and "multiple of 2" in bad.stderr
