"""StyleGAN2 discriminators of §3.2: image D on 3 channels, motion D on 7, R1 and projection."""
import torch

from digan.config import DiscriminatorConfig, load_config
from digan.models.discriminator import Discriminator, VideoDiscriminators, image_batch_order, motion_input
from digan.models.ops import MinibatchStd
from digan.train import prepare_data
from digan.training.augment import augment_videos, sample_augment_params
from digan.training.loop import Trainer, r1_penalty
from tests.helpers import tiny_config, write_config

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
    x = torch.randn(4, 7, 16, 16, requires_grad=True)
    penalty = r1_penalty(D(x), x)
    # Independent computation with torch.func: gradient of Σ D(x) w.r.t. the whole batch.
    grad = torch.func.grad(lambda inp: torch.func.functional_call(D, dict(D.named_parameters()), (inp,)).sum())(x)
    expected = (grad ** 2).sum(dim=(1, 2, 3))
    assert torch.allclose(penalty, expected, rtol=1e-5, atol=1e-8)
    # and the penalty is differentiable w.r.t. D's parameters (it is a D loss)
    penalty.sum().backward()


def test_image_batch_groups_hold_different_videos_and_split_over_ranks():
    order = image_batch_order(8, 4)
    videos = (order // 2).view(-1, 4)  # consecutive minibatch-std groups of 4
    assert all(len(set(g.tolist())) == 4 for g in videos)
    assert sorted(order.tolist()) == list(range(16))
    # DDP: each rank's 4 videos (8 frames) get the same groups as the single process's slice.
    for rank in range(2):
        assert torch.equal(order[rank * 8:(rank + 1) * 8], image_batch_order(4, 4) + rank * 8)
    assert torch.equal(image_batch_order(2, 4), torch.tensor([0, 2, 1, 3]))  # fewer videos than a group


def test_minibatch_std_of_the_image_batch_measures_variation_across_videos():
    """Frames of one video identical: the statistic must still see 4 different videos per group."""
    videos = torch.randn(8, 1, 4, 2, 2).expand(8, 2, 4, 2, 2)  # [N, 2 frames, C, H, W]
    order = image_batch_order(8, 4)
    y = MinibatchStd(4)(videos.reshape(16, 4, 2, 2)[order])
    for start in range(0, 16, 4):
        members = videos[order[start:start + 4] // 2, 0]
        expected = members.std(dim=0, unbiased=False).mean()
        assert torch.allclose(y[start:start + 4, 4], expected.expand(4, 2, 2), atol=1e-5)
    video_major = MinibatchStd(4)(videos.reshape(16, 4, 2, 2))  # the old order: 2 videos × 2 frames
    assert video_major[:, 4].mean() < 0.85 * y[:, 4].mean()


def test_r1_of_both_discriminators_follows_the_official_loss(tmp_path):
    """Motion-D R1 w.r.t. the un-augmented 7-channel input, image-D R1 w.r.t. the augmented frames."""
    cfg = load_config(write_config(tmp_path, tiny_config(tmp_path / "data" / "clips")))
    prepare_data(cfg)
    trainer = Trainer(cfg, tmp_path / "run")
    n, side = cfg.train.batch_size, cfg.generator.resolution
    frames, dt = torch.rand(n, 2, 3, side, side) * 2 - 1, torch.rand(n)
    state = trainer.aug_gen.get_state()
    _, _, r1 = trainer._discriminate(frames, dt, None, requires_input_grad=True)
    trainer.aug_gen.set_state(state)
    params = sample_augment_params(n, side, trainer.aug_gen)
    D = trainer.D
    order = image_batch_order(n, cfg.discriminator.mbstd_group)

    def motion_logit_sum(pairs):
        augmented = augment_videos(pairs[:, :6].reshape(n, 2, 3, side, side), params).reshape(n, 6, side, side)
        return torch.func.functional_call(D.motion, dict(D.motion.named_parameters()),
                                          (torch.cat([augmented, pairs[:, 6:]], dim=1),)).sum()

    def image_logit_sum(images):
        return torch.func.functional_call(D.image, dict(D.image.named_parameters()), (images,)).sum()

    pairs = motion_input(frames[:, 0], frames[:, 1], dt)
    motion_r1 = torch.func.grad(motion_logit_sum)(pairs).square().sum(dim=(1, 2, 3))
    images = augment_videos(frames, params).reshape(2 * n, 3, side, side)[order]
    per_frame = torch.func.grad(image_logit_sum)(images).square().sum(dim=(1, 2, 3))
    image_r1 = torch.zeros(n).index_add(0, order // 2, per_frame)
    assert torch.allclose(r1, motion_r1 + image_r1 / 2, rtol=1e-4)
    # The old rule (w.r.t. the augmented motion input) gives a different penalty: the test can fail.
    augmented_pairs = torch.cat([augment_videos(frames, params).reshape(n, 6, side, side), pairs[:, 6:]], dim=1)
    motion_params = dict(D.motion.named_parameters())
    grad = torch.func.grad(lambda x: torch.func.functional_call(D.motion, motion_params, (x,)).sum())
    old = grad(augmented_pairs).square().sum(dim=(1, 2, 3))
    assert not torch.allclose(old, motion_r1, rtol=1e-2)


def test_conditional_d_maps_labels_with_eight_layers_as_stylegan2():
    """cmap = 8 × [lrelu(lr-0.01 FC)·√2] of normalize(embed(onehot)); logit = ⟨out, cmap⟩ / √cmap_dim."""
    D = Discriminator(TINY, 16, 3, num_classes=4)
    assert len(D.cmap_mapping) == 8  # StyleGAN2 MappingNetwork default; the official D keeps it
    x, labels = torch.randn(4, 3, 16, 16), torch.tensor([0, 3, 1, 2])
    with torch.no_grad():
        for p in D.parameters():
            if p.dim() == 1:
                p.normal_()  # non-zero biases, so the test sees them
        onehot = torch.nn.functional.one_hot(labels, 4).float()
        h = onehot @ (D.embed.weight / 2).T + D.embed.bias
        h = h * (h.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()
        for layer in D.cmap_mapping:
            n = layer.weight.shape[1]
            h = torch.nn.functional.leaky_relu(h @ (layer.weight * 0.01 / n ** 0.5).T + layer.bias * 0.01, 0.2)
            h = h * 2 ** 0.5
        features = D.epilogue.fc(D.epilogue.conv(D.epilogue.mbstd(D.blocks(D.fromrgb(x)))).flatten(1))
        expected = (D.epilogue.out(features) * h).sum(dim=1, keepdim=True) / h.shape[1] ** 0.5
        assert torch.allclose(D(x, labels), expected, atol=1e-5)
