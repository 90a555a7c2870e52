"""The metrics CLI on directories of real mp4 files gives the library call's numbers, lists bad
files without failing, names the backbone in every key, and caches real features by content."""
import json
import subprocess
import sys

import numpy as np
import pytest

from digan.data.synthetic import make_synthetic_dataset, render_video
from digan.data.video_io import write_video
from digan.metrics.__main__ import from_args, main, parse_args
from digan.metrics.backbones.probe import train_probe
from digan.metrics.backbones.registry import load_backbone
from digan.metrics.evaluation import Backbones, Clips, Protocol, evaluate
from digan.metrics.features import VideoSource, cache_key
from tests.helpers import REPO, train_env


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("metrics")
    store = make_synthetic_dataset(tmp / "synthetic", videos_per_class=2, resolution=32)
    train_probe(store, tmp / "probe.pt", steps=5, batch_size=8)
    for name, seed in (("real", 0), ("fake", 1)):
        for k in range(10):
            video = render_video(k % 8, k, seed=seed, frames=18, resolution=32)
            if name == "fake":
                video = np.clip(video.astype(int) + 40 * (k % 3), 0, 255).astype(np.uint8)
            write_video(tmp / name / f"clip{k:02d}{'.mp4' if k % 2 else '.gif'}", video)
    (tmp / "fake" / "broken.mp4").write_bytes(b"not a video")
    return tmp


def cli_args(tmp, *extra):
    return ["--real", str(tmp / "real"), "--fake", str(tmp / "fake"), "--metrics", "fvd,kvd,is",
            "--backbone", "probe", "--is-backbone", "probe", "--probe", str(tmp / "probe.pt"),
            "--runs", "3", "--samples", "8", "--is-samples", "8", "--cache-dir", str(tmp / "cache"), *extra]


def test_cli_equals_library_call(dirs):
    proc = subprocess.run([sys.executable, "-m", "digan.metrics", *cli_args(dirs, "--out", str(dirs / "r.json"))],
                          capture_output=True, text=True, cwd=REPO, env=train_env(2))
    assert proc.returncode == 0, proc.stderr
    from_cli = json.loads((dirs / "r.json").read_text())
    probe = load_backbone("probe", probe=dirs / "probe.pt")
    from_library = evaluate(Clips(dirs / "real"), Clips(dirs / "fake"), Backbones(probe, probe),
                            Protocol(metrics=("fvd", "kvd", "is"), runs=3, samples=8, is_samples=8),
                            cache_dir=dirs / "cache")
    assert set(from_cli["metrics"]) == {"fvd_probe", "kvd_probe", "is_probe"}
    for key, result in from_library["metrics"].items():
        assert from_cli["metrics"][key]["runs"] == pytest.approx(result["runs"], rel=1e-12)
        assert result["distinct_runs"] and len(set(result["runs"])) >= 2  # runs draw different subsets
    assert from_cli["fake"]["clips"] == 10
    assert len(from_cli["fake"]["bad_files"]) == 1 and "broken.mp4" in from_cli["fake"]["bad_files"][0]
    assert "fvd_probe" in proc.stderr


def test_real_features_cache_key_changes_with_inputs(dirs):
    cache = dirs / "cache2"
    from_args(parse_args(cli_args(dirs, "--metrics", "fvd", "--cache-dir", str(cache))))
    assert len(list(cache.glob("*.npy"))) == 2  # the real and the fake directory
    from_args(parse_args(cli_args(dirs, "--metrics", "fvd", "--cache-dir", str(cache))))
    assert len(list(cache.glob("*.npy"))) == 2  # reused
    from_args(parse_args(cli_args(dirs, "--metrics", "fvd", "--cache-dir", str(cache), "--stride", "2",
                                 "--frames", "8")))
    assert len(list(cache.glob("*.npy"))) == 4  # new clip definition, new entries


