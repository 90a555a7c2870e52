"""Layers shared by the generator and the discriminators.

StyleGAN2 conventions (Karras et al., 2020): weights are stored N(0, 1) and scaled at run time
("equalized learning rate"), leaky ReLU carries a gain of √2, resampling uses the [1, 3, 3, 1]
binomial filter.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)


def lrelu(x: Tensor) -> Tensor:
    """Leaky ReLU with StyleGAN2's √2 gain, so activations keep unit variance."""
    return F.leaky_relu(x, LRELU_SLOPE) * LRELU_GAIN


def normalize_2nd_moment(x: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


class FullyConnected(nn.Module):
    """Equalized-lr linear layer; ``lr_multiplier`` slows the mapping network as StyleGAN2 does."""

    def __init__(self, in_features: int, out_features: int, *, bias: bool = True, activation: bool = False,
                 lr_multiplier: float = 1.0, bias_init: float = 0.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier
        self.activation = activation

    def forward(self, x: Tensor) -> Tensor:
        bias = None if self.bias is None else self.bias * self.bias_gain
        x = F.linear(x, self.weight * self.weight_gain, bias)
        return lrelu(x) if self.activation else x


def _binomial_filter(device: torch.device | None = None) -> Tensor:
    f = torch.tensor([1.0, 3.0, 3.0, 1.0], device=device)
    f = torch.outer(f, f)
    return f / f.sum()


class Blur(nn.Module):
    """Depthwise 4×4 binomial low-pass filter applied before stride-2 sampling."""

    def __init__(self, padding: tuple[int, int, int, int]) -> None:
        super().__init__()
        self.padding = padding
        self.register_buffer("kernel", _binomial_filter()[None, None], persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        c = x.shape[1]
        x = F.pad(x, self.padding)
        return F.conv2d(x, self.kernel.expand(c, 1, 4, 4), groups=c)


class Conv2d(nn.Module):
    """Equalized-lr convolution with optional ×2 downsampling (blur, then stride 2)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, bias: bool = True,
                 activation: bool = True, down: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.activation = activation
        self.down = down
        self.padding = kernel_size // 2
        if down:
            # Pads so that blur + stride-2 convolution maps H to H/2, as StyleGAN2's conv2d_resample.
            p = self.padding
            self.blur = Blur((p + 1, p + 1, p + 1, p + 1) if kernel_size > 1 else (1, 1, 1, 1))

    def forward(self, x: Tensor, gain: float = 1.0) -> Tensor:
        w = self.weight * (self.weight_gain * gain)
        if self.down:
            x = self.blur(x)
            x = F.conv2d(x, w, stride=2)
        else:
            x = F.conv2d(x, w, padding=self.padding)
        if self.bias is not None:
            x = x + (self.bias * gain).view(1, -1, 1, 1)
        return lrelu(x) if self.activation else x


class MinibatchStd(nn.Module):
    """Minibatch standard deviation over groups of *consecutive* samples.

    Consecutive groups (not StyleGAN2's strided ones) keep each group inside one DDP rank's slice
    of the global batch, so a multi-process run equals a single process on the combined batch.
    """

    def __init__(self, group_size: int, num_channels: int = 1) -> None:
        super().__init__()
        self.group_size = group_size
        self.num_channels = num_channels

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        g = min(self.group_size, n)
        if n % g:
            raise ValueError(f"batch {n} is not a multiple of the minibatch-std group size {g}")
        f = self.num_channels
        y = x.reshape(n // g, g, f, c // f, h, w)
        y = (y.var(dim=1, unbiased=False) + 1e-8).sqrt()  # [n/g, f, c/f, h, w]
        y = y.mean(dim=(2, 3, 4))  # [n/g, f]
        y = y.repeat_interleave(g, dim=0).reshape(n, f, 1, 1).expand(n, f, h, w)
        return torch.cat([x, y], dim=1)
