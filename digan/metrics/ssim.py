"""SSIM and PSNR between frames (Tables 4 and 6).

SSIM follows Wang et al. (2004): 11×11 Gaussian window with σ = 1.5, K1 = 0.01, K2 = 0.03,
population (not sample) statistics, computed per channel on the valid region and averaged — the
convention of scikit-image's ``structural_similarity(gaussian_weights=True)``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

# Peak bytes ssim holds per input value (float64 copies, blurred maps, the formula's temporaries):
# 356 measured on CPU for 64 × 3 × 256² uint8 pairs; callers chunk frames by it.
SSIM_BYTES_PER_VALUE = 400


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    return torch.outer(g, g)


def ssim(a: Tensor, b: Tensor, data_range: float = 255.0) -> Tensor:
    """Mean SSIM per image for ``[N, C, H, W]`` pairs (any dtype; computed in float64)."""
    if a.shape != b.shape or a.dim() != 4:
        raise ValueError(f"need two [N, C, H, W] tensors of one shape, got {tuple(a.shape)}, {tuple(b.shape)}")
    x, y = a.double(), b.double()
    c = x.shape[1]
    window = _gaussian_window().to(x.device).expand(c, 1, 11, 11)

    def blur(t: Tensor) -> Tensor:
        return F.conv2d(t, window, groups=c)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x ** 2
    var_y = blur(y * y) - mu_y ** 2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))
    return s.mean(dim=(1, 2, 3))


def psnr(a: Tensor, b: Tensor, data_range: float = 255.0) -> Tensor:
    """PSNR per image in dB (inf for identical images)."""
    mse = (a.double() - b.double()).square().flatten(1).mean(dim=1)
    return 10 * torch.log10(data_range ** 2 / mse)