def test_a_limited_source_is_a_fixed_subset_of_its_split_with_its_own_cache_key(dirs):
    store = dirs / "synthetic" / "clips"
    whole = VideoSource(store, split="train")
    subset = VideoSource(store, split="train", limit=5)
    assert len(subset) == 5 and len(whole) > 5
    chosen = [c.tobytes() for c in subset.clips()]
    assert chosen == [c.tobytes() for c in VideoSource(store, split="train", limit=5).clips()]
    assert set(chosen) < {c.tobytes() for c in whole.clips()}
    assert cache_key("b", "features", subset) != cache_key("b", "features", whole)
    with pytest.raises(ValueError, match="clip store only"):
        VideoSource(dirs / "real", limit=3)


def test_too_many_bad_files_is_a_clear_error(dirs, capsys):
    code = main(cli_args(dirs, "--frames", "17", "--stride", "2"))  # 33 frames needed: every clip too short
    assert code == 2
    assert "could not be used" in capsys.readouterr().err


def test_checkpoint_mode_draws_fresh_reproducible_videos_per_run(dirs):
    from digan.config import load_config
    from digan.train import prepare_data
    from digan.training.loop import Trainer
    from tests.helpers import tiny_config, write_config

    cfg = load_config(write_config(dirs, tiny_config(dirs / "tiny" / "clips")))
    prepare_data(cfg)
    Trainer(cfg, dirs / "tiny_run").save_checkpoint()
    args = ["--real", str(dirs / "real"), "--checkpoint", str(dirs / "tiny_run" / "checkpoint.pt"),
            "--metrics", "fvd,is", "--backbone", "probe", "--is-backbone", "probe", "--probe",
            str(dirs / "probe.pt"), "--runs", "2", "--samples", "6", "--is-samples", "6",
            "--cache-dir", str(dirs / "cache")]
    first, second = from_args(parse_args(args)), from_args(parse_args(args))
    assert first["metrics"]["fvd_probe"]["runs"] == second["metrics"]["fvd_probe"]["runs"]
    assert first["metrics"]["fvd_probe"]["distinct_runs"]
    assert len(set(first["metrics"]["is_probe"]["runs"])) == 2
    assert first["fake"]["clips_per_run"] == 6

    # The library call on a generator loaded once: IS in the same call as FVD, and alone, scores as the CLI.
    from digan.generate import load_generator
    from digan.metrics.evaluation import Generated

    probe = load_backbone("probe", probe=dirs / "probe.pt")
    fake = Generated(load_generator(dirs / "tiny_run" / "checkpoint.pt"), str(dirs / "tiny_run" / "checkpoint.pt"))
    protocol = {"runs": 2, "samples": 6, "is_samples": 6}
    both = evaluate(Clips(dirs / "real"), fake, Backbones(probe, probe), Protocol(metrics=("fvd", "is"), **protocol),
                    cache_dir=dirs / "cache")
    assert both == first
    alone = evaluate(None, fake, Backbones(classifier=probe), Protocol(metrics=("is",), **protocol))
    assert alone["metrics"]["is_probe"] == first["metrics"]["is_probe"]


def test_generator_output_is_rounded_not_truncated_to_uint8():
    import torch

    from digan.generate import to_uint8

    x = torch.tensor([-1.0, -0.9961, 0.0, 0.00393, 1.0, 1.5])  # 0.5, 127.5, 128.0 on the 0..255 scale
    assert to_uint8(x).tolist() == [0, 0, 128, 128, 255, 255]


def test_cli_with_real_i3d_equals_library_call(dirs):
    args = ["--real", str(dirs / "real"), "--fake", str(dirs / "fake"), "--metrics", "fvd,kvd",
            "--backbone", "i3d", "--runs", "2", "--samples", "8", "--cache-dir", str(dirs / "cache_i3d"),
            "--weights-dir", str(REPO / "data" / "weights"), "--out", str(dirs / "i3d.json")]
    proc = subprocess.run([sys.executable, "-m", "digan.metrics", *args], capture_output=True, text=True,
                          cwd=REPO, env=train_env(2))
    assert proc.returncode == 0, proc.stderr
    from_cli = json.loads((dirs / "i3d.json").read_text())["metrics"]
    from_library = from_args(parse_args(args))["metrics"]
    assert set(from_cli) == {"fvd_i3d", "kvd_i3d"}
    for key in from_cli:
        assert from_cli[key]["runs"] == pytest.approx(from_library[key]["runs"], rel=1e-9)
    assert from_cli["fvd_i3d"]["mean"] > 0
