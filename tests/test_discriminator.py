"""StyleGAN2 discriminators of §3.2: image D on 3 channels, motion D on 7, R1 and projection."""
import torch

from digan.config import DiscriminatorConfig
from digan.models.discriminator import Discriminator, VideoDiscriminators, motion_input
from digan.models.ops import MinibatchStd
from digan.training.loop import r1_penalty

TINY = DiscriminatorConfig(channel_base=256, channel_max=32, mbstd_group=4)


def test_image_and_motion_discriminators_take_3_and_7_channels():
    D = VideoDiscriminators(TINY, 32)
    frames = torch.randn(4, 2, 3, 32, 32)
    pairs = motion_input(frames[:, 0], frames[:, 1], torch.rand(4))
    assert pairs.shape == (4, 7, 32, 32)
    assert D.image(frames.flatten(0, 1)).shape == (8, 1)
    assert D.motion(pairs).shape == (4, 1)


def test_delta_t_is_a_constant_plane():
    f = torch.randn(3, 3, 8, 8)
    dt = torch.tensor([0.0, 0.5, 1.0])
    pairs = motion_input(f, f, dt)
    assert torch.equal(pairs[:, 6], dt.view(3, 1, 1).expand(3, 8, 8))


def test_motion_d_depends_on_delta_t():
    D = Discriminator(TINY, 16, 7)
    f = torch.randn(4, 3, 16, 16)
    assert not torch.allclose(D(motion_input(f, f, torch.zeros(4))), D(motion_input(f, f, torch.ones(4))))


def test_minibatch_std_uses_consecutive_groups():
    x = torch.randn(8, 4, 2, 2)
    y = MinibatchStd(4)(x)
    expected0 = x[:4].std(dim=0, unbiased=False).mean()
    expected1 = x[4:].std(dim=0, unbiased=False).mean()
    assert torch.allclose(y[:4, 4], expected0.expand(4, 2, 2), atol=1e-5)
    assert torch.allclose(y[4:, 4], expected1.expand(4, 2, 2), atol=1e-5)


def test_class_projection_changes_logits():
    D = Discriminator(TINY, 16, 3, num_classes=4)
    x = torch.randn(4, 3, 16, 16)
    assert not torch.allclose(D(x, torch.tensor([0, 0, 0, 0])), D(x, torch.tensor([1, 2, 3, 1])))


def test_r1_penalty_equals_independent_autograd_computation():
    torch.manual_seed(0)
    D = Discriminator(TINY, 16, 7)
    x = torch.randn(4, 7, 16, 16)
    penalty, logits = r1_penalty(D, x)
    # Independent computation with torch.func: gradient of Σ D(x) w.r.t. the whole batch.
    grad = torch.func.grad(lambda inp: torch.func.functional_call(D, dict(D.named_parameters()), (inp,)).sum())(x)
    expected = (grad ** 2).sum(dim=(1, 2, 3))
    assert torch.allclose(penalty, expected, rtol=1e-5, atol=1e-8)
    assert torch.allclose(logits, D(x))
    # and the penalty is differentiable w.r.t. D's parameters (it is a D loss)
    penalty.sum().backward()
    assert D.fromrgb.weight.grad is not None and D.fromrgb.weight.grad.abs().sum() > 0


def test_paper_widths_parameter_count():
    """Official image + motion D at 128²: 56.8 M parameters together."""
    D = VideoDiscriminators(DiscriminatorConfig(), 128)
    assert abs(sum(p.numel() for p in D.parameters()) - 56.8e6) < 0.1e6
