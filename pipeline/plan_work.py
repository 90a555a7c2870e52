"""The device work of the train, evaluate and probe stages, in FLOPs, as their code really runs it.

A training step (digan/training/loop.py ``train_step``) per video of the batch: the G phase generates a
frame pair with gradients and passes it through both D's frozen; the D phase generates another pair
without gradients and trains both D's on it and on a real pair; every ``d_reg_interval`` steps the lazy R1
step runs both D's on the real pair again. Evaluation follows pipeline/evaluate.py analysis by analysis:
the generated videos of every run, the backbone features of each, the real clips' features (cached across
experiments, so counted once), projections step by step, and the figures' renders.
"""
from __future__ import annotations

import inspect
import math
from pathlib import Path

from digan.analysis.media import TRAIN_FRAMES, UPSAMPLING, write_media
from digan.analysis.motion_d import motion_d_response
from digan.analysis.space import METHODS
from digan.config import Config
from digan.data.synthetic import CLASS_NAMES
from digan.metrics import DISTANCES
from digan.metrics.backbones.probe import train_probe
from digan.train import SAMPLE_VIDEOS
from pipeline.params import BackboneRef, Experiment, Params, experiment_config
from pipeline.plan_flops import (backbone_forward, discriminator_passes, generator_forward, generator_key,
                                 generator_train, probe_train, projection_step)
from pipeline.plan_sizes import Store, find_store
from pipeline.results import ANALYSIS_FILES, CLIP_MEDIA, LONG_VIDEO_MEDIA, SPEED_BATCH, TIME_SCENARIOS

FAKE_FRAMES = 2  # a training step generates two frames of each video (digan/training/timesteps.py)
CLIP_FRAMES = TRAIN_FRAMES  # every metric scores 16-frame clips (pipeline/evaluate.py)


def _default(fn: object, name: str) -> int:
    """A keyword default of ``fn``: the counts the evaluate stage leaves at their defaults."""
    return inspect.signature(fn).parameters[name].default


def train_step_flops(cfg: Config) -> tuple[int, int]:
    """(every step, each lazy R1 step) per video of the batch."""
    g = cfg.generator
    key = generator_key(g)
    image, motion = discriminator_passes(cfg.discriminator.model_dump_json(), g.resolution, g.num_classes)
    motion_frozen, motion_train, motion_r1 = (motion.frozen, motion.train, motion.r1) if g.motion else (0, 0, 0)
    g_phase = generator_train(key, FAKE_FRAMES) + FAKE_FRAMES * image.frozen + motion_frozen
    d_phase = generator_forward(key, FAKE_FRAMES) + 2 * (FAKE_FRAMES * image.train + motion_train)
    return g_phase + d_phase, FAKE_FRAMES * image.r1 + motion_r1


def train_flops(cfg: Config) -> dict[str, int]:
    """A whole training run: steps, lazy R1 steps and the sample videos written every ``sample_every``."""
    t = cfg.train
    step, r1 = train_step_flops(cfg)
    r1_steps = math.ceil(t.steps / t.d_reg_interval) if t.r1_gamma > 0 else 0
    samples = t.steps // t.sample_every * SAMPLE_VIDEOS * generator_forward(generator_key(cfg.generator), CLIP_FRAMES)
    return {"steps": t.batch_size * t.steps * step, "r1": t.batch_size * r1_steps * r1, "samples": samples}


def probe_flops(params: Params, name: str, stores: dict[str, list[Store]]) -> int:
    """probe@<name>: ``steps`` Adam steps on batches of its synthetic store's clips (digan.metrics.backbones.probe)."""
    probe = params.probes[name]
    size = find_store(stores, probe.synthetic_set, "clips").resolution
    return probe.steps * _default(train_probe, "batch_size") * probe_train(size, len(CLASS_NAMES))


