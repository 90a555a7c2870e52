"""Generator claims of §3.2 and Appendix A.1: f_M in the official form (biases a switch), σt scales only the
temporal term, z_M / content switches, and generation at any time, resolution and spatial window."""

import pytest
import torch

from digan.config import GeneratorConfig
from digan.models.generator import Generator
from digan.models.inr import MotionMLP, coordinate_grid


def make(cfg: GeneratorConfig, **changes) -> Generator:
    torch.manual_seed(0)
    return Generator(cfg.model_copy(update=changes)).eval()


def latents(cfg, batch=2, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, cfg.z_dim, generator=g), torch.randn(batch, cfg.motion_z_dim, generator=g)


def test_motion_mlp_is_the_official_form(tiny_generator_config):
    """f_M(x) = FC2(lrelu_0.2(FC1(leaky_relu_0.01(x)))·√2), biases initialised to 0 (official CoordFuser)."""
    G = make(tiny_generator_config)
    mlps = [m for m in G.modules() if isinstance(m, MotionMLP)]
    assert len(mlps) == 3  # one per coordinate embedding: 8², 16², 32²
    for mlp in mlps:
        assert torch.equal(mlp.fc1.bias, torch.zeros_like(mlp.fc1.bias))
        assert torch.equal(mlp.fc2.bias, torch.zeros_like(mlp.fc2.bias))
    mlp = mlps[0]
    n = mlp.fc1.weight.shape[1]
    with torch.no_grad():
        for layer in (mlp.fc1, mlp.fc2):
            layer.bias.normal_()
        x = torch.randn(5, n) * 3
        h = torch.nn.functional.leaky_relu(x, 0.01) @ (mlp.fc1.weight / n ** 0.5).T + mlp.fc1.bias
        h = torch.nn.functional.leaky_relu(h, 0.2) * 2 ** 0.5
        expected = h @ (mlp.fc2.weight / n ** 0.5).T + mlp.fc2.bias
        assert torch.allclose(mlp(x), expected, atol=1e-5)


@pytest.mark.parametrize("bias", [True, False])
def test_temporal_term_is_linear_in_t_only_without_motion_mlp_bias(tiny_generator_config, bias):
    """Without biases f_M is positively homogeneous: f_M(σt·w_t·2t) = 2·f_M(σt·w_t·t) for t ≥ 0."""
    G = make(tiny_generator_config, motion_mlp_bias=bias)
    z, zm = latents(tiny_generator_config)
    embedding = G.blocks[0].embedding
    if bias:
        assert embedding.motion_mlp.fc1.bias is not None
        with torch.no_grad():
            for layer in (embedding.motion_mlp.fc1, embedding.motion_mlp.fc2):
                layer.bias.normal_()
    else:
        assert embedding.motion_mlp.fc1.bias is None and embedding.motion_mlp.fc2.bias is None
    t = torch.tensor([[0.2, 0.5, 0.9]]).expand(2, -1)
    with torch.no_grad():
        w = G.mapping(z)
        one, two = embedding.temporal_term(w, zm, t), embedding.temporal_term(w, zm, 2 * t)
    gap = (two - 2 * one).abs().max().item()
    if bias:
        assert gap > 1e-2 * one.abs().max().item()
    else:
        assert gap <= 1e-6 * one.abs().max().item()


def test_sigma_t_changes_only_the_temporal_term(tiny_generator_config):
    z, zm = latents(tiny_generator_config)
    a = make(tiny_generator_config, sigma_t=0.25)
    b = make(tiny_generator_config, sigma_t=1.0)
    b.load_state_dict(a.state_dict())  # same weights, different σt
    with torch.no_grad():
        t = torch.tensor([0.0, 0.3, 0.9])
        # At t = 0 the argument σt·w_t·t of f_M is 0 whatever σt is.
        assert torch.equal(a(z, zm, t[:1]), b(z, zm, t[:1]))
        # σt enters only as the product σt·t: σt = 1 at t equals σt = 0.25 at 4t.
        assert torch.allclose(b(z, zm, t), a(z, zm, 4 * t), atol=1e-5)
        assert not torch.allclose(a(z, zm, t[1:]), b(z, zm, t[1:]), atol=1e-3)


@pytest.mark.parametrize("motion_mlp", [True, False])
def test_without_motion_latent_output_ignores_z_motion(tiny_generator_config, motion_mlp):
    G = make(tiny_generator_config, motion_latent=False, motion_mlp=motion_mlp)
    z, zm = latents(tiny_generator_config)
    t = torch.linspace(0, 1, 4)
    with torch.no_grad():
        assert torch.equal(G(z, zm, t), G(z, torch.randn_like(zm), t))
    with_zm = make(tiny_generator_config, motion_mlp=motion_mlp)
    with torch.no_grad():
        assert not torch.allclose(with_zm(z, zm, t[1:]), with_zm(z, torch.randn_like(zm), t[1:]), atol=1e-4)


def test_without_content_latent_motion_parameter_ignores_z_content(tiny_generator_config):
    G = make(tiny_generator_config, content_latent=False)
    z, zm = latents(tiny_generator_config)
    embedding = G.blocks[0].embedding
    w1, w2 = G.mapping(z), G.mapping(torch.randn_like(z))
    assert torch.equal(embedding.motion_parameter(w1, zm), embedding.motion_parameter(w2, zm))
    assert not torch.equal(make(tiny_generator_config).blocks[0].embedding.motion_parameter(w1, zm),
                           make(tiny_generator_config).blocks[0].embedding.motion_parameter(w2, zm))


