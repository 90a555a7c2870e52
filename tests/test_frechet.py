"""Fréchet distance equals the textbook formula with scipy's general matrix square root."""
import numpy as np
from scipy import linalg

from digan.metrics.frechet import frechet_distance, frechet_distance_of_features, gaussian_stats


def reference(mu1, s1, mu2, s2) -> float:
    covmean = linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def test_matches_scipy_sqrtm_reference():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(500, 12)), rng.normal(0.3, 1.5, size=(400, 12)) @ rng.normal(size=(12, 12))
    mu1, s1 = gaussian_stats(a)
    mu2, s2 = gaussian_stats(b)
    expected = reference(mu1, s1, mu2, s2)
    assert abs(frechet_distance(mu1, s1, mu2, s2) - expected) <= 1e-6 * abs(expected)


def test_distance_of_a_set_to_itself_is_zero():
    x = np.random.default_rng(1).normal(size=(300, 8))
    assert frechet_distance_of_features(x, x) < 1e-8
