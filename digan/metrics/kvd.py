"""Kernel video distance: the unbiased MMD² with the cubic polynomial kernel
k(x, y) = (x·y / d + 1)³ on I3D features (Unterthiner et al., 2018; the official DIGAN code uses
scikit-learn's ``polynomial_kernel`` defaults, which are this kernel).
"""
from __future__ import annotations

import numpy as np


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def kernel_distance(real: np.ndarray, fake: np.ndarray) -> float:
    """Unbiased MMD² estimate: diagonal terms are left out of the within-set means."""
    x = np.asarray(real, dtype=np.float64)
    y = np.asarray(fake, dtype=np.float64)
    m, n = x.shape[0], y.shape[0]
    if m < 2 or n < 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"need two [N >= 2, D] feature sets of equal D, got {x.shape} and {y.shape}")
    k_xx = polynomial_kernel(x, x)
    k_yy = polynomial_kernel(y, y)
    k_xy = polynomial_kernel(x, y)
    within_x = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    within_y = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(within_x + within_y - 2.0 * k_xy.mean())
