"""Inception score IS = exp E_x[KL(p(y|x) ‖ p(y))] (Salimans et al., 2016), computed from class
probabilities of a video classifier (C3D for the TGAN protocol, or the in-pipeline probe)."""
from __future__ import annotations

import numpy as np


def inception_score(probabilities: np.ndarray, eps: float = 1e-12) -> float:
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] < 1:
        raise ValueError(f"need class probabilities [N, K], got shape {p.shape}")
    marginal = p.mean(axis=0, keepdims=True)
    kl = (p * (np.log(p + eps) - np.log(marginal + eps))).sum(axis=1)
    return float(np.exp(kl.mean()))
