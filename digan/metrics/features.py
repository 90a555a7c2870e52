"""Video sources for evaluation and backbone outputs computed once and cached.

A source is a directory of video files (mp4, avi, gif) or a clip store. Clips are taken as
``frames`` frames every ``stride`` frames from the start of each video (16 frames for the paper's
tables; 128 for long videos; stride > 1 subsamples long clips). Unreadable files are listed and
skipped, and the run fails only when more than ``max_bad_fraction`` of them are bad.

The cache key hashes everything the numbers depend on: backbone identity (its weights' digest and
preprocessing version), the source's fingerprint (file names, sizes and modification times, or the
clip store's metadata and manifest), the split, frames, stride and the output kind.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from digan.atomic import atomic_write
from digan.data.clip_store import ClipStore
from digan.data.video_io import VIDEO_SUFFIXES, VideoIOError, read_video

CACHE_VERSION = 1


class TooManyBadVideos(RuntimeError):
    """More of a directory's files were unreadable or too short than allowed."""


@dataclass
class VideoSource:
    """Clips of ``frames`` frames (every ``stride``-th) from a video directory or a clip store."""

    path: Path
    frames: int = 16
    stride: int = 1
    split: str = "all"  # clip stores only: "train", "test" or "all"
    max_bad_fraction: float = 0.1
    limit: int | None = None  # clip stores only: a seeded random subset of this many clips of the split
    bad_files: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        if not self.path.exists():
            raise FileNotFoundError(f"no such video directory or clip store: {self.path}")
        if self.frames < 1 or self.stride < 1:
            raise ValueError("frames and stride must be >= 1")
        if self.limit is not None and not (self.limit >= 1 and self.is_clip_store):
            raise ValueError(f"limit {self.limit}: a positive number of clips, of a clip store only")

    @property
    def is_clip_store(self) -> bool:
        return (self.path / "meta.json").is_file()

    def _files(self) -> list[Path]:
        return sorted(p for p in self.path.rglob("*") if p.suffix.lower() in (*VIDEO_SUFFIXES, ".gif") and p.is_file())

    def _store_indices(self, store: ClipStore) -> np.ndarray:
        indices = np.arange(len(store)) if self.split == "all" else store.split_indices(self.split)
        if self.limit is not None and self.limit < len(indices):
            # Fixed seed: the same subset whoever asks, so its outputs cache like the whole split's.
            indices = np.sort(np.random.default_rng(0).choice(indices, self.limit, replace=False))
        return indices

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        if self.is_clip_store:
            for path in ClipStore(self.path).data_files:  # an index store's and its base's
                if path.suffix == ".npy":
                    st = path.stat()
                    h.update(f"{path.name}:{st.st_size}:{st.st_mtime_ns}:{self.split}".encode())
                else:
                    h.update(path.read_bytes())
        else:
            for p in self._files():
                st = p.stat()
                h.update(f"{p.relative_to(self.path)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
        return h.hexdigest()

    def __len__(self) -> int:
        if self.is_clip_store:
            return len(self._store_indices(ClipStore(self.path)))
        return len(self._files())

    def clips(self) -> Iterator[np.ndarray]:
        """uint8 clips ``[frames, H, W, 3]``; bad or short files are recorded in ``bad_files``."""
        need = (self.frames - 1) * self.stride + 1
        if self.is_clip_store:
            store = ClipStore(self.path)
            if store.frames < need:
                raise ValueError(f"{self.path}: clips have {store.frames} frames, {need} needed")
            for i in self._store_indices(store):
                yield store[int(i)][: need: self.stride]
            return
        files = self._files()
        self.bad_files = []
        for p in files:
            try:
                video = read_video(p)
            except VideoIOError as e:
                self.bad_files.append(f"{p}: unreadable ({str(e).splitlines()[0]})")
                continue
            if len(video) < need:
                self.bad_files.append(f"{p}: {len(video)} frames, {need} needed")
                continue
            yield video[: need: self.stride]
        if files and len(self.bad_files) > self.max_bad_fraction * len(files):
            raise TooManyBadVideos(f"{len(self.bad_files)} of {len(files)} files in {self.path} could not be "
                                   "used:\n  " + "\n  ".join(self.bad_files))


def batched(clips: Iterator[np.ndarray], batch_size: int) -> Iterator[Tensor]:
    """Stack consecutive clips of one shape into batches (a shape change closes a batch)."""
    pending: list[np.ndarray] = []
    for clip in clips:
        if pending and (len(pending) == batch_size or clip.shape != pending[0].shape):
            yield torch.from_numpy(np.stack(pending))
            pending = []
        pending.append(clip)
    if pending:
        yield torch.from_numpy(np.stack(pending))


def compute_outputs(fn: Callable[[Tensor], Tensor], clips: Iterator[np.ndarray], *, total: int | None = None,
                    batch_size: int = 16, desc: str = "features") -> np.ndarray:
    """Run a backbone function over clips with a progress bar; float64 ``[N, D]``."""
    out = []
    with tqdm(total=total, desc=desc, unit="clip") as bar:
        for batch in batched(clips, batch_size):
            out.append(fn(batch).double().cpu().numpy())
            bar.update(len(batch))
    if not out:
        raise ValueError("no usable clips")
    return np.concatenate(out)


def cache_key(backbone_identity: str, kind: str, source: VideoSource) -> str:
    payload = {"version": CACHE_VERSION, "backbone": backbone_identity, "kind": kind,
               "source": source.fingerprint(), "frames": source.frames, "stride": source.stride,
               "split": source.split, "limit": source.limit}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


def cached_outputs(fn: Callable[[Tensor], Tensor], *, backbone_identity: str, kind: str, source: VideoSource,
                   cache_dir: Path | None, batch_size: int = 16) -> np.ndarray:
    """Backbone outputs for every clip of ``source``, read from or written to ``cache_dir``."""
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"{kind}-{cache_key(backbone_identity, kind, source)}.npy"
        if path.exists():
            return np.load(path)
    values = compute_outputs(fn, source.clips(), total=len(source), batch_size=batch_size,
                             desc=f"{kind} of {source.path.name}")
    if path is not None:
        with atomic_write(path) as f:
            np.save(f, values)
    return values
