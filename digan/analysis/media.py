"""Videos and frame strips for the paper's qualitative figures, written from one generator.

Paper §4.1-4.2: Figure 3 (samples), Figure 1 (long videos), Figure 4 (time extrapolation), Figure 6
(diverse motion from one content code), Figure 7 (space upsampling) and Figure 9 (zoom-out with the
[−0.25, 1.25]² grid of Appendix A.2).
Videos are mp4 and gif (``digan.data.video_io``), strips are png with white gutters; the frames of
an extrapolated video past the training range t ∈ [0, 1] carry a red border.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib import image as mpimg
from torch import Tensor

from digan.data.video_io import write_video
from digan.generate import generate_frames, tile_videos
from digan.memory import DEFAULT_BUDGET_GB
from digan.models.generator import Generator

TRAIN_FRAMES = 16  # frames of a training clip, which spans t ∈ [0, 1] (Appendix A.2)
FPS = 8
STRIP_FRAMES = (0, 5, 10, 15)
GUTTER = 2  # white pixels between strip cells
MARK = np.array([220, 30, 30], dtype=np.uint8)
ZOOM_OUT = (-0.25, 1.25)  # Appendix A.2, "Space extrapolation"
UPSAMPLING = (1, 2, 4)  # Figure 7


@dataclass
class _Job:
    G: Generator
    out_dir: Path
    seed: int
    num_videos: int
    long_frames: int
    memory_budget_gb: float

    def latents(self, n: int) -> tuple[Tensor, Tensor, Tensor | None]:
        """Content and motion codes (and classes k mod C) of videos 0..n−1 for this seed."""
        gen = torch.Generator().manual_seed(self.seed)
        device = next(self.G.parameters()).device
        z = torch.randn(n, self.G.cfg.z_dim, generator=gen).to(device)
        zm = torch.randn(n, self.G.cfg.motion_z_dim, generator=gen).to(device)
        c = self.G.cfg.num_classes
        labels = torch.arange(n, device=device) % c if c else None
        return z, zm, labels

    def render(self, z: Tensor, zm: Tensor, labels: Tensor | None, times: Tensor, **kwargs) -> Tensor:
        """uint8 videos ``[N, T, 3, H, W]`` on the CPU, synthesised within the memory budget."""
        times = times.to(z.device)
        return generate_frames(self.G, z, zm, times, labels=labels, memory_budget_gb=self.memory_budget_gb,
                               uint8=True, **kwargs).cpu()

    def videos(self, name: str, frames: np.ndarray, suffixes: Sequence[str] = (".mp4", ".gif")) -> list[str]:
        for suffix in suffixes:
            write_video(self.out_dir / f"{name}{suffix}", frames, fps=FPS)
        return [f"{name}{suffix}" for suffix in suffixes]

    def png(self, name: str, image: np.ndarray) -> str:
        mpimg.imsave(self.out_dir / f"{name}.png", image)
        return f"{name}.png"


def training_spacing(frames: int) -> Tensor:
    """``frames`` times from 0 at the spacing of training clips, 1 / (TRAIN_FRAMES − 1)."""
    return torch.arange(frames, dtype=torch.float32) / (TRAIN_FRAMES - 1)


def _hwc(videos: Tensor) -> np.ndarray:
    return videos.permute(0, 1, 3, 4, 2).numpy()


def _grid(rows: Sequence[Sequence[np.ndarray]]) -> np.ndarray:
    """Equal-size ``[H, W, 3]`` cells in rows and columns, separated by white gutters."""
    h, w, _ = rows[0][0].shape
    cols = max(len(r) for r in rows)
    out = np.full((len(rows) * (h + GUTTER) - GUTTER, cols * (w + GUTTER) - GUTTER, 3), 255, np.uint8)
    for i, row in enumerate(rows):
        for j, cell in enumerate(row):
            out[i * (h + GUTTER):i * (h + GUTTER) + h, j * (w + GUTTER):j * (w + GUTTER) + w] = cell
    return out


def _mark(frames: np.ndarray) -> np.ndarray:
    """A red border on ``[..., H, W, 3]`` frames (a copy)."""
    out = frames.copy()
    b = max(1, frames.shape[-2] // 16)
    for edge in (np.s_[..., :b, :, :], np.s_[..., -b:, :, :], np.s_[..., :, :b, :], np.s_[..., :, -b:, :]):
        out[edge] = MARK
    return out


def _upscale(frames: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour ×factor of ``[..., H, W, 3]``, for display only."""
    return frames.repeat(factor, axis=-3).repeat(factor, axis=-2)


def _samples(job: _Job) -> list[str]:
    """Figure 3: ``num_videos`` 16-frame videos, and frames 0, 5, 10, 15 of four of them."""
    videos = job.render(*job.latents(job.num_videos), training_spacing(TRAIN_FRAMES))
    strip = _grid([[clip[k] for k in STRIP_FRAMES] for clip in _hwc(videos[:4])])
    return job.videos("samples", tile_videos(videos)) + [job.png("samples", strip)]


