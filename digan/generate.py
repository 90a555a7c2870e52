"""Video generation from a checkpoint: any number of frames, any times (t < 0 and t > 1 included),
any resolution and any spatial window, computed in chunks of videos and frames sized to a memory budget
(:mod:`digan.memory`), so long and large videos fit in memory.

    python -m digan.generate --checkpoint runs/default/checkpoint.pt --frames 64 --t-range 0 4 \\
        --resolution 256 --out video.mp4
"""
from __future__ import annotations

import argparse
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from digan.config import config_from_dict
from digan.data.video_io import write_video
from digan.memory import DEFAULT_BUDGET_GB, forward_bytes, output_bytes, plan
from digan.models.generator import Generator
from digan.training.checkpoint import load_checkpoint


def load_generator(checkpoint: str | Path, *, ema: bool = True, device: str = "cpu") -> Generator:
    """The (EMA) generator of a training checkpoint, in eval mode."""
    return generator_from_state(load_checkpoint(checkpoint, map_location=device), ema=ema, device=device)


def generator_from_state(state: Mapping[str, Any], *, ema: bool = True, device: str = "cpu") -> Generator:
    """The (EMA) generator of an already loaded checkpoint, so a caller that reads the checkpoint for
    other entries too reads the file once."""
    cfg = config_from_dict(state["config"])
    G = Generator(cfg.generator).to(device)
    G.load_state_dict(state["G_ema" if ema else "G"])
    return G.eval().requires_grad_(False)


@torch.no_grad()
def synthesize_frames(G: Generator, w: Tensor, z_motion: Tensor, times: Tensor, *, resolution: int | None = None,
                      spatial_range: tuple[float, float] = (0.0, 1.0), max_frames: int | None = None,
                      memory_budget_gb: float = DEFAULT_BUDGET_GB, uint8: bool = False) -> Tensor:
    """Frames ``[B, T, 3, H, W]`` at ``times`` ([T]) from W-space codes, synthesised in chunks of videos and
    frames whose activations and the returned frames stay within ``memory_budget_gb`` (:mod:`digan.memory`).

    Every video's frames depend only on its own codes and times, so the chunking changes no value beyond
    float rounding. ``uint8`` converts each chunk as it is made (:func:`to_uint8`), so the call holds one
    byte per output value instead of four.
    """
    batch, count = w.shape[0], times.shape[0]
    times = times.to(w.device)
    per_output = output_bytes(G, resolution) // (w.element_size() if uint8 else 1)
    chunks = plan(forward_bytes(G, resolution) + per_output, batch, count, memory_budget_gb,
                  fixed=batch * count * per_output, max_frames=max_frames)
    out = None
    for v in range(0, batch, chunks.videos):
        for f in range(0, count, chunks.frames):
            part = G.synthesize(w[v:v + chunks.videos], z_motion[v:v + chunks.videos], times[f:f + chunks.frames],
                                resolution=resolution, spatial_range=spatial_range)
            if uint8:
                part = to_uint8(part)
            if out is None:
                out = part.new_empty(batch, count, *part.shape[2:])
            out[v:v + chunks.videos, f:f + chunks.frames] = part
    return out


@torch.no_grad()
def generate_frames(G: Generator, z: Tensor, z_motion: Tensor, times: Tensor, *, labels: Tensor | None = None,
                    resolution: int | None = None, spatial_range: tuple[float, float] = (0.0, 1.0),
                    chunk: int | None = None, memory_budget_gb: float = DEFAULT_BUDGET_GB,
                    uint8: bool = False) -> Tensor:
    """Frames ``[B, T, 3, H, W]`` at ``times`` ([T]); the mapping runs once, synthesis in chunks of at most
    ``chunk`` frames sized to ``memory_budget_gb`` (:func:`synthesize_frames`)."""
    return synthesize_frames(G, G.mapping(z, labels), z_motion, times, resolution=resolution,
                             spatial_range=spatial_range, max_frames=chunk, memory_budget_gb=memory_budget_gb,
                             uint8=uint8)


