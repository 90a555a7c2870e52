"""StyleGAN2 residual discriminator, used by DIGAN as the image D (3 channels: one frame) and the
motion D (7 channels: frame t1, frame t2 and a Δt plane), paper §3.2 and Appendix A.1.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from digan.config import DiscriminatorConfig
from digan.models.ops import Conv2d, FullyConnected, MinibatchStd, normalize_2nd_moment


class DiscriminatorBlock(nn.Module):
    """Two 3×3 convolutions, the second downsampling, plus a 1×1 residual path (gain √½ each)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv0 = Conv2d(in_channels, in_channels, 3)
        self.conv1 = Conv2d(in_channels, out_channels, 3, down=True)
        self.skip = Conv2d(in_channels, out_channels, 1, bias=False, activation=False, down=True)

    def forward(self, x: Tensor) -> Tensor:
        gain = math.sqrt(0.5)
        return self.skip(x, gain=gain) + self.conv1(self.conv0(x), gain=gain)


class DiscriminatorEpilogue(nn.Module):
    """4×4 head: minibatch-std, 3×3 conv, fully connected, then the logit or a class projection."""

    def __init__(self, channels: int, cmap_dim: int, mbstd_group: int, mbstd_channels: int) -> None:
        super().__init__()
        self.mbstd = MinibatchStd(mbstd_group, mbstd_channels) if mbstd_channels > 0 else None
        self.conv = Conv2d(channels + mbstd_channels, channels, 3)
        self.fc = FullyConnected(channels * 16, channels, activation=True)
        self.out = FullyConnected(channels, cmap_dim if cmap_dim > 0 else 1)
        self.cmap_dim = cmap_dim

    def forward(self, x: Tensor, cmap: Tensor | None) -> Tensor:
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.fc(self.conv(x).flatten(1))
        x = self.out(x)
        if cmap is not None:
            # Projection discriminator (Miyato & Koyama, 2018) as in StyleGAN2-ADA.
            x = (x * cmap).sum(dim=1, keepdim=True) / math.sqrt(self.cmap_dim)
        return x


class Discriminator(nn.Module):
    """D(x[, class]) → logits ``[N, 1]`` for inputs ``[N, channels, R, R]``."""

    def __init__(self, cfg: DiscriminatorConfig, resolution: int, in_channels: int, num_classes: int = 0) -> None:
        super().__init__()
        self.resolution = resolution
        self.in_channels = in_channels
        levels = [2 ** i for i in range(resolution.bit_length() - 1, 2, -1)]  # R, R/2, ..., 8
        channels = {r: min(cfg.channel_base // r, cfg.channel_max) for r in levels + [4]}
        self.fromrgb = Conv2d(in_channels, channels[resolution], 1)
        self.blocks = nn.Sequential(*[DiscriminatorBlock(channels[r], channels[r // 2]) for r in levels])
        cmap_dim = channels[4] if num_classes > 0 else 0
        self.num_classes = num_classes
        if num_classes > 0:
            self.embed = FullyConnected(num_classes, cmap_dim)
            self.cmap_mapping = nn.Sequential(*[FullyConnected(cmap_dim, cmap_dim, activation=True,
                                                               lr_multiplier=0.01)
                                                for _ in range(cfg.mapping_layers)])
        self.epilogue = DiscriminatorEpilogue(channels[4], cmap_dim, cfg.mbstd_group, cfg.mbstd_channels)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        if x.shape[1:] != (self.in_channels, self.resolution, self.resolution):
            raise ValueError(f"discriminator expects [N, {self.in_channels}, {self.resolution}, "
                             f"{self.resolution}], got {list(x.shape)}")
        cmap = None
        if self.num_classes > 0:
            if labels is None:
                raise ValueError("this discriminator is class-conditional: pass class labels")
            onehot = nn.functional.one_hot(labels, self.num_classes).to(x.dtype)
            cmap = self.cmap_mapping(normalize_2nd_moment(self.embed(onehot)))
        return self.epilogue(self.blocks(self.fromrgb(x)), cmap)


def motion_input(frame1: Tensor, frame2: Tensor, delta_t: Tensor) -> Tensor:
    """The motion D's 7-channel triplet (i_t1, i_t2, Δt): Δt broadcast as a constant plane."""
    n, _, h, w = frame1.shape
    plane = delta_t.to(frame1.dtype).view(n, 1, 1, 1).expand(n, 1, h, w)
    return torch.cat([frame1, frame2, plane], dim=1)


def image_batch_order(num_videos: int, group_size: int) -> Tensor:
    """Order of the 2N frames ``[v0f0, v0f1, v1f0, …]`` (video-major) in the image D's batch.

    The minibatch-std layer groups consecutive samples (so a DDP rank's slice holds whole groups).
    Frames are therefore arranged frame-major inside each block of ``group_size`` videos —
    ``[v0f0, v1f0, v2f0, v3f0, v0f1, …, v3f1]`` — so every group holds one frame of each of
    ``group_size`` different videos, as the official strided grouping over ``(b t)`` does
    (``src/training/networks.py``, MinibatchStdLayer): the statistic measures variation across
    samples, not within a video. With fewer videos than ``group_size`` one group spans the batch.
    """
    block = max(1, min(group_size, num_videos))
    if num_videos % block:
        raise ValueError(f"{num_videos} videos are not a multiple of the minibatch-std group size {block}")
    index = torch.arange(2 * num_videos).view(num_videos // block, block, 2)
    return index.transpose(1, 2).reshape(-1)


class VideoDiscriminators(nn.Module):
    """DIGAN's pair of discriminators: image D (3 ch) and motion D (7 ch)."""

    def __init__(self, cfg: DiscriminatorConfig, resolution: int, num_classes: int = 0) -> None:
        super().__init__()
        self.image = Discriminator(cfg, resolution, 3, num_classes)
        self.motion = Discriminator(cfg, resolution, 7, num_classes)