def backbone_flops(params: Params, ref: BackboneRef, stores: dict[str, list[Store]]) -> int:
    """One 16-frame clip through the network params name (a probe at its synthetic store's size)."""
    if ref.kind != "probe":
        return backbone_forward(ref.kind)
    size = find_store(stores, params.probes[ref.probe].synthetic_set, "clips").resolution
    return backbone_forward("probe", size, len(CLASS_NAMES))


def _media_renders(kind: str, resolution: int, long_frames: int) -> list[tuple[int, int, int]]:
    """(videos, frames, side) rendered for one media kind, as digan/analysis/media.py renders them."""
    videos = _default(write_media, "num_videos")
    four = min(4, videos)
    return {"samples": [(videos, TRAIN_FRAMES, resolution)], "long": [(four, long_frames, resolution)],
            "extrapolation": [(four, 2 * (TRAIN_FRAMES - 1) + 1, resolution)],
            "diverse_motion": [(3, TRAIN_FRAMES, resolution)],
            "upsampling": [(1, TRAIN_FRAMES, s * resolution) for s in UPSAMPLING],
            "zoom_out": [(four, TRAIN_FRAMES, resolution)] * 2}[kind]


class EvaluationWork:
    """FLOPs and rendered media pixels of the evaluate stages of one params file, experiment by experiment.

    Real-clip features are cached by the metrics code (data/cache/features), so each (store, split) is
    counted at the first experiment that scores against it. A released (pretrained) model is counted at
    the profile's model configuration."""

    def __init__(self, params: Params, stores: dict[str, list[Store]]) -> None:
        self.params, self.stores = params, stores
        self.feature = backbone_flops(params, params.evaluate.backbone, stores)
        self.classifier = backbone_flops(params, params.evaluate.is_backbone, stores)
        self.cached: set[tuple[Path, str]] = set()

    def experiment(self, name: str) -> tuple[dict[str, int], int, list[tuple[Store, int]]]:
        """FLOPs per metrics file stem plus ``real features`` of evaluate@<name>, its rendered media
        pixels, and the real stores whose features it computes first (with their clip counts)."""
        exp = self.params.experiments[name]
        run = _Evaluation(self, exp, experiment_config(self.params, name))
        measures = {"quality": run.quality, "curve": run.curve, "time": run.time, "speed": run.speed,
                    "space": run.space, "space_recon": run.space_recon, "prediction": run.prediction,
                    "motion_d": run.motion_d, "media": run.media}
        work = {stem: measures[stem]() for analysis in exp.analyses for stem in ANALYSIS_FILES[analysis]}
        distances = "quality" in exp.analyses and set(exp.metrics) & set(DISTANCES)
        needs = [(run.real, exp.real_split)] if {"curve", "time"} & set(exp.analyses) or distances else []
        needs += [(s, "all") for s in run.scales.values()] if "space" in exp.analyses else []
        first = [(store, store.count(split)) for store, split in needs if (store.path, split) not in self.cached]
        self.cached.update((store.path, split) for store, split in needs)
        if first:
            work["real features"] = sum(n for _, n in first) * self.feature
        return work, run.pixels, first


