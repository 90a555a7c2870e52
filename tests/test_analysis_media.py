"""The figure and table analyses: generation speed (Table 3), upsampling FVD (Table 4), the motion
D's response to Δt (Figure 10) and the qualitative media (Figures 1, 3, 4, 6, 7, 9)."""
import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from matplotlib import image as mpimg
from torch.utils.flop_counter import FlopCounterMode

from digan.analysis.media import MARK, write_media
from digan.analysis.motion_d import motion_d_response
from digan.analysis.space import render_upsampled, target_resolution, upsampling_fvd
from digan.analysis.speed import measure_generation_speed
from digan.config import GeneratorConfig, config_from_dict
from digan.data.clip_store import ClipStore, write_clip_store
from digan.data.synthetic import make_synthetic_dataset
from digan.data.video_io import read_video
from digan.metrics.backbones.probe import train_probe
from digan.metrics.backbones.registry import load_backbone
from digan.models.discriminator import VideoDiscriminators, motion_input
from digan.models.generator import Generator
from digan.training.checkpoint import load_checkpoint, save_atomic
from digan.training.loop import Trainer
from tests.helpers import tiny_config

ALL_KINDS = ("samples", "long", "extrapolation", "diverse_motion", "upsampling", "zoom_out")


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """Synthetic clip stores at 32² (the 2× real set) and, 2×2-averaged from it, 16² (the tiny
    checkpoint's data)."""
    tmp = tmp_path_factory.mktemp("analysis")
    big = ClipStore(make_synthetic_dataset(tmp / "s32", videos_per_class=2, resolution=32))
    small = (big[i].reshape(16, 16, 2, 16, 2, 3).mean(axis=(2, 4)).round().astype(np.uint8) for i in range(len(big)))
    rows = [{k: v for k, v in row.items() if k != "clip_index"} for row in big.manifest]
    store16 = write_clip_store(tmp / "s16", zip(small, rows), dataset="synthetic", frames=16, height=16, width=16,
                               class_names=big.class_names)
    return {16: store16, 32: big.path}


def generator_16(**overrides) -> Generator:
    cfg = GeneratorConfig(resolution=16, input_resolution=8, z_dim=16, w_dim=16, motion_z_dim=16,
                          channel_base=128, channel_max=16, fmm_rank=2, embedding_size=8, **overrides)
    return Generator(cfg).eval().requires_grad_(False)


def record_synthesize(G: Generator, monkeypatch) -> list[dict]:
    """Every synthesize call's times, resolution, window and output side."""
    calls = []
    original = G.synthesize

    def spy(w, z_motion, times, *, resolution=None, spatial_range=(0.0, 1.0)):
        out = original(w, z_motion, times, resolution=resolution, spatial_range=spatial_range)
        calls.append({"times": times.detach().clone(), "resolution": resolution,
                      "spatial_range": tuple(spatial_range), "side": out.shape[-1]})
        return out

    monkeypatch.setattr(G, "synthesize", spy)
    return calls


def test_speed_reports_every_variant():
    G = generator_16()
    report = measure_generation_speed(G, frames=4, batch_size=2, repeats=1)
    json.dumps(report)
    assert set(report["variants"]) == {"batch1", "batch2", "frames_sequential", "frames_parallel"}
    for v in report["variants"].values():
        assert v["seconds_per_video"] > 0 and v["repeats"] == 1
    assert report["variants"]["batch2"]["batch_size"] == 2
    assert (report["resolution"], report["frames"], report["threads"]) == (16, 4, torch.get_num_threads())
    counter = FlopCounterMode(display=False)
    with counter:
        G(torch.randn(1, 16), torch.randn(1, 16), torch.linspace(0, 1, 4))
    assert report["macs_per_video"] == pytest.approx(counter.get_total_flops() / 2, rel=1e-9)
    assert 0 < report["matmul_roofline_ratio"] < 100


def test_upsampling_fvd_renders_inr_at_the_target_resolution(stores, tmp_path, monkeypatch):
    train_probe(stores[32], tmp_path / "probe.pt", steps=3, batch_size=8, width=8)
    backbone = load_backbone("probe", probe=tmp_path / "probe.pt")
    G = generator_16()
    calls = record_synthesize(G, monkeypatch)
    report = upsampling_fvd(G, {2: stores[32]}, backbone=backbone, samples=6, runs=2, batch_size=4,
                            cache_dir=tmp_path / "cache")
    json.dumps(report)
    assert {c["side"] for c in calls} == {16, 32}
    assert {c["resolution"] for c in calls if c["side"] == 32} == {32}
    entry = report["scales"]["2"]
    assert report["base_resolution"] == 16 and entry["resolution"] == 32
    assert entry["real"]["clips"] == len(ClipStore(stores[32]))
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 1
    for key in ("fvd_probe", "kvd_probe"):
        inr, bicubic = entry["inr"][key], entry["bicubic"][key]
        assert len(inr["runs"]) == 2 and all(math.isfinite(x) for x in inr["runs"] + bicubic["runs"])
        assert inr["samples_fake"] == 6 and inr["mean"] != bicubic["mean"]

    z, zm = torch.randn(3, 16), torch.randn(3, 16)
    clips = render_upsampled(G, z, zm, torch.linspace(0, 1, 4), [32, 64])
    for r in (32, 64):
        assert clips[r]["inr"].shape == clips[r]["bicubic"].shape == (3, 4, r, r, 3)
        assert clips[r]["inr"].dtype == torch.uint8
        assert not torch.equal(clips[r]["inr"], clips[r]["bicubic"])


