"""What an evaluate stage writes and the report reads: the schema of metrics/<experiment>/<file>.json.

Every name both sides use is defined here once: the analyses of params.yaml and the files each writes,
the time scenarios, speed variants, prediction methods and media kinds. Every file is a :class:`Header`
(where its numbers come from) plus its analysis' payload. The writer validates each file before writing
it and the report on reading it, so a field renamed on one side fails loudly instead of reading as
"not measured".
"""
from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, Field, model_validator

from digan.schema import Schema, one_of

# analysis name (params.yaml experiments.<x>.analyses) -> the files it writes, metrics/<experiment>/<stem>.json
ANALYSIS_FILES: dict[str, tuple[str, ...]] = {
    "quality": ("quality",), "curve": ("curve",), "time": ("time",), "speed": ("speed",),
    "space": ("space", "space_recon"), "prediction": ("prediction",), "motion_d": ("motion_d",), "media": ("media",),
}
ANALYSES = tuple(ANALYSIS_FILES)
# Table 2's time grids (16 frames each): the training grid t = k/15, half-way between training frames
# (all of them strictly inside (0, 1)), and the 16 frames after the clip (t in (1, 2]).
TIME_SCENARIOS: dict[str, tuple[float, float]] = {
    "standard": (0.0, 1.0), "interpolation": (1 / 32, 31 / 32), "extrapolation": (1 + 1 / 15, 2.0)}
SPEED_BATCH = 4  # the batched variant of Table 3
SPEED_VARIANTS: dict[str, str] = {"batch1": "batch 1", f"batch{SPEED_BATCH}": f"batch {SPEED_BATCH}",
                                  "frames_sequential": "frames one at a time",
                                  "frames_parallel": "all frames in parallel"}
PREDICTION_METHODS: dict[str, str] = {"digan_projection": "DIGAN (projection of the given frames)",
                                      "image_latent_interpolation": "image GAN latent interpolation"}
# media kind -> (the paper's figure number, what it shows); files metrics/<experiment>/media/<kind>.<suffix>
MEDIA_KINDS: dict[str, tuple[int, str]] = {
    "long": (1, "long video"), "samples": (3, "random samples"), "extrapolation": (4, "time extrapolation"),
    "prediction": (5, "forward and backward prediction"),
    "diverse_motion": (6, "diverse motions from one initial frame"),
    "upsampling": (7, "space interpolation (upsampling)"), "zoom_out": (9, "space extrapolation (zoom-out)")}
LONG_VIDEO_MEDIA = ("samples", "long")  # a store of clips longer than 16 frames (Fig. 1)
CLIP_MEDIA = ("samples", "extrapolation", "diverse_motion", "upsampling", "zoom_out")
PREDICTION_MEDIA = "prediction"


def result_path(metrics_root: Path, experiment: str, stem: str) -> Path:
    return metrics_root / experiment / f"{stem}.json"


def _only(names: Collection[str]) -> AfterValidator:
    """A mapping whose keys are some of ``names`` (an analysis may measure only part of them)."""
    def check(mapping: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(mapping) - set(names))
        if unknown:
            raise ValueError(f"unknown keys {unknown}; known: {list(names)}")
        return mapping
    return AfterValidator(check)


def _scale_keys(scales: dict[str, Any]) -> dict[str, Any]:
    if not all(k.isdigit() for k in scales):
        raise ValueError(f"keys must be integers, got {sorted(scales)}")
    return scales


class PretrainedSource(Schema):
    path: str
    sha256: str


class Header(Schema):
    """Where every number of a file comes from; the same in every file of one evaluate run."""

    experiment: str
    profile: str
    pretrained: PretrainedSource | None
    dataset: str  # <clip set>/<store> trained on
    label: str
    real_clips: str  # <clip set>/<store> the metrics compare with
    real_split: str
    tables: list[int]
    checkpoint: str
    train_steps: int


class MetricResult(Schema):
    """One metric over N runs (digan.metrics.protocol.MetricResult.to_dict)."""

    metric: str  # fvd, kvd or is (digan.metrics.METRICS)
    backbone: str
    runs: list[float]
    samples_real: int
    samples_fake: int
    distinct_runs: bool
    notes: list[str]
    key: str
    mean: float
    std: float

    @model_validator(mode="after")
    def _key_names_backbone(self) -> MetricResult:
        if self.key != f"{self.metric}_{self.backbone}":
            raise ValueError(f"key {self.key!r} is not {self.metric}_{self.backbone}")
        return self


def _keyed(results: dict[str, MetricResult]) -> dict[str, MetricResult]:
    for key, result in results.items():
        if key != result.key:
            raise ValueError(f"{key} holds {result.key}")
    return results


Metrics = Annotated[dict[str, MetricResult], AfterValidator(_keyed)]  # result key (fvd_i3d) -> result