def to_uint8(video: Tensor) -> Tensor:
    """[−1, 1] → uint8 with rounding (not truncation), as the metrics expect."""
    return ((video.float() + 1.0) * 127.5).round_().clamp_(0, 255).to(torch.uint8)


def tile_videos(videos: Tensor, columns: int | None = None) -> np.ndarray:
    """Arrange ``[B, T, 3, H, W]`` uint8 videos in a grid: ``[T, rows·H, cols·W, 3]``."""
    b, t, c, h, w = videos.shape
    cols = columns or math.ceil(math.sqrt(b))
    rows = math.ceil(b / cols)
    grid = torch.zeros(rows * cols, t, c, h, w, dtype=videos.dtype)
    grid[:b] = videos
    grid = grid.view(rows, cols, t, c, h, w).permute(2, 0, 4, 1, 5, 3).reshape(t, rows * h, cols * w, c)
    return grid.numpy()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m digan.generate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", required=True, help="output .mp4 or .gif (a grid when --num-videos > 1)")
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--t-range", type=float, nargs=2, default=(0.0, 1.0), metavar=("T0", "T1"),
                   help="times of the first and last frame; training clips span [0, 1]")
    p.add_argument("--resolution", type=int, default=None,
                   help="default: the training resolution; any multiple of resolution / input_resolution")
    p.add_argument("--spatial-range", type=float, nargs=2, default=(0.0, 1.0), metavar=("A", "B"),
                   help="window of the unit frame, e.g. -0.25 1.25 to zoom out (paper Fig. 9)")
    p.add_argument("--num-videos", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--label", type=int, default=None, help="class for a class-conditional model")
    p.add_argument("--fps", type=int, default=8)
    p.add_argument("--chunk", type=int, default=None, help="at most this many frames synthesised at once")
    p.add_argument("--memory-budget-gb", type=float, default=DEFAULT_BUDGET_GB,
                   help="videos and frames per synthesis call are chosen to stay within it (digan.memory)")
    p.add_argument("--raw-generator", action="store_true", help="use G instead of the EMA generator")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.frames < 1 or args.num_videos < 1 or (args.chunk is not None and args.chunk < 1):
        raise SystemExit("--frames, --num-videos and --chunk must be >= 1")
    if Path(args.out).suffix.lower() not in (".mp4", ".gif"):
        raise SystemExit("--out must end in .mp4 or .gif")
    G = load_generator(args.checkpoint, ema=not args.raw_generator)
    g = torch.Generator().manual_seed(args.seed)
    z = torch.randn(args.num_videos, G.cfg.z_dim, generator=g)
    z_motion = torch.randn(args.num_videos, G.cfg.motion_z_dim, generator=g)
    labels = None
    if G.cfg.num_classes:
        label = args.label if args.label is not None else 0
        if not 0 <= label < G.cfg.num_classes:
            raise SystemExit(f"--label must lie in [0, {G.cfg.num_classes})")
        labels = torch.full((args.num_videos,), label, dtype=torch.long)
    times = torch.linspace(args.t_range[0], args.t_range[1], args.frames)
    try:
        video = generate_frames(G, z, z_motion, times, labels=labels, resolution=args.resolution,
                                spatial_range=tuple(args.spatial_range), chunk=args.chunk,
                                memory_budget_gb=args.memory_budget_gb, uint8=True)
    except ValueError as e:
        raise SystemExit(str(e)) from e
    write_video(args.out, tile_videos(video), fps=args.fps)
    print(f"wrote {args.out}: {args.num_videos} video(s), {args.frames} frames at t ∈ "
          f"[{args.t_range[0]}, {args.t_range[1]}], {video.shape[-1]}×{video.shape[-2]}")


if __name__ == "__main__":
    main()