def test_class_conditional_generator_depends_on_label(tiny_generator_config):
    G = make(tiny_generator_config, num_classes=5)
    z, zm = latents(tiny_generator_config)
    t = torch.tensor([0.0, 0.5])
    with torch.no_grad():
        a = G(z, zm, t, torch.tensor([0, 1]))
        b = G(z, zm, t, torch.tensor([2, 3]))
    assert not torch.allclose(a, b)
    with pytest.raises(ValueError, match="class labels"):
        G(z, zm, t)


def test_output_shapes_for_times_resolution_and_window(tiny_generator_config):
    G = make(tiny_generator_config)
    z, zm = latents(tiny_generator_config)
    with torch.no_grad():
        assert G(z, zm, torch.tensor([-1.0, 0.0, 2.5, 4.0])).shape == (2, 4, 3, 32, 32)
        assert G(z, zm, torch.rand(2, 3)).shape == (2, 3, 3, 32, 32)  # per-video times
        assert G(z, zm, torch.zeros(1), resolution=64).shape == (2, 1, 3, 64, 64)
        assert G(z, zm, torch.zeros(1), resolution=48).shape == (2, 1, 3, 48, 48)  # levels 12, 24, 48
        assert G(z, zm, torch.zeros(1), resolution=16).shape == (2, 1, 3, 16, 16)
        assert G(z, zm, torch.zeros(1), spatial_range=(-0.25, 1.25)).shape == (2, 1, 3, 32, 32)
    with pytest.raises(ValueError, match="multiple of 4"):
        G(z, zm, torch.zeros(1), resolution=50)


def test_double_resolution_renders_the_same_video_more_densely(tiny_generator_config):
    """A 2× render, box-downsampled, is close to the 1× render (INR-GAN's levels are sampled on a
    finer grid, so the match is approximate), far closer than another video is."""
    G = make(tiny_generator_config)
    z, zm = latents(tiny_generator_config)
    t = torch.tensor([0.2, 1.7])
    with torch.no_grad():
        base = G(z, zm, t)
        fine = G(z, zm, t, resolution=64)
    pooled = torch.nn.functional.avg_pool2d(fine.flatten(0, 1), 2).view_as(base)
    other_video = (base[0] - base[1]).abs().mean()
    assert (pooled - base).abs().mean() < 0.35 * other_video


def test_spatial_window_selects_part_of_the_frame(tiny_generator_config):
    """The window [0, ½]² at 32² is the bottom-left quadrant of the full frame rendered at 64²."""
    G = make(tiny_generator_config)
    z, zm = latents(tiny_generator_config)
    t = torch.tensor([0.5])
    with torch.no_grad():
        quadrant = G(z, zm, t, spatial_range=(0.0, 0.5))
        full = G(z, zm, t, resolution=64)
    assert torch.allclose(quadrant, full[..., 32:, :32], atol=1e-4)


def test_coordinate_grid_matches_official_convention():
    grid = coordinate_grid(4).view(2, 4, 4)
    assert torch.allclose(grid[0, 0], torch.tensor([-1.0, -0.5, 0.0, 0.5]))  # x grows rightwards
    assert torch.allclose(grid[1, :, 0], torch.tensor([0.5, 0.0, -0.5, -1.0]))  # y grows upwards


@pytest.mark.parametrize("kwargs", [{}, {"resolution": 64}, {"spatial_range": (-0.25, 1.25)}])
def test_frames_outside_unit_interval_continue_smoothly(tiny_generator_config, kwargs):
    G = make(tiny_generator_config)
    z, zm = latents(tiny_generator_config)
    times = torch.linspace(-0.5, 2.0, 26)  # step 0.1, crossing t = 0 and t = 1
    with torch.no_grad():
        video = G(z, zm, times, **kwargs)
        step = (video[:, 1:] - video[:, :-1]).abs().mean(dim=(0, 2, 3, 4))
        tiny = (G(z, zm, torch.tensor([1.0, 1.0 + 1e-4]), **kwargs).diff(dim=1)).abs().max()
    inside = step[5:15]  # steps within [0, 1]
    assert step.max() < 4 * inside.median()  # no jump anywhere, including outside [0, 1]
    assert tiny < 1e-2  # continuous at the boundary t = 1


def test_paper_widths_parameter_count():
    """Official G has 63.5 M parameters; ours lacks only f_M's biases (3 × 256)."""
    G = Generator(GeneratorConfig())
    count = sum(p.numel() for p in G.parameters())
    assert abs(count - 63.5e6) < 0.1e6


def test_image_inr_gan_baseline_ignores_time_and_motion(tiny_generator_config):
    """Table 6's baseline: an INR-GAN image generator (no G_M, no f_M): every frame is the same image."""
    G = make(tiny_generator_config, motion=False)
    z, zm = latents(tiny_generator_config)
    with torch.no_grad():
        video = G(z, zm, torch.linspace(0, 1, 4))
        assert torch.equal(video, video[:, :1].expand_as(video))
        assert torch.equal(video, G(z, torch.randn_like(zm), torch.linspace(0, 1, 4)))
    assert not any("motion" in name for name, _ in G.named_parameters())
