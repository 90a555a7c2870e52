"""Cheap hand-made clip features for a quick distribution check of content and motion.

No pretrained network: per-frame colour statistics (content) and frame-difference statistics
(motion). The learning-signal check of tests/test_end_to_end.py; it is not FVD.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from digan.metrics.frechet import frechet_distance_of_features


def clip_statistics(videos: Tensor) -> np.ndarray:
    """Features ``[N, 13]`` for videos ``[N, T, 3, H, W]`` in [−1, 1]."""
    v = videos.double().clamp(-1, 1)
    frame_mean = v.mean(dim=(3, 4))  # [N, T, 3]
    frame_std = v.std(dim=(3, 4))  # [N, T, 3]
    diff = v[:, 1:] - v[:, :-1]
    motion = diff.abs().mean(dim=(2, 3, 4))  # [N, T-1]
    grad_x = (v[..., 1:] - v[..., :-1]).abs().mean(dim=(1, 2, 3, 4))  # texture sharpness
    feats = torch.cat([
        frame_mean.mean(dim=1), frame_std.mean(dim=1),  # content: colour and contrast
        frame_mean.std(dim=1),  # colour change over time
        motion.mean(dim=1, keepdim=True), motion.std(dim=1, keepdim=True),
        grad_x.unsqueeze(1),
        (v[:, -1] - v[:, 0]).abs().mean(dim=(1, 2, 3)).unsqueeze(1),  # long-range change
    ], dim=1)
    return feats.numpy()


def standardized_frechet_distance(real: np.ndarray, fake: np.ndarray) -> float:
    """Fréchet distance after scaling every feature by its spread in ``real``, so that no single
    statistic dominates because of its units."""
    scale = real.std(axis=0) + 1e-8
    return frechet_distance_of_features(real / scale, fake / scale)
