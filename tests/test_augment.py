"""Appendix A.1: DiffAug colour + translation, the same augmentation for every frame of a video."""
import torch

from digan.training.augment import augment_videos, sample_augment_params


def test_frames_of_one_video_get_identical_augmentation():
    torch.manual_seed(0)
    frame = torch.rand(6, 1, 3, 16, 16) * 2 - 1
    videos = frame.expand(6, 4, 3, 16, 16)  # 4 identical frames per video
    params = sample_augment_params(6, 16, torch.Generator().manual_seed(1))
    out = augment_videos(videos, params)
    assert torch.equal(out, out[:, :1].expand_as(out))


def test_different_videos_get_different_augmentation():
    frame = torch.rand(1, 1, 3, 16, 16) * 2 - 1
    videos = frame.expand(8, 2, 3, 16, 16)  # the same content for 8 videos
    params = sample_augment_params(8, 16, torch.Generator().manual_seed(2))
    out = augment_videos(videos, params)
    for i in range(8):
        for j in range(i + 1, 8):
            assert not torch.allclose(out[i], out[j])


def test_translation_shifts_with_zero_fill_and_cutout_is_not_available():
    x = torch.arange(16.0).view(1, 1, 1, 4, 4)
    params = sample_augment_params(1, 4, torch.Generator())
    params.shift = torch.tensor([[1, -1]])
    out = augment_videos(x, params, ("translation",))[0, 0, 0]
    assert torch.equal(out[0], torch.zeros(4))
    assert torch.equal(out[1:, :3], x[0, 0, 0, :3, 1:])
    assert torch.equal(out[:, 3], torch.zeros(4))


def test_augmentation_is_differentiable():
    x = torch.rand(2, 2, 3, 8, 8, requires_grad=True)
    params = sample_augment_params(2, 8, torch.Generator().manual_seed(3))
    augment_videos(x, params).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