def _long(job: _Job) -> list[str]:
    """Figure 1: four ``long_frames``-frame videos at the training frame spacing."""
    videos = job.render(*job.latents(min(4, job.num_videos)), training_spacing(job.long_frames))
    picks = np.linspace(0, job.long_frames - 1, 8).round().astype(int)
    strip = _grid([[clip[k] for k in picks] for clip in _hwc(videos)])
    return job.videos("long", tile_videos(videos)) + [job.png("long", strip)]


def _extrapolation(job: _Job) -> list[str]:
    """Figure 4: t ∈ [0, 2], twice the training range; frames with t > 1 are marked."""
    times = training_spacing(2 * (TRAIN_FRAMES - 1) + 1)
    frames = _hwc(job.render(*job.latents(min(4, job.num_videos)), times))
    beyond = (times > 1).numpy()
    frames[:, beyond] = _mark(frames[:, beyond])
    strip = _grid([[clip[k] for k in range(0, len(times), 3)] for clip in frames])
    marked = torch.from_numpy(frames).permute(0, 1, 4, 2, 3)
    return job.videos("extrapolation", tile_videos(marked), suffixes=(".gif",)) + [job.png("extrapolation", strip)]


def _diverse_motion(job: _Job) -> list[str]:
    """Figure 6: one content code z_I with three motion codes z_M."""
    z, zm, labels = job.latents(4)  # video 0's content and class, the motion codes of videos 1..3
    classes = labels[:1].expand(3) if labels is not None else None
    videos = job.render(z[:1].expand(3, -1), zm[1:], classes, training_spacing(TRAIN_FRAMES))
    strip = _grid([[clip[k] for k in np.linspace(0, TRAIN_FRAMES - 1, 8).round().astype(int)]
                   for clip in _hwc(videos)])
    return job.videos("diverse_motion", tile_videos(videos, columns=3), suffixes=(".gif",)) + [
        job.png("diverse_motion", strip)]


def _upsampling(job: _Job) -> list[str]:
    """Figure 7: one video rendered at 1×, 2×, 4× the training resolution, shown at equal size."""
    z, zm, labels = job.latents(1)
    res = job.G.cfg.resolution
    top = max(UPSAMPLING)
    scaled = [_upscale(_hwc(job.render(z, zm, labels, training_spacing(TRAIN_FRAMES), resolution=s * res))[0],
                       top // s) for s in UPSAMPLING]
    strip = _grid([[video[k] for k in STRIP_FRAMES] for video in scaled])
    side_by_side = np.stack([_grid([[video[t] for video in scaled]]) for t in range(TRAIN_FRAMES)])
    return job.videos("upsampling", side_by_side, suffixes=(".gif",)) + [job.png("upsampling", strip)]


def _zoom_out(job: _Job) -> list[str]:
    """Figure 9: the training window (0, 1)² above the zoomed-out window (−0.25, 1.25)²."""
    latents = job.latents(min(4, job.num_videos))
    times = training_spacing(TRAIN_FRAMES)
    normal = job.render(*latents, times)
    zoomed = job.render(*latents, times, spatial_range=ZOOM_OUT)
    rows = [[clip[k] for k in STRIP_FRAMES] for pair in zip(_hwc(normal), _hwc(zoomed)) for clip in pair]
    grid = tile_videos(torch.cat([normal, zoomed]), columns=len(normal))
    return job.videos("zoom_out", grid, suffixes=(".gif",)) + [job.png("zoom_out", _grid(rows))]


KINDS: dict[str, Callable[[_Job], list[str]]] = {
    "samples": _samples, "long": _long, "extrapolation": _extrapolation,
    "diverse_motion": _diverse_motion, "upsampling": _upsampling, "zoom_out": _zoom_out,
}
IMAGE_KINDS = ("samples", "upsampling")  # all an image-only generator (no motion) can show


def write_media(G: Generator, out_dir: str | Path, *, kinds: Sequence[str], seed: int = 0, num_videos: int = 8,
                long_frames: int = 128, memory_budget_gb: float = DEFAULT_BUDGET_GB) -> dict[str, list[str]]:
    """Write each requested figure's files to ``out_dir``; returns their names per kind.

    Image-only generators (``G.cfg.motion`` false) skip every kind but samples and upsampling. Every
    video is synthesised in chunks within ``memory_budget_gb`` (:func:`digan.generate.generate_frames`).
    """
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise ValueError(f"unknown media kinds {unknown}; choose from {', '.join(KINDS)}")
    if num_videos < 1 or long_frames < 2:
        raise ValueError("need num_videos >= 1 and long_frames >= 2")
    job = _Job(G, Path(out_dir), seed, num_videos, long_frames, memory_budget_gb)
    job.out_dir.mkdir(parents=True, exist_ok=True)
    return {kind: KINDS[kind](job) for kind in dict.fromkeys(kinds) if G.cfg.motion or kind in IMAGE_KINDS}