class Protocol(Schema):
    runs: int
    samples: int
    is_samples: int
    frames: int
    stride: int
    seed: int


class RealClips(Schema):
    path: str
    split: str
    clips: int
    bad_files: list[str]


class GeneratedClips(Schema):
    checkpoint: str
    clips_per_run: int
    t_range: list[float]


class FileClips(Schema):
    path: str
    clips: int
    bad_files: list[str]


class Floors(Schema):
    """The references of every quality number, at its counts (evaluate.floors)."""

    untrained: Metrics  # the generator at initialisation
    real: Metrics | None = None  # the training split's clips as the generated side; absent when it is the real split
    real_clips: RealClips | None = None  # those clips


class Quality(Header):
    """FVD/KVD/IS of the final EMA generator (Tables 1, 5, 7, 8)."""

    config: dict[str, Any]  # the model configuration from the checkpoint (digan.config)
    protocol: Protocol
    real: RealClips | None = None  # absent when only IS was measured
    fake: GeneratedClips | FileClips
    metrics: Metrics  # the profile's backbones at its counts, and also_scored_with backbones at theirs
    floors: Floors | None = None


class CurvePoint(Schema):
    step: int
    checkpoint: str
    metrics: Metrics


class Curve(Header):
    """FVD/KVD at every snapshot of training and at the end."""

    points: list[CurvePoint] = Field(min_length=1)
    protocol: Protocol


class TimeScenario(Schema):
    times: list[float] = Field(min_length=1)
    metrics: Metrics


class Time(Header):
    """Table 2: FVD/KVD of frames rendered at each scenario's times."""

    scenarios: Annotated[dict[str, TimeScenario], _only(TIME_SCENARIOS)]
    protocol: Protocol


class SpeedTiming(Schema):
    seconds_per_video: float
    batch_size: int
    repeats: int


class Speed(Header):
    """Table 3: generation time per video."""

    resolution: int
    frames: int
    device: str
    threads: int
    variants: Annotated[dict[str, SpeedTiming], _only(SPEED_VARIANTS)]
    macs_per_video: float
    matmul_roofline_ratio: float  # generator FLOP/s over dense-matmul FLOP/s


class RealSet(Schema):
    path: str
    clips: int


class SpaceScale(Schema):
    resolution: int
    real: RealSet
    inr: Metrics
    bicubic: Metrics


class Space(Header):
    """Table 4: FVD of INR and bicubic upsampling at each scale."""

    base_resolution: int
    frames: int
    backbone: str
    runs: int
    samples: int
    seed: int
    scales: Annotated[dict[str, SpaceScale], AfterValidator(_scale_keys)]


class InrBicubic(Schema):
    inr: float
    bicubic: float


class ReconScale(Schema):
    resolution: int
    psnr: InrBicubic
    ssim: InrBicubic
    clips: int


class SpaceRecon(Header):
    """Table 4: PSNR/SSIM of projected clips rendered at each scale against real clips there."""

    scales: Annotated[dict[str, ReconScale], AfterValidator(_scale_keys)]
    projection_steps: int
    base_psnr: float
    base_ssim: float
    base_resolution: int
    clip_indices: list[int]
    split: str
    data_range: str
    notes: list[str]


class SsimSummary(Schema):
    mean: float
    std: float
    per_clip: list[float]


class Prediction(Header):
    """Table 6: SSIM of the frames predicted between given ones."""

    method: Annotated[str, one_of(PREDICTION_METHODS, "prediction method")]
    ssim: SsimSummary
    per_frame_ssim: dict[str, float]
    projection_loss: float
    clips: int
    clip_indices: list[int]
    projection_steps: int
    given_frames: list[int]
    predicted_frames: list[int]
    split: str
    data_range: str
    notes: list[str]


class MotionD(Header):
    """Fig. 10: the motion discriminator's logit as the Δt fed to it varies."""

    delta_t: list[float]
    logit_mean: list[float]
    logit_std: list[float]
    pairs: int
    real_delta_t: float
    step: int
    split: str

    @model_validator(mode="after")
    def _one_value_per_delta(self) -> MotionD:
        if not len(self.delta_t) == len(self.logit_mean) == len(self.logit_std):
            raise ValueError("delta_t, logit_mean and logit_std must have equal lengths")
        return self


class Media(Header):
    """Figs. 1, 3-7, 9: the media files written per kind, under metrics/<experiment>/media/."""

    files: Annotated[dict[str, list[str]], _only(MEDIA_KINDS)]


RESULTS: dict[str, type[Header]] = {"quality": Quality, "curve": Curve, "time": Time, "speed": Speed,
                                    "space": Space, "space_recon": SpaceRecon, "prediction": Prediction,
                                    "motion_d": MotionD, "media": Media}
