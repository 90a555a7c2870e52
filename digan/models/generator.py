"""DIGAN generator: INR-GAN's multi-scale FMM network with a motion branch (paper §3.2, Fig. 2).

A video is the function v(x, y, t; φ) with content parameters φ_I = G_I(z_I) (mapping network and
per-layer affines of w) and motion parameter w_t = G_M(z_I, z_M) entering the first layer of every
coordinate embedding. Frames are evaluated at any times, resolution and spatial window.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from digan.config import GeneratorConfig
from digan.models.inr import CoordinateEmbedding, FMMLayer, ToRGB, coordinate_grid, upsample_nearest
from digan.models.ops import FullyConnected, normalize_2nd_moment


class MappingNetwork(nn.Module):
    """z_I (and a class label) → w, as StyleGAN2 with DIGAN's 2 layers and lr multiplier 0.01."""

    def __init__(self, z_dim: int, w_dim: int, num_layers: int, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.embed = FullyConnected(num_classes, w_dim) if num_classes > 0 else None
        dims = [z_dim + (w_dim if num_classes > 0 else 0)] + [w_dim] * num_layers
        self.layers = nn.Sequential(*[FullyConnected(i, o, activation=True, lr_multiplier=0.01)
                                      for i, o in zip(dims[:-1], dims[1:])])

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        x = normalize_2nd_moment(z)
        if self.embed is not None:
            if labels is None:
                raise ValueError("this generator is class-conditional: pass class labels")
            onehot = nn.functional.one_hot(labels, self.num_classes).to(z.dtype)
            x = torch.cat([x, normalize_2nd_moment(self.embed(onehot))], dim=1)
        return self.layers(x)


class SynthesisBlock(nn.Module):
    """One resolution level: optional ×2 nearest upsampling and new coordinate embedding,
    FMM layers, and a skip toRGB."""

    def __init__(self, in_channels: int, out_channels: int, *, scale: int, upsample: bool,
                 embedding: CoordinateEmbedding | None, num_layers: int, w_dim: int, rank: int) -> None:
        super().__init__()
        self.scale = scale  # nominal side length of this block's feature map
        self.upsample = upsample
        self.embedding = embedding
        first_in = in_channels + (embedding.channels if embedding is not None else 0)
        ins = [first_in] + [out_channels] * (num_layers - 1)
        self.layers = nn.ModuleList([FMMLayer(i, out_channels, w_dim, rank) for i in ins])
        self.torgb = ToRGB(out_channels, w_dim)


class Generator(nn.Module):
    """G(z_I, z_M, times) → video ``[B, T, 3, H, W]`` in [−1, 1] (unclamped)."""

    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.mapping = MappingNetwork(cfg.z_dim, cfg.w_dim, cfg.mapping_layers, cfg.num_classes)
        levels = [2 ** i for i in range(2, cfg.resolution.bit_length())]  # 4, 8, ..., resolution
        channels = {r: min(cfg.channel_base // r, cfg.channel_max) for r in levels}

        def embedding() -> CoordinateEmbedding:
            return CoordinateEmbedding(cfg.w_dim, cfg.motion_z_dim, cfg.embedding_size,
                                       sigma_xy=cfg.sigma_xy, sigma_t=cfg.sigma_t,
                                       motion_latent=cfg.motion_latent, content_latent=cfg.content_latent,
                                       motion_mlp=cfg.motion_mlp, motion_mlp_bias=cfg.motion_mlp_bias,
                                       motion=cfg.motion)

        blocks = []
        for r in levels:
            first = r == 4
            new_level = r > cfg.input_resolution
            layers = (1 if first else 2) + (1 if r >= cfg.extra_conv_from else 0)
            blocks.append(SynthesisBlock(
                0 if first else channels[r // 2], channels[r],
                scale=max(r, cfg.input_resolution), upsample=new_level,
                embedding=embedding() if first or new_level else None,
                num_layers=layers, w_dim=cfg.w_dim, rank=cfg.fmm_rank))
        self.blocks = nn.ModuleList(blocks)

    def forward(self, z: Tensor, z_motion: Tensor, times: Tensor, labels: Tensor | None = None, *,
                resolution: int | None = None, spatial_range: tuple[float, float] = (0.0, 1.0)) -> Tensor:
        """Frames of each video at ``times`` ([T] shared or [B, T] per video, any real values)."""
        w = self.mapping(z, labels)
        return self.synthesize(w, z_motion, times, resolution=resolution, spatial_range=spatial_range)

    def synthesize(self, w: Tensor, z_motion: Tensor, times: Tensor, *, resolution: int | None = None,
                   spatial_range: tuple[float, float] = (0.0, 1.0)) -> Tensor:
        batch = w.shape[0]
        if times.dim() == 1:
            times = times[None].expand(batch, -1)
        if times.shape[0] != batch or z_motion.shape[0] != batch:
            raise ValueError(f"batch mismatch: w {batch}, z_motion {z_motion.shape[0]}, times {times.shape[0]}")
        frames = times.shape[1]
        out_res = resolution or self.cfg.resolution
        if out_res < 1 or (self.cfg.input_resolution * out_res) % self.cfg.resolution:
            step = self.cfg.resolution // self.cfg.input_resolution
            raise ValueError(f"resolution {out_res} must be a multiple of {step} (training resolution "
                             f"{self.cfg.resolution} / input resolution {self.cfg.input_resolution}) so "
                             "that every level has a whole number of pixels")
        times = times.to(w.dtype)
        x = img = None
        side = 0
        for block in self.blocks:
            upsample_from = None
            if block.upsample and x is not None:
                upsample_from = (frames, side)
                img = upsample_nearest(img, frames, side)
            side = block.scale * out_res // self.cfg.resolution
            embedding = None
            if block.embedding is not None:
                grid = coordinate_grid(side, spatial_range, device=w.device)
                embedding = block.embedding(w, z_motion, times, grid)
            x = block.layers[0](w, x, embedding, upsample_from)
            for layer in block.layers[1:]:
                x = layer(w, x)
            rgb = block.torgb(x, w)
            img = rgb if img is None else img + rgb
        return img.view(batch, 3, frames, side, side).permute(0, 2, 1, 3, 4)
