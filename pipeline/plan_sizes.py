"""Bytes of the pipeline's outputs, estimated from params alone, before any data exists.

Clip stores follow digan/data/clip_store.py: ``clips.npy`` is uint8 [N, T, H, W, 3] behind a 128-byte npy
header, plus ``manifest.csv`` (one row per clip) and ``meta.json``. N comes from the rule that cuts the
clips, run on zero-size frames: ``cut_clips`` of digan/data/preprocess.py over the published video lengths
of each real dataset (``KNOWN`` in its module of digan/data/real/), and ``clips_from_video`` over the
synthetic videos. Checkpoints are float32 parameters of G, G_ema and both D's plus Adam's two moments of G
and D (digan/training/loop.py ``state_dict``); EMA snapshots hold G_ema alone (digan/train.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from digan.data.clip_store import clips_from_video
from digan.data.preprocess import cut_clips
from digan.data.real import SPECS
from digan.data.synthetic import CLASS_NAMES, _num_test_videos
from pipeline.params import Params, clip_store_path, config_from_params
from pipeline.preprocess import clip_set_jobs

FLOAT32 = 4
FEATURE_BYTES = 8  # the feature cache stores float64 rows (digan/metrics/features.py)
NPY_HEADER = 128  # np.lib.format pads the header of a uint8 [N, T, H, W, 3] array to 128 bytes
INDEX_ENTRY = 8  # one int64 clip number of an index store's indices.npy
MANIFEST_ROW = 100  # one manifest.csv row: index, dataset, split, class, source path, start, stride
META_JSON = 4096  # meta.json: shapes, class names, the build parameters
SYNTHETIC_CLIP_STEP = 4  # digan/data/synthetic.py: a clip starts every 4 frames of a synthetic video
SYNTHETIC_TEST_FRACTION = 0.25  # make_synthetic_dataset's default, which the synthesize stage keeps
# GIF, mp4 and png of a rendered figure video, per rendered pixel: 1.2-1.5 on the default profile's committed
# reports/figures (e.g. fig1_long_long: 680 kB for 4 videos x 128 frames at 32²).
MEDIA_BYTES_PER_PIXEL = 1.5
METRICS_FILE = 16 * 1024  # one metrics/<experiment>/<file>.json: a header and a few hundred numbers
LOG_LINE = 120  # one line of metrics.jsonl or curves/<experiment>.csv


@dataclass(frozen=True)
class Store:
    """One clip store: where it goes and what it holds (clips per manifest split)."""

    path: Path
    frames: int
    resolution: int
    splits: dict[str, int] = field(default_factory=dict)
    index: bool = False  # an index over a superset store (digan.data.clip_store.write_index_store)

    @property
    def clips(self) -> int:
        return sum(self.splits.values())

    def count(self, split: str) -> int:
        """Clips of a manifest split, ``all`` for every clip."""
        return self.clips if split == "all" else self.splits.get(split, 0)

    @property
    def bytes(self) -> int:
        if self.index:
            return NPY_HEADER + self.clips * (INDEX_ENTRY + MANIFEST_ROW) + META_JSON
        return clip_store_bytes(self.clips, self.frames, self.resolution)


def clip_store_bytes(clips: int, frames: int, resolution: int) -> int:
    """A clip store of ``clips`` clips of ``frames`` × ``resolution``² RGB frames on disk."""
    return NPY_HEADER + clips * (frames * resolution * resolution * 3 + MANIFEST_ROW) + META_JSON


def _windows(video_frames: int, clip_frames: int, stride: int, step: int | None) -> int:
    return len(cut_clips(np.empty((video_frames, 0), np.uint8), clip_frames, stride, step))


def synthetic_stores(params: Params, name: str) -> list[Store]:
    """The stores synthesize@<name> writes: data/clips/<name>/clips and its x<s>/clips copies."""
    spec = params.synthetic_sets[name]
    per_video = sum(1 for _ in clips_from_video(np.empty((spec.frames_per_video, 0), np.uint8), spec.clip_frames,
                                                stride=1, step=SYNTHETIC_CLIP_STEP))
    stores = []
    for scale in (1, *spec.scales):
        videos = spec.videos_per_class if scale == 1 else spec.scale_videos_per_class
        test = _num_test_videos(videos, SYNTHETIC_TEST_FRACTION)
        splits = {"train": len(CLASS_NAMES) * (videos - test) * per_video, "test": len(CLASS_NAMES) * test * per_video}
        stores.append(Store(clip_store_path(name, "clips", scale), spec.clip_frames, spec.resolution * scale,
                            {k: v for k, v in splits.items() if v}))
    return stores


def real_stores(params: Params, name: str) -> list[Store]:
    """The stores preprocess@<name> writes, at every scale, from the dataset's published video lengths."""
    dataset = params.clip_sets[name].dataset
    spec = SPECS[dataset]
    base = config_from_params({"preprocess": params.preprocess}, dataset)
    _, jobs = clip_set_jobs(params.model_dump(), name, base)
    stores = []
    for _, job in jobs:  # the clip set's own resolution first, then each scale
        cfg = job.resolved(dataset)
        per_partition = {part: sum(videos * _windows(frames, cfg.frames, cfg.stride, cfg.step)
                                   for frames, videos in bins) for part, bins in spec.known.lengths.items()}
        scale = cfg.resolution // jobs[0][1].resolution
        built: list[set[str]] = []
        for store in sorted(cfg.stores, key=lambda s: -len(spec.stores[s])):  # supersets first, as preprocess
            parts = set(spec.stores[store])
            splits = {part: per_partition.get(part, 0) for part in spec.stores[store]}
            index = any(parts <= b for b in built)  # preprocess indexes a superset instead of copying
            built.append(parts)
            stores.append(Store(clip_store_path(name, store, scale), cfg.frames, cfg.resolution, splits, index))
    return stores


def clip_sets(params: Params) -> dict[str, list[Store]]:
    """Every clip set's stores, synthetic and real, by clip set name."""
    return {**{n: synthetic_stores(params, n) for n in params.synthetic_sets},
            **{n: real_stores(params, n) for n in params.clip_sets}}


def find_store(stores: dict[str, list[Store]], clips: str, store: str, scale: int = 1) -> Store:
    path = clip_store_path(clips, store, scale)
    return next(s for s in stores[clips] if s.path == path)


def checkpoint_bytes(g_params: int, d_params: int, *, optimizer: bool = True) -> int:
    """checkpoint.pt: G, G_ema and both D's, and with ``optimizer`` Adam's exp_avg and exp_avg_sq of G and D
    (an imported official snapshot has none)."""
    tensors = 2 * g_params + d_params + (2 * (g_params + d_params) if optimizer else 0)
    return FLOAT32 * tensors


def media_bytes(pixels: int) -> int:
    return int(MEDIA_BYTES_PER_PIXEL * pixels)
