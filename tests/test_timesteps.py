"""Appendix A.1: t1 ~ Beta(2,1), t2 ~ Beta(1,2) and the Δt histogram the paper reports."""
import numpy as np
import pytest
import torch

from digan.training.timesteps import sample_fake_times, sample_real_frame_pairs

PAPER_HISTOGRAM = (0.365, 0.427, 0.208)  # [0,1/3], [1/3,2/3], [2/3,1]
EDGES = (0.0, 1 / 3, 2 / 3, 1.0 + 1e-9)


def histogram(delta: torch.Tensor) -> np.ndarray:
    counts, _ = np.histogram(delta.numpy(), bins=EDGES)
    return counts / counts.sum()


def analytic_histogram(ordered: bool, n: int = 3000) -> np.ndarray:
    """Bin masses of Δt under the Beta densities 2a and 2(1−b), by midpoint integration."""
    x = (np.arange(n) + 0.5) / n
    a, b = np.meshgrid(x, x, indexing="ij")
    weight = 4 * a * (1 - b)
    if ordered:
        weight = weight * (a >= b)
    masses, _ = np.histogram(np.abs(a - b), bins=EDGES, weights=weight)
    return masses / masses.sum()


def test_ordered_rule_matches_paper_histogram_within_one_point():
    g = torch.Generator().manual_seed(0)
    t = sample_fake_times(100_000, g, "ordered")
    got = histogram(t[:, 1] - t[:, 0])
    assert np.abs(got - np.array(PAPER_HISTOGRAM)).max() < 0.01, got


@pytest.mark.parametrize("rule,ordered", [("abs", False), ("ordered", True)])
def test_sampled_histogram_matches_beta_densities(rule, ordered):
    g = torch.Generator().manual_seed(1)
    t = sample_fake_times(100_000, g, rule)
    assert np.abs(histogram(t[:, 1] - t[:, 0]) - analytic_histogram(ordered)).max() < 0.006


def test_official_abs_rule_differs_from_the_papers_stated_histogram():
    """|t1 − t2| of Beta(2,1), Beta(1,2) puts 44 % (not 36.5 %) of Δt in [0, 1/3]."""
    assert analytic_histogram(ordered=False)[0] == pytest.approx(0.440, abs=0.002)
    assert analytic_histogram(ordered=True)[0] == pytest.approx(0.368, abs=0.002)


def test_times_are_sorted_in_unit_interval_and_reproducible():
    a = sample_fake_times(1000, torch.Generator().manual_seed(3), "ordered")
    b = sample_fake_times(1000, torch.Generator().manual_seed(3), "ordered")
    assert torch.equal(a, b)
    assert (a[:, 0] <= a[:, 1]).all() and (a >= 0).all() and (a <= 1).all()


def test_real_pairs_use_frame_index_rule():
    g = torch.Generator().manual_seed(4)
    idx, delta = sample_real_frame_pairs(5000, 16, g)
    assert idx.min() >= 0 and idx.max() <= 15 and (idx[:, 0] <= idx[:, 1]).all()
    assert torch.allclose(delta, (idx[:, 1] - idx[:, 0]).float() / 15)


def test_unknown_rule_is_rejected():
    with pytest.raises(ValueError, match="Δt rule"):
        sample_fake_times(4, torch.Generator(), "uniform")
