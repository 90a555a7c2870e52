"""Generated clips for evaluation, drawn fresh for every run as the official evaluation does."""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from digan.generate import generate_frames
from digan.memory import DEFAULT_BUDGET_GB
from digan.models.generator import Generator


def generated_clips(G: Generator, count: int, *, frames: int = 16, t_range: tuple[float, float] = (0.0, 1.0),
                    seed: int = 0, run: int = 0, batch_size: int = 16, num_classes: int = 0,
                    memory_budget_gb: float = DEFAULT_BUDGET_GB) -> Iterator[np.ndarray]:
    """``count`` uint8 clips ``[frames, H, W, 3]`` at times linspace(t0, t1, frames), from latents
    seeded by (seed, run); class-conditional models get uniformly drawn labels.

    Latents are drawn ``batch_size`` videos at a time; each batch is synthesised in chunks within
    ``memory_budget_gb`` (:func:`digan.generate.generate_frames`), which changes no draw (and values only
    by float rounding).
    """
    gen = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, run]).generate_state(1)[0]))
    device = next(G.parameters()).device
    times = torch.linspace(t_range[0], t_range[1], frames, device=device)
    for start in range(0, count, batch_size):
        n = min(batch_size, count - start)
        z = torch.randn(n, G.cfg.z_dim, generator=gen).to(device)
        zm = torch.randn(n, G.cfg.motion_z_dim, generator=gen).to(device)
        labels = torch.randint(num_classes, (n,), generator=gen).to(device) if num_classes else None
        video = generate_frames(G, z, zm, times, labels=labels, memory_budget_gb=memory_budget_gb,
                                uint8=True).cpu()  # [n, T, 3, H, W]
        yield from video.permute(0, 1, 3, 4, 2).numpy()
