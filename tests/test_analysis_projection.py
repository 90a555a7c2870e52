"""Latent projection and the prediction analyses (paper Fig. 5, 13, Table 6, Table 4's PSNR/SSIM)."""
import json
import math

import matplotlib.image
import numpy as np
import pytest
import torch

from digan.analysis import prediction
from digan.analysis.prediction import (interpolate_latents, match_clips, prediction_ssim, space_reconstruction,
                                       write_prediction_figure)
from digan.analysis.projection import learning_rate, mean_w, project, pyramid_mse, render
from digan.config import GeneratorConfig
from digan.data.clip_store import ClipStore, write_clip_store
from digan.data.synthetic import make_synthetic_dataset
from digan.models.generator import Generator
from tests.helpers import tiny_config

pytestmark = pytest.mark.usefixtures("one_thread")




@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """The same 8 synthetic videos (2 clips each, starts 0 and 4) at 16² and 32²; no test split."""
    root = tmp_path_factory.mktemp("stores")
    kwargs = dict(videos_per_class=1, frames_per_video=20, clip_frames=16)
    low = make_synthetic_dataset(root / "low", resolution=16, **kwargs)
    high = make_synthetic_dataset(root / "high", resolution=32, **kwargs)
    return low, high


def make_generator(**changes) -> Generator:
    torch.manual_seed(0)
    cfg = GeneratorConfig(**tiny_config("unused")["generator"])
    return Generator(cfg.model_copy(update=changes)).eval().requires_grad_(False)


def test_learning_rate_ramps_up_then_down_as_stylegan2():
    assert learning_rate(0.0, 0.1) == 0.0
    assert learning_rate(0.025, 0.1) == pytest.approx(0.05)  # linear ramp-up over the first 5 %
    assert learning_rate(0.5, 0.1) == pytest.approx(0.1)
    assert learning_rate(0.875, 0.1) == pytest.approx(0.05)  # cosine ramp-down over the last 25 %
    assert learning_rate(0.999, 0.1) < 1e-4


def test_pyramid_mse_is_per_video_and_averages_scales():
    a = torch.zeros(2, 3, 3, 16, 16)
    b = a.clone()
    b[1] = 1.0
    assert torch.equal(pyramid_mse(a, b, levels=3), torch.tensor([0.0, 1.0]))
    b[1, :, :, ::2] = -1.0  # stripes: mean zero at half resolution, so only the full scale sees them
    assert torch.allclose(pyramid_mse(a, b, levels=1), torch.tensor([0.0, 1.0]))
    assert torch.allclose(pyramid_mse(a, b, levels=2), torch.tensor([0.0, 0.5]))


def test_projection_recovers_frames_the_generator_made():
    G = make_generator()
    g = torch.Generator().manual_seed(1)
    w_mean, _ = mean_w(G, None, 2, torch.Generator().manual_seed(5))
    # Truncation ψ = 0.5 keeps the target inside the basin around w̄ that StyleGAN2's projector starts
    # from; an untrained G's W space has distant local minima (a trained G's is smoother).
    w = w_mean + 0.5 * (G.mapping(torch.randn(2, G.cfg.z_dim, generator=g)) - w_mean)
    z_motion = torch.randn(2, G.cfg.motion_z_dim, generator=g)
    times = torch.tensor([0.0, 0.5, 1.0])
    frames = G.synthesize(w, z_motion, times)
    proj = project(G, frames, times, steps=100, lr=0.1, seed=0, levels=1)
    assert proj.w.shape == (2, G.cfg.w_dim) and proj.z_motion.shape == (2, G.cfg.motion_z_dim)
    assert proj.loss.shape == (2,) and proj.steps == 100
    assert (proj.loss < 0.05 * proj.initial_loss).all(), (proj.initial_loss, proj.loss)
    rendered = render(G, proj, times)
    assert torch.allclose((rendered - frames).square().flatten(1).mean(1), proj.loss, rtol=1e-4)
    # The projected video is a video: it renders at other times and resolutions.
    assert render(G, proj, torch.linspace(-0.5, 1.5, 5), resolution=32).shape == (2, 5, 3, 32, 32)
    assert all(p.grad is None for p in G.parameters())


def test_image_generator_projects_single_frames():
    G = make_generator(motion=False)
    frames = G.synthesize(G.mapping(torch.randn(3, G.cfg.z_dim)), torch.zeros(3, G.cfg.motion_z_dim),
                          torch.zeros(1))
    proj = project(G, frames, torch.zeros(1), steps=20, seed=0)
    assert proj.w.shape == (3, G.cfg.w_dim) and proj.loss.shape == (3,)
    assert torch.equal(proj.z_motion, torch.zeros(3, G.cfg.motion_z_dim))  # t is ignored: nothing to fit
    assert (proj.loss < proj.initial_loss).all()
    with pytest.raises(ValueError, match="K = 1"):
        project(G, frames.expand(3, 2, -1, -1, -1), torch.tensor([0.0, 1.0]), steps=1)


def test_interpolate_latents_is_linear_between_given_frames():
    w = torch.randn(2, 2, 5)
    out = interpolate_latents(w, (0, 14), range(16))
    assert out.shape == (2, 16, 5)
    assert torch.allclose(out[:, 0], w[:, 0]) and torch.allclose(out[:, 14], w[:, 1])
    assert torch.allclose(out[:, 7], w.mean(dim=1), atol=1e-6)
    assert torch.allclose(out[:, 15], w[:, 1])  # beyond the last given frame: held


