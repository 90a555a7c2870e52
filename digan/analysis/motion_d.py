"""Motion-discriminator response to Δt (paper Figure 10, §4.3 "Ablation studies").

The paper feeds the motion D the first and last frames of real clips, (i_0, i_1), whose true time
difference is Δt = 1, together with a Δt swept over [0, 1]: a D that uses Δt calls the triplet fake
near Δt = 0 and real near Δt = 1. Frames enter as in training (uint8 / 127.5 − 1, no augmentation).
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from digan.config import config_from_dict
from digan.data.clip_store import ClipStore
from digan.models.discriminator import VideoDiscriminators, motion_input

CHUNK = 64  # pairs per D call, rounded down to a multiple of the minibatch-std group


@torch.no_grad()
def motion_d_response(state: Mapping[str, Any], store: str | Path, *, deltas: int = 11, pairs: int = 32,
                      seed: int = 0, split: str = "all", device: torch.device | str = "cpu") -> dict:
    """Mean and std over ``pairs`` real clips of the motion-D logit of (i_0, i_1, Δt) for each Δt in
    linspace(0, 1, ``deltas``), with the D of a loaded training checkpoint ``state``.

    The motion D's minibatch-std layer mixes statistics within groups, so the number of pairs is
    cut to a multiple of its group size (reported as ``pairs``).
    """
    if deltas < 2 or pairs < 1:
        raise ValueError("need deltas >= 2 and pairs >= 1")
    cfg = config_from_dict(state["config"])
    if not cfg.generator.motion:
        raise ValueError("generator.motion is false (image-only INR-GAN baseline); its "
                         "motion discriminator was never trained, so Figure 10 does not apply")
    clips = ClipStore(store)
    side = cfg.generator.resolution
    if clips.resolution != (side, side):
        raise ValueError(f"clip store {store} is {clips.resolution} but the checkpoint's resolution is {side}")
    D = VideoDiscriminators(cfg.discriminator, side, cfg.generator.num_classes)
    D.load_state_dict(state["D"])
    D.eval().to(device)

    pool = np.arange(len(clips)) if split == "all" else clips.split_indices(split)
    group = cfg.discriminator.mbstd_group
    n = min(pairs, len(pool))
    if n >= group:
        n -= n % group
    if n == 0:
        raise ValueError(f"clip store {store} has no clips in split {split!r}")
    chosen = np.sort(np.random.default_rng(seed).choice(pool, n, replace=False))
    ends = np.stack([clips.frames_at(int(i), [0, clips.frames - 1]) for i in chosen])  # [n, 2, H, W, 3]
    frames = torch.from_numpy(ends).to(device).permute(0, 1, 4, 2, 3).float().div_(127.5).sub_(1.0)
    labels = torch.from_numpy(clips.labels[chosen]).to(device) if cfg.generator.num_classes else None

    chunk = max(group, CHUNK - CHUNK % group)
    grid = np.linspace(0.0, 1.0, deltas)
    means, stds = [], []
    for delta in grid:
        logits = []
        for s in range(0, n, chunk):
            part = slice(s, s + chunk)
            dt = torch.full((len(frames[part]),), float(delta), device=frames.device)
            x = motion_input(frames[part, 0], frames[part, 1], dt)
            logits.append(D.motion(x, labels[part] if labels is not None else None).flatten())
        values = torch.cat(logits).double()
        means.append(float(values.mean()))
        stds.append(float(values.std(unbiased=False)))
    return {"delta_t": grid.tolist(), "logit_mean": means, "logit_std": stds, "pairs": int(n),
            "real_delta_t": 1.0, "step": int(state["step"]), "split": split}