def test_upsampling_fvd_rejects_impossible_scales(stores):
    G = generator_16()
    assert target_resolution(G, 4) == 64 and target_resolution(G, 1.5) == 24
    with pytest.raises(ValueError, match="multiple of 2"):
        target_resolution(G, 1.1)
    toy = SimpleNamespace(features=lambda v: v.float().flatten(1)[:, :4], name="toy", identity="toy")
    with pytest.raises(ValueError, match="32² but 4 × 16 = 64"):  # before any feature is computed
        upsampling_fvd(G, {4: stores[32]}, backbone=toy, samples=4, runs=1)


def tiny_checkpoint(store, out, **generator) -> str:
    cfg = tiny_config(store)
    cfg["generator"].update(generator)
    trainer = Trainer(config_from_dict(cfg), out)
    return str(trainer.save_checkpoint())


def test_motion_d_response_follows_delta_t(stores, tmp_path):
    ckpt = tiny_checkpoint(stores[16], tmp_path / "run")
    store = ClipStore(stores[16])
    report = motion_d_response(load_checkpoint(ckpt), stores[16], deltas=5, pairs=len(store))
    json.dumps(report)
    assert report["delta_t"] == [0.0, 0.25, 0.5, 0.75, 1.0] and report["real_delta_t"] == 1.0
    assert report["pairs"] == len(store) == 48
    assert np.ptp(report["logit_mean"]) > 1e-5  # the logit moves with Δt
    assert all(s > 0 for s in report["logit_std"])

    # The same numbers from the checkpoint's D on the first and last frames scaled to [-1, 1].
    state = load_checkpoint(ckpt)
    cfg = config_from_dict(state["config"])
    D = VideoDiscriminators(cfg.discriminator, 16).eval()
    D.load_state_dict(state["D"])
    ends = torch.from_numpy(np.stack([store[i][[0, -1]] for i in range(len(store))])).float() / 127.5 - 1
    ends = ends.permute(0, 1, 4, 2, 3)
    for k in (0, 4):
        dt = torch.full((len(store),), report["delta_t"][k])
        with torch.no_grad():
            expected = D.motion(motion_input(ends[:, 0], ends[:, 1], dt)).mean()
        assert report["logit_mean"][k] == pytest.approx(float(expected), rel=1e-5, abs=1e-6)

    trimmed = motion_d_response(load_checkpoint(ckpt), stores[16], deltas=3, pairs=10, split="train")
    assert trimmed["pairs"] == 8 and trimmed["split"] == "train"  # a multiple of the mbstd group

    state["config"]["generator"]["motion"] = False
    save_atomic(state, tmp_path / "image_only.pt")
    with pytest.raises(ValueError, match="image-only"):
        motion_d_response(load_checkpoint(tmp_path / "image_only.pt"), stores[16])


def test_motion_d_response_passes_class_labels(stores, tmp_path):
    ckpt = tiny_checkpoint(stores[16], tmp_path / "cond", num_classes=8)
    report = motion_d_response(load_checkpoint(ckpt), stores[16], deltas=3, pairs=8)
    assert report["pairs"] == 8 and np.ptp(report["logit_mean"]) > 1e-5


def test_write_media_writes_every_figure(tmp_path, monkeypatch):
    G = generator_16()
    calls = record_synthesize(G, monkeypatch)
    written = {}
    for kind in ALL_KINDS:
        start = len(calls)
        written.update(write_media(G, tmp_path, kinds=[kind], num_videos=4, long_frames=20))
        written[kind + "_calls"] = calls[start:]
    for kind in ALL_KINDS:
        assert written[kind] and all((tmp_path / name).stat().st_size > 0 for name in written[kind]), kind
        assert any(name.endswith(".png") for name in written[kind])
        assert any(name.endswith(".gif") for name in written[kind])
    assert set(written["samples"]) == {"samples.mp4", "samples.gif", "samples.png"}

    extrapolation_times = torch.cat([c["times"].flatten() for c in written["extrapolation_calls"]])
    assert extrapolation_times.max().item() == pytest.approx(2.0) and (extrapolation_times > 1).any()
    long_times = torch.cat([c["times"].flatten() for c in written["long_calls"]])
    assert long_times.max().item() == pytest.approx(19 / 15)
    assert {c["side"] for c in written["upsampling_calls"]} == {16, 32, 64}
    assert {c["spatial_range"] for c in written["zoom_out_calls"]} == {(0.0, 1.0), (-0.25, 1.25)}

    long_video = read_video(tmp_path / "long.mp4")
    assert long_video.shape == (20, 32, 32, 3)  # 4 videos tiled 2×2, long_frames frames
    strip = (mpimg.imread(tmp_path / "extrapolation.png")[..., :3] * 255).round().astype(np.uint8)
    assert strip.shape[:2] == (4 * 18 - 2, 11 * 18 - 2)  # 4 videos × t = 0, 0.2, ..., 2
    assert (strip[0, -1] == MARK).all() and not (strip[0, 0] == MARK).all()  # t = 2 marked, t = 0 not


def test_write_media_image_generator_and_bad_kinds(tmp_path):
    G = generator_16(motion=False)
    written = write_media(G, tmp_path, kinds=ALL_KINDS, num_videos=2)
    assert set(written) == {"samples", "upsampling"}
    with pytest.raises(ValueError, match="unknown media kinds"):
        write_media(G, tmp_path, kinds=["samples", "trailer"])