class _Evaluation:
    """The analyses of pipeline/evaluate.py for one experiment, each as the FLOPs it runs."""

    def __init__(self, work: EvaluationWork, exp: Experiment, cfg: Config) -> None:
        self.ev, self.exp, self.cfg = work.params.evaluate, exp, cfg
        self.feature, self.classifier = work.feature, work.classifier
        self.work = work
        self.key, self.res = generator_key(cfg.generator), cfg.generator.resolution
        self.store = find_store(work.stores, exp.clips, exp.store)
        self.real = find_store(work.stores, exp.clips, exp.real_store or exp.store)
        self.scales = {s: find_store(work.stores, exp.clips, exp.real_store or exp.store, s) for s in exp.space_scales}
        self.clip = generator_forward(self.key, CLIP_FRAMES)  # one generated 16-frame clip
        self.projected = min(self.ev.projection_clips, self.store.count("test") or self.store.clips)
        self.pixels = 0  # rendered by the media analysis

    def _scored(self) -> int:
        """One FVD/KVD measurement of the analyses: runs × samples generated clips and their features."""
        return self.ev.analysis_runs * self.ev.analysis_samples * (self.clip + self.feature)

    def _project(self, frames: int, videos: int = 1) -> int:
        """Projecting ``videos`` clips' given ``frames``: every Adam step, the objective before and after."""
        return videos * (self.ev.projection_steps * projection_step(self.key, frames, self.res)
                         + 2 * generator_forward(self.key, frames))

    def _renders(self) -> int:
        """A clip at 1× and at every scale of the space analysis."""
        return self.clip + sum(generator_forward(self.key, CLIP_FRAMES, s * self.res) for s in self.scales)

    def backbone(self, ref: BackboneRef) -> int:
        """FLOPs per clip of another backbone than the profile's."""
        return backbone_flops(self.work.params, ref, self.work.stores)

    def quality(self) -> int:
        """The profile's metrics, each ``also_scored_with`` backbone, and with evaluate.floors the untrained
        generator (the same work again) and the real-vs-real clips (their features only)."""
        ev = self.ev
        scored = [(ev.runs, ev.samples, ev.is_samples, self.feature, tuple(self.exp.metrics))]
        scored += [(x.runs, x.samples, 0, self.backbone(x.backbone), DISTANCES) for x in self.exp.also_scored_with]
        total = 0
        for runs, samples, is_samples, feature, metrics in scored:
            fvd = runs * samples if set(metrics) & set(DISTANCES) else 0
            is_ = runs * is_samples if "is" in metrics else 0
            generated = fvd * (self.clip + feature) + is_ * (self.clip + self.classifier)
            total += generated + (generated + fvd * feature + is_ * self.classifier if ev.floors else 0)
        return total

    def curve(self) -> int:
        t = self.cfg.train
        snapshots = t.steps // t.snapshot_every if t.snapshot_every and self.exp.pretrained is None else 0
        final = 0 if snapshots and t.steps % t.snapshot_every == 0 else 1  # the last snapshot is the final G
        return (snapshots + final) * self._scored()

    def time(self) -> int:
        return len(TIME_SCENARIOS) * self._scored()

    def speed(self) -> int:
        """Batch 1, batch B and frame by frame, each timed repeats + 1 times; one more batched run counted."""
        frame_by_frame = CLIP_FRAMES * generator_forward(self.key, 1)
        return (self.ev.speed_repeats + 1) * ((1 + SPEED_BATCH) * self.clip + frame_by_frame) + SPEED_BATCH * self.clip

    def space(self) -> int:
        return self.ev.analysis_runs * self.ev.analysis_samples * (
            self._renders() + len(METHODS) * len(self.scales) * self.feature)

    def space_recon(self) -> int:
        return self.projected * (self._project(CLIP_FRAMES) + self._renders())

    def prediction(self) -> int:
        """Frames 0 and 15 given: projected together, or each on its own by the image baseline."""
        if self.cfg.generator.motion:
            return self.projected * (self._project(2) + self.clip)
        return self.projected * (self._project(1, videos=2) + CLIP_FRAMES * generator_forward(self.key, 1))

    def motion_d(self) -> int:
        _, motion = discriminator_passes(self.cfg.discriminator.model_dump_json(), self.res,
                                         self.cfg.generator.num_classes)
        pairs = min(_default(motion_d_response, "pairs"), self.store.clips)
        return _default(motion_d_response, "deltas") * pairs * motion.forward

    def media(self) -> int:
        long_run = self.store.frames > CLIP_FRAMES
        renders = [r for kind in (LONG_VIDEO_MEDIA if long_run else CLIP_MEDIA)
                   for r in _media_renders(kind, self.res, self.store.frames if long_run else 128)]
        self.pixels = sum(v * f * s * s for v, f, s in renders)
        work = sum(v * generator_forward(self.key, f, s) for v, f, s in renders)
        if not long_run and self.cfg.generator.motion:  # Fig. 5: frames 6-8 of one clip given
            work += self._project(3) + self.clip
        return work