def test_image_baseline_renders_the_midpoint_of_projected_codes(monkeypatch, stores):
    G = make_generator(motion=False)
    seen = []

    def recording_project(*args, **kwargs):
        seen.append(project(*args, **kwargs))
        return seen[-1]

    monkeypatch.setattr(prediction, "project", recording_project)
    clip = torch.from_numpy(ClipStore(stores[0])[0][None]).permute(0, 1, 4, 2, 3).float() / 127.5 - 1
    video, _ = prediction._predict(G, clip, (0, 14), None, steps=5, seed=0)
    (proj,) = seen
    assert proj.w.shape[0] == 2  # the two given frames were projected separately
    midpoint = G.synthesize(proj.w.mean(dim=0, keepdim=True), torch.zeros(1, G.cfg.motion_z_dim), torch.zeros(1))
    assert torch.allclose(video[:, 7], midpoint[:, 0], atol=1e-5)
    assert not torch.allclose(video[:, 3], midpoint[:, 0], atol=1e-3)


@pytest.mark.parametrize("motion", [True, False])
def test_prediction_ssim_scores_every_non_given_frame(stores, motion):
    G = make_generator(motion=motion)
    result = prediction_ssim(G, stores[0], clips=3, steps=4, seed=0, given=(0, 15))
    assert result["method"] == ("digan_projection" if motion else "image_latent_interpolation")
    assert result["predicted_frames"] == list(range(1, 15)) and result["given_frames"] == [0, 15]
    assert result["split"] == "all" and "split 'test'" in result["notes"][0]  # the store has no test split
    assert result["clips"] == 3 == len(result["ssim"]["per_clip"])
    assert set(result["per_frame_ssim"]) == {str(f) for f in range(1, 15)}
    assert all(-1.0 <= s <= 1.0 for s in result["ssim"]["per_clip"] + list(result["per_frame_ssim"].values()))
    assert result["ssim"]["mean"] == pytest.approx(np.mean(result["ssim"]["per_clip"]))
    json.dumps(result)


def test_match_clips_pairs_the_same_video_across_resolutions(stores, tmp_path):
    low, high = ClipStore(stores[0]), ClipStore(stores[1])
    # A reordered copy of the high-resolution store must still pair clips by (video, start frame).
    shuffled = write_clip_store(tmp_path / "shuffled", ((high[i], {k: v for k, v in high.manifest[i].items()
                                                                     if k != "clip_index"})
                                                        for i in reversed(range(len(high)))),
                                dataset="synthetic", frames=16, height=32, width=32, class_names=high.class_names)
    pairs = match_clips(low, ClipStore(shuffled))
    assert len(pairs) == len(low) == 16
    for i, j in pairs.items():
        down = ClipStore(shuffled)[j].astype(float).reshape(16, 16, 2, 16, 2, 3).mean(axis=(2, 4))
        assert np.abs(down - low[i]).mean() < 8  # same video: the 2× box-filtered frames nearly agree
        assert ClipStore(shuffled).manifest[j]["start_frame"] == low.manifest[i]["start_frame"]


def test_space_reconstruction_reports_inr_and_bicubic(stores, tmp_path):
    G = make_generator()
    result = space_reconstruction(G, stores[0], {2: stores[1]}, clips=2, steps=4, seed=0)
    scale = result["scales"]["2"]
    assert scale["resolution"] == 32 and scale["clips"] == 2
    for metric in ("psnr", "ssim"):
        assert set(scale[metric]) == {"inr", "bicubic"}
        assert all(math.isfinite(v) for v in scale[metric].values())
    assert -1 <= scale["ssim"]["inr"] <= 1 and -1 <= scale["ssim"]["bicubic"] <= 1
    assert math.isfinite(result["base_psnr"]) and result["projection_steps"] == 4
    json.dumps(result)

    high = ClipStore(stores[1])
    renamed = write_clip_store(tmp_path / "other", ((high[i], {**{k: v for k, v in high.manifest[i].items()
                                                                  if k != "clip_index"}, "source_video": f"x{i}.mp4"})
                                                    for i in range(len(high))),
                               dataset="synthetic", frames=16, height=32, width=32, class_names=high.class_names)
    with pytest.raises(ValueError, match="no clip"):
        space_reconstruction(G, stores[0], {2: renamed}, clips=2, steps=1)
    with pytest.raises(ValueError, match="scale 4"):
        space_reconstruction(G, stores[0], {4: stores[1]}, clips=2, steps=1)


def test_prediction_figure_marks_given_frames(stores, tmp_path):
    G = make_generator()
    names = write_prediction_figure(G, stores[0], tmp_path / "fig", steps=3, given=(6, 7, 8), show=(3, 11))
    assert names == ["prediction_given6-7-8_show3-11.png"]
    image = matplotlib.image.imread(tmp_path / "fig" / names[0])[..., :3]
    yellow = (image[..., 0] > 0.9) & (image[..., 1] > 0.9) & (image[..., 2] < 0.1)
    assert yellow.sum() > 100
    plain = write_prediction_figure(G, stores[0], tmp_path / "fig", steps=3, given=(6, 7, 8), show=(9, 11))
    image = matplotlib.image.imread(tmp_path / "fig" / plain[0])[..., :3]
    assert ((image[..., 0] > 0.9) & (image[..., 1] > 0.9) & (image[..., 2] < 0.1)).sum() < 0.1 * yellow.sum()
    with pytest.raises(ValueError, match="show"):
        write_prediction_figure(G, stores[0], tmp_path / "fig", steps=1, show=(3, 16))
