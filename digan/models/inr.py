"""Implicit-representation building blocks: coordinate grids, the Fourier coordinate embedding with
DIGAN's motion term, and INR-GAN's factorized multiplicative modulation (FMM) layers.

Activations inside the generator are kept as ``[B, C, T·H·W]``: all frames of one video share that
video's modulated weights, so every 1×1 layer is one batched matmul over the whole video.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from digan.models.ops import LRELU_GAIN, LRELU_SLOPE, FullyConnected


def upsample_nearest(x: Tensor, frames: int, side: int) -> Tensor:
    """×2 nearest upsampling of ``[B, C, T·side·side]``."""
    b, c, _ = x.shape
    x = x.view(b, c, frames, side, 1, side, 1).expand(b, c, frames, side, 2, side, 2)
    return x.reshape(b, c, frames * 4 * side * side)


def coordinate_grid(resolution: int, spatial_range: tuple[float, float] = (0.0, 1.0),
                    device: torch.device | None = None) -> Tensor:
    """Pixel coordinates ``[2, R·R]`` (x, y) for a square window of the unit frame.

    The training frame is u ∈ [0, 1) in both axes, mapped to the official code's coordinates
    2u − 1 ∈ [−1, 1) with x growing rightwards and y growing upwards. ``spatial_range`` (a, b)
    samples u = a + (b − a)·k/R, so (0, 1) reproduces the training grid, a larger resolution
    interpolates it and (−0.25, 1.25) zooms out (paper Fig. 9).
    """
    a, b = spatial_range
    u = a + (b - a) * torch.arange(resolution, device=device, dtype=torch.float32) / resolution
    c = 2.0 * u - 1.0
    x = c.view(1, -1).expand(resolution, resolution)
    y = c.flip(0).view(-1, 1).expand(resolution, resolution)
    return torch.stack([x.reshape(-1), y.reshape(-1)])


class MotionMLP(nn.Module):
    """f_M of the first layer's temporal term f_M(σt·w_t·t) (paper §3.2, Appendix A.1).

    The official code (``src/training/layers.py``, CoordFuser's motion branch) applies torch's
    default leaky ReLU (slope 0.01, no gain) to σt·w_t·t, then a fully connected layer with
    StyleGAN2's leaky ReLU (slope 0.2, gain √2) and a linear one, both with biases initialised to 0.
    That is the default. ``bias=False`` follows the paper's wording ("no bias"): every piece is then
    positively homogeneous, so f_M(σt·w_t·t) = t·f_M(σt·w_t) for t ≥ 0 and the temporal term is
    linear in t — f_M can no longer bend a trajectory over time.
    """

    PRE_ACTIVATION_SLOPE = 0.01  # torch's F.leaky_relu default, as the official code

    def __init__(self, features: int, bias: bool = True) -> None:
        super().__init__()
        self.fc1 = FullyConnected(features, features, bias=bias, activation=True)
        self.fc2 = FullyConnected(features, features, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.fc1(F.leaky_relu(x, self.PRE_ACTIVATION_SLOPE)))


class CoordinateEmbedding(nn.Module):
    """Per-resolution Fourier features sin/cos(σx·wx·x + σy·wy·y + f_M(σt·w_t·t) + b) (paper §3.2).

    wx, wy, b come from an affine of the content code w (φ_I = G_I(z_I)); the motion parameter
    w_t = G_M(z_I, z_M) is an affine of [w, z_M] (only z_M without the content latent, Table 7;
    only w without the motion latent, Table 5). With ``motion=False`` there is no temporal term:
    the image INR-GAN that Table 6 compares against.
    """

    def __init__(self, w_dim: int, motion_z_dim: int, size: int, *, sigma_xy: float, sigma_t: float,
                 motion_latent: bool, content_latent: bool, motion_mlp: bool, motion_mlp_bias: bool = True,
                 motion: bool = True) -> None:
        super().__init__()
        self.size = size
        self.sigma_xy = sigma_xy
        self.sigma_t = sigma_t
        self.motion_latent = motion_latent
        self.content_latent = content_latent
        self.spatial_affine = FullyConnected(w_dim, 3 * size)  # wx, wy, b
        motion_in = (w_dim if content_latent else 0) + (motion_z_dim if motion_latent else 0)
        self.motion_affine = FullyConnected(motion_in, size) if motion else None  # G_M
        self.motion_mlp = MotionMLP(size, motion_mlp_bias) if motion and motion_mlp else None

    @property
    def channels(self) -> int:
        return 2 * self.size

    def motion_parameter(self, w: Tensor, z_motion: Tensor) -> Tensor:
        """w_t = G_M(z_I, z_M): ``[B, size]``."""
        parts = ([w] if self.content_latent else []) + ([z_motion] if self.motion_latent else [])
        return self.motion_affine(torch.cat(parts, dim=1))

    def temporal_term(self, w: Tensor, z_motion: Tensor, times: Tensor) -> Tensor:
        """f_M(σt·w_t·t) for every frame: ``[B, T, size]``; the only place σt enters."""
        if self.motion_affine is None:
            return w.new_zeros(w.shape[0], times.shape[1], self.size)
        m = self.sigma_t * self.motion_parameter(w, z_motion)[:, None, :] * times[:, :, None]
        return self.motion_mlp(m) if self.motion_mlp is not None else m

    def forward(self, w: Tensor, z_motion: Tensor, times: Tensor, grid: Tensor) -> Tensor:
        """Embedding ``[B, 2·size, T·P]`` for ``times [B, T]`` and ``grid [2, P]``."""
        batch, frames = times.shape
        mod = self.spatial_affine(w)
        w_xy = self.sigma_xy * mod[:, : 2 * self.size].view(batch, self.size, 2)
        bias = mod[:, 2 * self.size:]
        spatial = torch.matmul(w_xy, grid)  # [B, size, P]
        offset = bias[:, None, :] + self.temporal_term(w, z_motion, times)  # [B, T, size]
        pre = spatial[:, :, None, :] + offset.transpose(1, 2).contiguous()[:, :, :, None]  # [B, size, T, P]
        pre = pre.reshape(batch, self.size, frames * grid.shape[1])
        if pre.requires_grad:  # out= is not differentiable; inference writes in place instead of cat
            return torch.cat([pre.sin(), pre.cos()], dim=1)
        out = pre.new_empty(batch, 2 * self.size, pre.shape[2])
        torch.sin(pre, out=out[:, : self.size])
        torch.cos(pre, out=out[:, self.size:])
        return out


class FMMLayer(nn.Module):
    """1×1 layer with factorized multiplicative modulation and demodulation (INR-GAN).

    W_b = W ⊙ (1 + A_b·B_b / √rank), rows renormalised; A_b, B_b are an affine of w.
    Inputs may arrive as several tensors (features, Fourier embedding) that are never concatenated:
    the weight is split by columns and the products are summed.
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, rank: int) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.rank = rank
        self.affine = FullyConnected(w_dim, (in_channels + out_channels) * rank)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels))
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def modulated_weight(self, w: Tensor) -> Tensor:
        styles = self.affine(w)
        batch = w.shape[0]
        left = styles[:, : self.out_channels * self.rank].view(batch, self.out_channels, self.rank)
        right = styles[:, self.out_channels * self.rank:].view(batch, self.rank, self.in_channels)
        modulation = torch.bmm(left, right) / math.sqrt(self.rank)
        weight = self.weight[None] * (modulation + 1.0)
        return weight / (weight.norm(dim=2, keepdim=True) + 1e-8)

    def forward(self, w: Tensor, features: Tensor | None = None, embedding: Tensor | None = None,
                upsample_from: tuple[int, int] | None = None) -> Tensor:
        """Apply to [features; embedding] (``[B, C, T·P]`` each) without concatenating them.

        With ``upsample_from=(frames, side)`` the features are at half resolution: a 1×1 layer
        commutes with nearest upsampling, so they are projected first and the (smaller) result is
        upsampled, which is the official upsample-then-project maths with 4× fewer multiply-adds.
        """
        # lrelu(x)·√2 = lrelu(√2·x): the gain is folded into weight and bias, saving a pass.
        weight = self.modulated_weight(w) * LRELU_GAIN
        n_feat = 0 if features is None else features.shape[1]
        n_emb = 0 if embedding is None else embedding.shape[1]
        if n_feat + n_emb != self.in_channels:
            raise ValueError(f"FMM layer expects {self.in_channels} input channels, got {n_feat + n_emb}")
        bias = (self.bias * LRELU_GAIN).view(1, -1, 1)
        out = None
        if features is not None:
            out = torch.baddbmm(bias, weight[:, :, :n_feat], features)
            if upsample_from is not None:
                out = upsample_nearest(out, *upsample_from)
        if embedding is not None:
            emb_weight = weight[:, :, n_feat:]
            out = torch.baddbmm(bias, emb_weight, embedding) if out is None else out.baddbmm_(emb_weight, embedding)
        return torch.nn.functional.leaky_relu_(out, LRELU_SLOPE)


class ToRGB(nn.Module):
    """Modulated 1×1 projection to RGB without demodulation (StyleGAN2 skip architecture)."""

    def __init__(self, in_channels: int, w_dim: int) -> None:
        super().__init__()
        self.affine = FullyConnected(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(3, in_channels))
        self.bias = nn.Parameter(torch.zeros(3))
        self.weight_gain = 1.0 / math.sqrt(in_channels)

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        styles = self.affine(w) * self.weight_gain
        weight = self.weight[None] * styles[:, None, :]
        return torch.baddbmm(self.bias.view(1, 3, 1), weight, x)
