"""Latent projection: find (w, z_M) whose video matches given frames (paper §4.2 Fig. 5, Appendix E.2).

The paper "follow[s] StyleGAN2 projection procedure (Karras et al., 2020)" for 20,000 iterations.
As StyleGAN2's projector, one content code w (W space, shared by every layer) is optimised with
Adam (β = 0.9, 0.999), starting at the mean of many mapped z; Gaussian noise scaled by the spread
of W is added to w and ramps down quadratically over the first 75 % of the steps, and the learning
rate ramps up over the first 5 % and down with a cosine over the last 25 %. Adapted to DIGAN:

* the motion latent z_M is optimised jointly, starting at 0 (the mean of its N(0, I) prior, the
  analogue of starting w at its mean) with the same noise ramp scaled by the prior's spread;
* the loss is pixel MSE averaged over a 2× average-pool pyramid instead of LPIPS (no LPIPS weights
  are available offline); the coarse levels let the optimiser move objects before fitting detail;
* there is no noise-map regulariser: the INR generator has no per-pixel noise inputs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from digan.models.generator import Generator

W_AVG_SAMPLES = 10_000  # StyleGAN2's w_avg_samples
INITIAL_NOISE_FACTOR = 0.05
NOISE_RAMP_LENGTH = 0.75
LR_RAMPUP_LENGTH = 0.05
LR_RAMPDOWN_LENGTH = 0.25
_MIN_PYRAMID_SIDE = 8  # coarser levels carry too few pixels to guide anything


@dataclass
class Projection:
    """Per-video latents found by ``project`` and the objective before and after optimisation."""

    w: Tensor  # [B, w_dim]
    z_motion: Tensor  # [B, motion_z_dim]
    loss: Tensor  # [B] final pyramid MSE on [-1, 1] pixels, without the optimisation noise
    initial_loss: Tensor  # [B] the same at the starting point
    steps: int


def learning_rate(progress: float, base: float) -> float:
    """StyleGAN2 projector schedule at ``progress`` = step / steps ∈ [0, 1)."""
    ramp = min(1.0, (1.0 - progress) / LR_RAMPDOWN_LENGTH)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    return base * ramp * min(1.0, progress / LR_RAMPUP_LENGTH)


def pyramid_mse(fake: Tensor, real: Tensor, levels: int = 3) -> Tensor:
    """Per-video MSE ``[B]`` of ``[B, K, 3, H, W]`` frames, averaged over up to ``levels`` 2× pooled scales."""
    batch = fake.shape[0]
    x, y = fake.flatten(0, 1), real.flatten(0, 1)
    losses = []
    for level in range(levels):
        if level and x.shape[-1] < 2 * _MIN_PYRAMID_SIDE:
            break
        if level:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
        losses.append((x - y).square().reshape(batch, -1).mean(dim=1))
    return torch.stack(losses).mean(dim=0)


def synthesize_frames(G: Generator, w: Tensor, z_motion: Tensor, times: Tensor, *,
                      resolution: int | None = None, chunk: int = 16) -> Tensor:
    """Frames ``[B, T, 3, H, W]`` at ``times`` [T] from W-space codes, ``chunk`` frames at a time."""
    with torch.no_grad():
        parts = [G.synthesize(w, z_motion, times[i:i + chunk], resolution=resolution)
                 for i in range(0, times.shape[0], chunk)]
    return torch.cat(parts, dim=1)


def render(G: Generator, projection: Projection, times: Tensor, *, resolution: int | None = None) -> Tensor:
    """The projected videos at any ``times`` [T] (inter/extrapolation) and output ``resolution``."""
    return synthesize_frames(G, projection.w, projection.z_motion, times, resolution=resolution)


def mean_w(G: Generator, labels: Tensor | None, batch: int, generator: torch.Generator) -> tuple[Tensor, float]:
    """Starting codes ``[batch, w_dim]`` (the mean mapped w, per class when conditional) and W's spread.

    The spread is StyleGAN2's w_std = sqrt(E‖w − w̄‖²), the scale of the optimisation noise.
    """
    device = next(G.parameters()).device
    z = torch.randn(W_AVG_SAMPLES, G.cfg.z_dim, generator=generator).to(device)
    with torch.no_grad():
        if labels is None:
            samples = G.mapping(z)[None]
            index = torch.zeros(batch, dtype=torch.long)
        else:
            classes, index = labels.cpu().unique(return_inverse=True)
            samples = torch.stack([G.mapping(z, torch.full((W_AVG_SAMPLES,), int(c), device=device))
                                   for c in classes])
    means = samples.mean(dim=1)
    spread = (samples - means[:, None]).square().sum(dim=2).mean().sqrt().item()
    return means[index.to(device)], spread


def _motion_used(G: Generator) -> bool:
    return G.cfg.motion and G.cfg.motion_latent


def project(G: Generator, frames: Tensor, times: Tensor, *, steps: int, lr: float = 0.05, seed: int = 0,
            labels: Tensor | None = None, levels: int = 3) -> Projection:
    """Fit ``(w, z_M)`` of each video to ``frames`` [B, K, 3, H, W] in [-1, 1] shown at ``times`` [K].

    Videos are optimised together but independently (the loss is a sum of per-video terms and Adam
    is elementwise). Frames are matched at their own resolution (any size G can render). ``labels``
    [B] pick the per-class starting w of a class-conditional G. An image-only G (``cfg.motion``
    False) ignores t, so it takes single frames (K = 1); z_M is then left at 0, as it is whenever G
    has no motion latent.
    """
    if frames.dim() != 5 or frames.shape[2] != 3 or frames.shape[3] != frames.shape[4]:
        raise ValueError(f"frames must be [B, K, 3, H, H], got {tuple(frames.shape)}")
    if times.dim() != 1 or times.shape[0] != frames.shape[1]:
        raise ValueError(f"times must be [K] with K = {frames.shape[1]}, got {tuple(times.shape)}")
    if not G.cfg.motion and frames.shape[1] != 1:
        raise ValueError("an image-only generator ignores t: project each frame separately (K = 1)")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    device = next(G.parameters()).device
    frames, times = frames.to(device), times.to(device)
    batch, resolution = frames.shape[0], frames.shape[-1]
    gen = torch.Generator().manual_seed(seed)
    w_start, w_std = mean_w(G, labels, batch, gen)
    z_std = math.sqrt(G.cfg.motion_z_dim)  # sqrt(E‖z_M‖²) under N(0, I)

    w_opt = w_start.clone().requires_grad_(True)
    z_opt = torch.zeros(batch, G.cfg.motion_z_dim, device=device, requires_grad=_motion_used(G))
    params = [w_opt, z_opt] if _motion_used(G) else [w_opt]
    optimizer = torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999))

    def objective(w: Tensor, z_motion: Tensor) -> Tensor:
        return pyramid_mse(G.synthesize(w, z_motion, times, resolution=resolution), frames, levels)

    with torch.no_grad():
        initial = objective(w_opt, z_opt)
    for step in range(steps):
        progress = step / steps
        noise = INITIAL_NOISE_FACTOR * max(0.0, 1.0 - progress / NOISE_RAMP_LENGTH) ** 2
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(progress, lr)
        w = w_opt + torch.randn(w_opt.shape, generator=gen).to(device) * (noise * w_std)
        z_motion = z_opt + torch.randn(z_opt.shape, generator=gen).to(device) * (noise * z_std)
        # autograd.grad, not backward: G's own parameters never receive .grad.
        grads = torch.autograd.grad(objective(w, z_motion).sum(), params)
        for p, g in zip(params, grads):
            p.grad = g
        optimizer.step()
    with torch.no_grad():
        final = objective(w_opt, z_opt)
    return Projection(w=w_opt.detach(), z_motion=z_opt.detach(), loss=final, initial_loss=initial, steps=steps)
