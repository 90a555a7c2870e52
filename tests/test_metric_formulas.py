"""FVD, KVD, IS, SSIM and PSNR against independent, straightforward reference computations."""
import math

import numpy as np
import pytest
import torch
from scipy import linalg
from scipy.ndimage import gaussian_filter

from digan.metrics.frechet import frechet_distance_of_features
from digan.metrics.inception_score import inception_score
from digan.metrics.kvd import kernel_distance
from digan.metrics.protocol import distance_runs, inception_score_runs
from digan.metrics.ssim import psnr, ssim


def fvd_reference(x, y):
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    return ((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean)


def kvd_reference(x, y):
    """Explicit double loops over pairs, k(a, b) = (a·b/d + 1)³, diagonal terms excluded."""
    d = x.shape[1]
    k = lambda a, b: (float(np.dot(a, b)) / d + 1) ** 3  # noqa: E731
    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_fvd_matches_scipy_sqrtm_reference():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 20))
    y = rng.normal(0.2, 1.3, size=(250, 20)) @ rng.normal(size=(20, 20)) * 0.3
    expected = fvd_reference(x, y)
    assert frechet_distance_of_features(x, y) == pytest.approx(expected, rel=1e-6)
    assert frechet_distance_of_features(x, x) == pytest.approx(0.0, abs=1e-8)


def test_kvd_matches_explicit_double_loop():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(40, 6)), rng.normal(0.5, 1.0, size=(35, 6))
    assert kernel_distance(x, y) == pytest.approx(kvd_reference(x, y), rel=1e-6)


def test_kvd_is_unbiased_zero_for_one_distribution():
    rng = np.random.default_rng(2)
    values = [kernel_distance(rng.normal(size=(50, 4)), rng.normal(size=(50, 4))) for _ in range(400)]
    sem = np.std(values) / math.sqrt(len(values))
    assert abs(np.mean(values)) < 3 * sem
    shifted = [kernel_distance(rng.normal(size=(50, 4)), rng.normal(0.5, 1, size=(50, 4))) for _ in range(50)]
    assert np.mean(shifted) > 10 * sem


@pytest.mark.parametrize("k", [2, 10, 101])
def test_inception_score_of_uniform_one_hot_is_k_and_of_identical_is_one(k):
    one_hot = np.eye(k)[np.arange(10 * k) % k]
    assert inception_score(one_hot) == pytest.approx(k, rel=1e-9)
    identical = np.tile(np.random.default_rng(3).dirichlet(np.ones(k)), (50, 1))
    assert inception_score(identical) == pytest.approx(1.0, abs=1e-9)


def ssim_reference(a, b, data_range=255.0):
    """scikit-image's convention written out with scipy: Gaussian σ = 1.5, window 11, valid region."""
    out = []
    for c in range(a.shape[0]):
        x, y = a[c].astype(np.float64), b[c].astype(np.float64)
        f = lambda t: gaussian_filter(t, 1.5, truncate=3.5)  # noqa: E731
        mx, my = f(x), f(y)
        vx, vy, cxy = f(x * x) - mx ** 2, f(y * y) - my ** 2, f(x * y) - mx * my
        c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
        s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
        out.append(s[5:-5, 5:-5].mean())
    return float(np.mean(out))


def test_ssim_matches_reference_and_psnr_formula():
    rng = np.random.default_rng(4)
    a = rng.integers(0, 256, size=(2, 3, 32, 40))
    b = np.clip(a + rng.normal(0, 20, size=a.shape), 0, 255).round()
    got = ssim(torch.from_numpy(a), torch.from_numpy(b))
    for i in range(2):
        assert got[i].item() == pytest.approx(ssim_reference(a[i], b[i]), rel=1e-6)
    assert torch.allclose(ssim(torch.from_numpy(a), torch.from_numpy(a)), torch.ones(2, dtype=torch.float64))
    mse = ((a[0] - b[0]) ** 2).mean()
    assert psnr(torch.from_numpy(a), torch.from_numpy(b))[0].item() == pytest.approx(10 * np.log10(255 ** 2 / mse))
    assert math.isinf(psnr(torch.from_numpy(a), torch.from_numpy(a))[0].item())


def test_protocol_runs_draw_distinct_subsets_and_name_the_backbone():
    rng = np.random.default_rng(5)
    real, fake = rng.normal(size=(100, 5)), rng.normal(0.3, 1, size=(100, 5))
    fvd, kvd = distance_runs(real, fake, backbone="probe", runs=4, samples=50, seed=0)
    assert (fvd.key, kvd.key) == ("fvd_probe", "kvd_probe")
    assert len(set(fvd.runs)) == 4 and fvd.distinct_runs and fvd.std > 0
    assert fvd.runs == distance_runs(real, fake, backbone="probe", runs=4, samples=50, seed=0)[0].runs
    whole = distance_runs(real, fake, backbone="probe", runs=3, samples=500, seed=0)[0]
    assert not whole.distinct_runs and whole.std == 0 and whole.notes
    per_run = [rng.normal(size=(50, 5)) for _ in range(3)]
    assert distance_runs(real, per_run, backbone="i3d", runs=3, samples=50)[0].distinct_runs
    score = inception_score_runs(np.eye(4)[np.arange(40) % 4], backbone="c3d", runs=2, samples=40)
    assert score.key == "is_c3d" and score.mean == pytest.approx(4.0)
