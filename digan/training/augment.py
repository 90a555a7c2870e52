"""Differentiable augmentation (DiffAug, Zhao et al., 2020) applied consistently within a video.

DIGAN uses DiffAug's colour and translation policies, not cutout, and gives every frame of one
video the same parameters (Appendix A.1). Parameters are drawn from an explicit generator for the
whole global batch, so a DDP rank that augments its slice gets exactly what a single process would.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

TRANSLATION_RATIO = 0.125


@dataclass
class AugmentParams:
    """One set of parameters per video: brightness, saturation, contrast in [0, 1), integer shifts."""

    brightness: Tensor
    saturation: Tensor
    contrast: Tensor
    shift: Tensor  # [N, 2] (dy, dx)

    def slice(self, part: slice) -> AugmentParams:
        return AugmentParams(self.brightness[part], self.saturation[part], self.contrast[part], self.shift[part])


def sample_augment_params(num_videos: int, resolution: int, generator: torch.Generator) -> AugmentParams:
    colour = torch.rand(num_videos, 3, generator=generator)
    max_shift = int(resolution * TRANSLATION_RATIO + 0.5)
    shift = torch.randint(-max_shift, max_shift + 1, (num_videos, 2), generator=generator)
    return AugmentParams(colour[:, 0], colour[:, 1], colour[:, 2], shift)


def _translate(x: Tensor, shift: Tensor) -> Tensor:
    """Shift each video by integer (dy, dx), filling with zeros (DiffAug's translation)."""
    n, f, c, h, w = x.shape
    pad = int(shift.abs().max()) if shift.numel() else 0
    if pad == 0:
        return x
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    rows = torch.arange(h, device=x.device)[None] + pad - shift[:, 0:1].to(x.device)  # [N, H]
    cols = torch.arange(w, device=x.device)[None] + pad - shift[:, 1:2].to(x.device)  # [N, W]
    rows = rows.view(n, 1, 1, h, 1).expand(n, f, c, h, w + 2 * pad)
    padded = padded.gather(3, rows)
    cols = cols.view(n, 1, 1, 1, w).expand(n, f, c, h, w)
    return padded.gather(4, cols)


def augment_videos(x: Tensor, params: AugmentParams, policies: Sequence[str] = ("color", "translation")) -> Tensor:
    """Augment frames ``[N, F, 3, H, W]`` (F frames of each of N videos) with per-video parameters."""
    view = (-1, 1, 1, 1, 1)
    dev = x.device
    if "color" in policies:
        x = x + (params.brightness.to(dev, x.dtype).view(view) - 0.5)
        mean = x.mean(dim=2, keepdim=True)
        x = (x - mean) * (params.saturation.to(dev, x.dtype).view(view) * 2) + mean
        mean = x.mean(dim=(2, 3, 4), keepdim=True)
        x = (x - mean) * (params.contrast.to(dev, x.dtype).view(view) + 0.5) + mean
    if "translation" in policies:
        x = _translate(x, params.shift)
    return x
