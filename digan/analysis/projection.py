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
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from digan.generate import synthesize_frames
from digan.memory import DEFAULT_BUDGET_GB, autograd_bytes, plan
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


def render(G: Generator, projection: Projection, times: Tensor, *, resolution: int | None = None,
           memory_budget_gb: float = DEFAULT_BUDGET_GB) -> Tensor:
    """The projected videos at any ``times`` [T] (inter/extrapolation) and output ``resolution``."""
    return synthesize_frames(G, projection.w, projection.z_motion, times, resolution=resolution,
                             memory_budget_gb=memory_budget_gb)


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


def noise_generators(seed: int, clip_ids: Sequence[int]) -> list[torch.Generator]:
    """One random stream per clip, seeded by (seed, clip id), so a clip's noise does not depend on which
    other clips are projected with it."""
    return [torch.Generator().manual_seed(int(np.random.SeedSequence([seed, int(i)]).generate_state(1)[0]))
            for i in clip_ids]


def _draw(gens: list[torch.Generator], size: int, device: torch.device) -> Tensor:
    """``[len(gens), size]`` standard normal values, row i from stream i."""
    return torch.stack([torch.randn(size, generator=g) for g in gens]).to(device)


def _objective(G: Generator, latents: tuple[Tensor, Tensor], frames: Tensor, times: Tensor, *, levels: int,
               chunk: int, noise: tuple[Tensor, Tensor] | None = None,
               wrt: list[Tensor] | None = None) -> tuple[Tensor, list[Tensor]]:
    """Per-video pyramid MSE ``[B]`` over all frames, synthesised ``chunk`` frames at a time, and with ``wrt``
    its gradient with respect to those tensors.

    A frame chunk's term is its pyramid MSE weighted by its share of the frames (each level's mean is a sum
    over frames), and each chunk runs its own backward pass, the gradients summed: the loss and gradient of
    all frames at once, holding one chunk's graph. ``noise`` is added to ``latents`` inside every chunk, so
    each chunk's graph reaches the optimised tensors on its own.
    """
    count = times.shape[0]
    loss = frames.new_zeros(frames.shape[0])
    grads: list[Tensor] = []
    for f in range(0, count, chunk):
        with torch.set_grad_enabled(wrt is not None):
            w, z_motion = latents if noise is None else (latents[0] + noise[0], latents[1] + noise[1])
            fake = G.synthesize(w, z_motion, times[f:f + chunk], resolution=frames.shape[-1])
            part = pyramid_mse(fake, frames[:, f:f + chunk], levels) * (fake.shape[1] / count)
        if wrt is not None:
            step = torch.autograd.grad(part.sum(), wrt)  # autograd.grad: G's parameters never get .grad
            grads = list(step) if not grads else [a + b for a, b in zip(grads, step)]
        loss += part.detach()
    return loss, grads


def _project_chunk(G: Generator, frames: Tensor, times: Tensor, w_start: Tensor, w_std: float,
                   gens: list[torch.Generator], *, steps: int, lr: float, levels: int,
                   frame_chunk: int) -> Projection:
    device = w_start.device
    z_std = math.sqrt(G.cfg.motion_z_dim)  # sqrt(E‖z_M‖²) under N(0, I)
    w_opt = w_start.clone().requires_grad_(True)
    z_opt = torch.zeros(len(gens), G.cfg.motion_z_dim, device=device, requires_grad=_motion_used(G))
    params = [w_opt, z_opt] if _motion_used(G) else [w_opt]
    optimizer = torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999))
    common = dict(levels=levels, chunk=frame_chunk)

    initial, _ = _objective(G, (w_opt, z_opt), frames, times, **common)
    for step in range(steps):
        progress = step / steps
        noise = INITIAL_NOISE_FACTOR * max(0.0, 1.0 - progress / NOISE_RAMP_LENGTH) ** 2
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(progress, lr)
        offsets = (_draw(gens, G.cfg.w_dim, device) * (noise * w_std),
                   _draw(gens, G.cfg.motion_z_dim, device) * (noise * z_std))
        _, grads = _objective(G, (w_opt, z_opt), frames, times, noise=offsets, wrt=params, **common)
        for p, g in zip(params, grads):
            p.grad = g
        optimizer.step()
    final, _ = _objective(G, (w_opt, z_opt), frames, times, **common)
    return Projection(w=w_opt.detach(), z_motion=z_opt.detach(), loss=final, initial_loss=initial, steps=steps)


