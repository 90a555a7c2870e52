"""The evaluation protocol: N runs of M real and M fake clips, mean ± std.

Paper (Appendix A.2, following TGANv2): FVD and KVD over 10 runs of 2,048 real and 2,048 fake
clips (5 runs for analyses), IS over 10,000 generated videos. Each run draws its own subsets with a
generator seeded by (seed, run); when a set is not larger than M the run uses all of it, and the
result says so (``distinct_runs`` is False when every run saw the same clips). The spread is the
population standard deviation over runs, as the official code (``np.std``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from digan.metrics.frechet import frechet_distance_of_features
from digan.metrics.inception_score import inception_score
from digan.metrics.kvd import kernel_distance


@dataclass
class MetricResult:
    metric: str  # "fvd", "kvd" or "is"
    backbone: str  # the network whose outputs were scored: "i3d", "c3d", "probe"
    runs: list[float]
    samples_real: int
    samples_fake: int
    distinct_runs: bool
    notes: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        """Always names the backbone: ``fvd_i3d`` is the paper's FVD, ``fvd_probe`` is not."""
        return f"{self.metric}_{self.backbone}"

    @property
    def mean(self) -> float:
        return float(np.mean(self.runs))

    @property
    def std(self) -> float:
        return float(np.std(self.runs))

    def to_dict(self) -> dict:
        return {**asdict(self), "key": self.key, "mean": self.mean, "std": self.std}


def _subset(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    return np.arange(n) if size >= n else np.sort(rng.choice(n, size, replace=False))


def distance_runs(real: np.ndarray, fake: np.ndarray | list[np.ndarray], *, backbone: str, runs: int,
                  samples: int, seed: int = 0, metrics: tuple[str, ...] = ("fvd", "kvd")) -> list[MetricResult]:
    """FVD (Fréchet distance) and KVD (polynomial MMD²) of feature sets over ``runs`` runs.

    ``fake`` is one feature set to subsample per run, or a list with a fresh set per run (a
    generator evaluated with new latents each run, as the official code).
    """
    per_run_fakes = isinstance(fake, list)
    if per_run_fakes and len(fake) != runs:
        raise ValueError(f"{len(fake)} fake feature sets for {runs} runs")
    scores: dict[str, list[float]] = {m: [] for m in metrics}
    used_real = used_fake = 0
    for run in range(runs):
        rng = np.random.default_rng([seed, run])
        x = real[_subset(len(real), samples, rng)]
        pool = fake[run] if per_run_fakes else fake
        y = pool[_subset(len(pool), samples, rng)]
        used_real, used_fake = len(x), len(y)
        if "fvd" in scores:
            scores["fvd"].append(frechet_distance_of_features(x, y))
        if "kvd" in scores:
            scores["kvd"].append(kernel_distance(x, y))
    distinct = runs > 1 and (len(real) > samples or per_run_fakes or len(fake) > samples)
    notes = []
    if used_real < samples or used_fake < samples:
        notes.append(f"fewer clips than the {samples} requested: {used_real} real, {used_fake} fake per run")
    return [MetricResult(m, backbone, v, used_real, used_fake, distinct, notes) for m, v in scores.items()]


def inception_score_runs(probabilities: np.ndarray | list[np.ndarray], *, backbone: str, runs: int,
                         samples: int, seed: int = 0) -> MetricResult:
    """IS over ``runs`` runs of ``samples`` generated videos (TGAN protocol: 10,000 videos)."""
    per_run = isinstance(probabilities, list)
    scores = []
    used = 0
    for run in range(runs):
        pool = probabilities[run] if per_run else probabilities
        part = pool[_subset(len(pool), samples, np.random.default_rng([seed, run, 1]))]
        used = len(part)
        scores.append(inception_score(part))
    distinct = runs > 1 and (per_run or len(probabilities) > samples)
    notes = [f"fewer videos than the {samples} requested: {used} per run"] if used < samples else []
    return MetricResult("is", backbone, scores, 0, used, distinct, notes)
