"""The paper's metrics as one library call: typed sources, backbones and protocol in, a report out.

``python -m digan.metrics`` and the pipeline's evaluate stage both call :func:`evaluate`, so the two
give the same numbers by construction. The fake side is either videos on disk or a generator that is
already loaded, so a caller scoring one model many times (time grids, IS with FVD) loads it once.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from digan.memory import DEFAULT_BUDGET_GB
from digan.metrics import DISTANCES, METRICS
from digan.metrics.backbones.registry import Backbone, VideoFn
from digan.metrics.features import VideoSource, cached_outputs, compute_outputs
from digan.metrics.generated import generated_clips
from digan.metrics.protocol import distance_runs, inception_score_runs
from digan.models.generator import Generator



def parse_metrics(text: str) -> tuple[str, ...]:
    """``"fvd, kvd,is"`` → ``("fvd", "kvd", "is")``: the one reading of a comma-separated metric list."""
    return tuple(m.strip() for m in text.split(",") if m.strip())


@dataclass(frozen=True)
class Clips:
    """Videos on disk: a directory of mp4/avi/gif files (searched recursively) or a clip store."""

    path: str | Path
    split: str = "all"  # clip stores: train, test or all
    limit: int | None = None  # clip stores: a fixed random subset of this many clips of the split


@dataclass(frozen=True)
class Generated:
    """Fresh videos for every run from ``G`` at times linspace(``t_range``), as the official evaluation;
    ``origin`` (its checkpoint) is recorded in the report, and synthesis stays within ``memory_budget_gb``."""

    G: Generator
    origin: str
    t_range: tuple[float, float] = (0.0, 1.0)
    memory_budget_gb: float = DEFAULT_BUDGET_GB


@dataclass(frozen=True)
class Backbones:
    """The networks scored: ``features`` for FVD/KVD, ``classifier`` for IS; each needed only by its metrics."""

    features: Backbone | None = None
    classifier: Backbone | None = None


@dataclass(frozen=True)
class Protocol:
    """N runs of M real and M fake clips (paper Appendix A.2), and which metrics to compute."""

    metrics: tuple[str, ...] = DISTANCES
    runs: int = 10
    samples: int = 2048  # real and fake clips per FVD/KVD run
    is_samples: int = 10000  # generated videos per IS run
    frames: int = 16
    stride: int = 1  # take every stride-th frame
    seed: int = 0
    max_bad_fraction: float = 0.1
    batch_size: int = 16

    def __post_init__(self) -> None:
        unknown = sorted(set(self.metrics) - set(METRICS))
        if unknown or not self.metrics:
            raise ValueError(f"metrics: unknown {unknown or 'empty list'}; choose from {', '.join(METRICS)}")

    @property
    def distances(self) -> tuple[str, ...]:
        return tuple(m for m in self.metrics if m in DISTANCES)

    def to_dict(self) -> dict[str, int]:
        return {"runs": self.runs, "samples": self.samples, "is_samples": self.is_samples, "frames": self.frames,
                "stride": self.stride, "seed": self.seed}


def evaluate(real: Clips | None, fake: Clips | Generated, backbones: Backbones, protocol: Protocol, *,
             cache_dir: Path | None = None) -> dict[str, Any]:
    """FVD/KVD of ``fake`` against ``real`` and IS of ``fake``, mean ± std over the protocol's runs.

    Real-clip outputs are cached under ``cache_dir`` (None: not cached) with a key that changes when any
    input changes. Every metric key names its backbone (``fvd_i3d``, ``is_probe``).
    """
    distances = protocol.distances
    if distances and real is None:
        raise ValueError("fvd and kvd need real clips (--real)")
    common = dict(frames=protocol.frames, stride=protocol.stride, max_bad_fraction=protocol.max_bad_fraction)
    fake_files = (VideoSource(Path(fake.path), split=fake.split, limit=fake.limit, **common)
                  if isinstance(fake, Clips) else None)
    report: dict[str, Any] = {"protocol": protocol.to_dict(), "metrics": {}}
    if distances:
        backbone = _needed(backbones.features, "features", "fvd and kvd")
        source = VideoSource(Path(real.path), split=real.split, limit=real.limit, **common)
        real_out = cached_outputs(backbone.features, backbone_identity=backbone.identity, kind="features",
                                  source=source, cache_dir=cache_dir, batch_size=protocol.batch_size)
        report["real"] = {"path": str(source.path), "split": real.split, "clips": len(real_out),
                          "bad_files": source.bad_files}
        fake_out = _fake_outputs(backbone.features, "features", fake, fake_files, protocol, protocol.samples,
                                 backbone.identity, cache_dir)
        report["fake"] = _describe_fake(fake, fake_files, fake_out)
        for result in distance_runs(real_out, fake_out, backbone=backbone.name, runs=protocol.runs,
                                    samples=protocol.samples, seed=protocol.seed, metrics=distances):
            report["metrics"][result.key] = result.to_dict()
    if "is" in protocol.metrics:
        classifier = _needed(backbones.classifier, "probabilities", "is")
        probs = _fake_outputs(classifier.probabilities, "probabilities", fake, fake_files, protocol,
                              protocol.is_samples, classifier.identity, cache_dir)
        report.setdefault("fake", _describe_fake(fake, fake_files, probs))
        result = inception_score_runs(probs, backbone=classifier.name, runs=protocol.runs,
                                      samples=protocol.is_samples, seed=protocol.seed)
        report["metrics"][result.key] = result.to_dict()
    return report


def _needed(backbone: Backbone | None, output: str, metrics: str) -> Backbone:
    if backbone is None or getattr(backbone, output) is None:
        name = "no backbone" if backbone is None else f"backbone {backbone.name!r}"
        raise ValueError(f"{metrics} need a backbone with {output}; got {name}")
    return backbone


def _fake_outputs(fn: VideoFn, kind: str, fake: Clips | Generated, files: VideoSource | None, protocol: Protocol,
                  count: int, identity: str, cache_dir: Path | None) -> np.ndarray | list[np.ndarray]:
    """One array for videos on disk (cached like the real clips), or a fresh array per run from a generator."""
    if files is not None:
        return cached_outputs(fn, backbone_identity=identity, kind=kind, source=files, cache_dir=cache_dir,
                              batch_size=protocol.batch_size)
    return [compute_outputs(fn, generated_clips(fake.G, count, frames=protocol.frames, t_range=tuple(fake.t_range),
                                                seed=protocol.seed, run=run, num_classes=fake.G.cfg.num_classes,
                                                memory_budget_gb=fake.memory_budget_gb),
                            total=count, batch_size=protocol.batch_size, desc=f"{kind} of generated run {run}")
            for run in range(protocol.runs)]


def _describe_fake(fake: Clips | Generated, files: VideoSource | None,
                   outputs: np.ndarray | list[np.ndarray]) -> dict[str, Any]:
    if files is None:
        return {"checkpoint": fake.origin, "clips_per_run": len(outputs[0]), "t_range": list(fake.t_range)}
    return {"path": str(files.path), "clips": len(outputs), "bad_files": files.bad_files}