def project(G: Generator, frames: Tensor, times: Tensor, *, steps: int, lr: float = 0.05, seed: int = 0,
            labels: Tensor | None = None, levels: int = 3, clip_ids: Sequence[int] | None = None,
            memory_budget_gb: float = DEFAULT_BUDGET_GB) -> Projection:
    """Fit ``(w, z_M)`` of each video to ``frames`` [B, K, 3, H, W] in [-1, 1] shown at ``times`` [K].

    Frames are matched at their own resolution (any size G can render). ``labels`` [B] pick the per-class
    starting w of a class-conditional G. An image-only G (``cfg.motion`` False) ignores t, so it takes
    single frames (K = 1); z_M is then left at 0, as it is whenever G has no motion latent.

    Every video is its own optimisation, so videos are projected in chunks, and the frames of a chunk in
    frame chunks with summed gradients (:func:`_objective`), within ``memory_budget_gb``
    (:func:`digan.memory.autograd_bytes`), and the result does not depend on the chunking: the loss is a
    sum of per-video terms (a mean over videos would scale every gradient by 1/B, which Adam's ε does not
    cancel exactly), Adam is elementwise, the starting w is the mean over one fixed z sample (``seed``),
    and each video draws its optimisation noise from its own stream seeded by (``seed``, its clip id;
    ``clip_ids``, default 0..B−1). Numerics against the earlier single-batch version: the loss was already
    a sum; the noise came from one stream for the batch, so a video's noise, and hence its result, depended
    on its batch. The official DIGAN code has no projection to compare with (its repository, at e822320,
    holds training, generation and FVD/KVD scripts only).
    """
    if frames.dim() != 5 or frames.shape[2] != 3 or frames.shape[3] != frames.shape[4]:
        raise ValueError(f"frames must be [B, K, 3, H, H], got {tuple(frames.shape)}")
    if times.dim() != 1 or times.shape[0] != frames.shape[1]:
        raise ValueError(f"times must be [K] with K = {frames.shape[1]}, got {tuple(times.shape)}")
    if not G.cfg.motion and frames.shape[1] != 1:
        raise ValueError("an image-only generator ignores t: project each frame separately (K = 1)")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    batch, count, resolution = frames.shape[0], frames.shape[1], frames.shape[-1]
    clip_ids = range(batch) if clip_ids is None else clip_ids
    if len(clip_ids) != batch:
        raise ValueError(f"clip_ids must name {batch} clips, got {len(clip_ids)}")
    device = next(G.parameters()).device
    times = times.to(device)
    w_start, w_std = mean_w(G, labels, batch, torch.Generator().manual_seed(seed))
    gens = noise_generators(seed, clip_ids)
    chunks = plan(autograd_bytes(G, resolution), batch, count, memory_budget_gb)
    parts = [_project_chunk(G, frames[s:s + chunks.videos].to(device), times, w_start[s:s + chunks.videos], w_std,
                            gens[s:s + chunks.videos], steps=steps, lr=lr, levels=levels, frame_chunk=chunks.frames)
             for s in range(0, batch, chunks.videos)]
    return Projection(w=torch.cat([p.w for p in parts]), z_motion=torch.cat([p.z_motion for p in parts]),
                      loss=torch.cat([p.loss for p in parts]), initial_loss=torch.cat([p.initial_loss for p in parts]),
                      steps=steps)
