"""Embedded synthetic video dataset: 8 classes of moving shapes on textures.

It lets the whole pipeline (ffmpeg decoding, clip store, training, metrics)
run without downloading a real dataset. Classes differ both in content
(shape, colour, background texture) and in motion (direction, speed,
rotation, oscillation, bounce, colour change, scale pulsing), so a generator
has to model appearance *and* dynamics to match the data.

Every video is a deterministic function of ``(seed, class_index,
video_index)`` and of continuous time ``t = k / fps`` seconds, so the same
video can be re-rendered at any resolution or frame density.
"""

from __future__ import annotations

import argparse
import colorsys
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from digan.data.clip_store import ClipStore, ClipStoreError, clips_from_video, write_clip_store
from digan.data.video_io import read_video, write_video

RGB = tuple[float, float, float]

_SUPERSAMPLE = 4  # render at 4x and box-filter down: cheap anti-aliasing
_GENERATOR_VERSION = 1  # bump when rendering changes so cached datasets are rebuilt


@dataclass(frozen=True)
class ClassSpec:
    """Appearance and motion of one synthetic class.

    Lengths are in image widths, times in seconds. ``velocity`` is used by
    ``translate``/``bounce``; ``rate`` is revolutions/s for ``rotate`` and Hz
    for ``oscillate``, ``pulse`` and ``colour_cycle``.
    """

    name: str
    shape: str  # square | disc | triangle | ring | cross
    colour: RGB
    background: str  # hstripes | checker | gradient | noise
    background_colours: tuple[RGB, RGB]
    motion: str  # translate | bounce | rotate | oscillate | pulse | colour_cycle
    velocity: tuple[float, float] = (0.0, 0.0)
    rate: float = 0.0
    size: float = 0.16  # half-extent of the shape


CLASS_SPECS: tuple[ClassSpec, ...] = (
    ClassSpec("square_right", "square", (0.90, 0.15, 0.10), "hstripes",
              ((0.15, 0.20, 0.40), (0.55, 0.55, 0.60)), "translate", velocity=(0.25, 0.0)),
    ClassSpec("disc_up_fast", "disc", (0.15, 0.35, 1.00), "checker",
              ((0.85, 0.80, 0.60), (0.45, 0.50, 0.25)), "translate", velocity=(0.0, -0.5)),
    ClassSpec("triangle_rotate", "triangle", (0.20, 0.90, 0.20), "gradient",
              ((0.35, 0.10, 0.45), (0.02, 0.02, 0.05)), "rotate", rate=0.2, size=0.24),
    ClassSpec("ring_bounce", "ring", (1.00, 0.85, 0.10), "noise",
              ((0.05, 0.35, 0.40), (0.20, 0.60, 0.55)), "bounce", velocity=(0.30, 0.22)),
    ClassSpec("cross_oscillate", "cross", (0.90, 0.10, 0.85), "gradient",
              ((0.90, 0.55, 0.20), (0.45, 0.22, 0.08)), "oscillate", rate=0.5, size=0.18),
    ClassSpec("disc_colour_cycle", "disc", (1.00, 0.20, 0.20), "hstripes",
              ((0.75, 0.75, 0.75), (0.95, 0.70, 0.80)), "colour_cycle", rate=0.35, size=0.2),
    ClassSpec("square_pulse", "square", (0.95, 0.95, 0.95), "noise",
              ((0.35, 0.05, 0.05), (0.60, 0.15, 0.10)), "pulse", rate=0.6, size=0.17),
    ClassSpec("triangle_left_slow", "triangle", (0.10, 0.90, 0.90), "checker",
              ((0.05, 0.05, 0.20), (0.18, 0.18, 0.38)), "translate", velocity=(-0.15, 0.0)),
)
CLASS_NAMES: tuple[str, ...] = tuple(spec.name for spec in CLASS_SPECS)

_OSCILLATION_AMPLITUDE = 0.25
_PULSE_DEPTH = 0.45
_BOUNCE_MARGIN = 0.04  # gap kept between a bouncing shape and the border


@dataclass(frozen=True)
class _VideoDraw:
    """Per-video random parameters, drawn in a fixed order for reproducibility."""

    position: np.ndarray  # (x, y) in [0, 1)
    phase: float
    angle: float
    speed: float  # multiplicative jitter on velocity / rate
    colour_jitter: np.ndarray
    texture_offset: np.ndarray
    noise_phases: np.ndarray

    @classmethod
    def draw(cls, seed: int, class_index: int, video_index: int) -> _VideoDraw:
        rng = np.random.default_rng([seed, class_index, video_index])
        return cls(
            position=rng.uniform(0.0, 1.0, 2),
            phase=float(rng.uniform(0.0, 2 * np.pi)),
            angle=float(rng.uniform(0.0, 2 * np.pi)),
            speed=float(rng.uniform(0.9, 1.1)),
            colour_jitter=rng.uniform(-0.06, 0.06, 3),
            texture_offset=rng.uniform(0.0, 1.0, 2),
            noise_phases=rng.uniform(0.0, 2 * np.pi, 6),
        )


def _reflect(u: float, lo: float, hi: float) -> float:
    """Position of a point moving freely along u, bouncing between lo and hi."""
    length = hi - lo
    w = (u - lo) % (2 * length)
    return lo + (w if w < length else 2 * length - w)


def _object_state(spec: ClassSpec, d: _VideoDraw, t: float) -> tuple[float, float, float, float, np.ndarray]:
    """Centre (x, y), rotation angle, scale and RGB colour at continuous time t."""
    cx, cy = d.position
    angle, scale = d.angle, 1.0
    colour = np.asarray(spec.colour, dtype=np.float64)
    rate = spec.rate * d.speed
    vx, vy = (v * d.speed for v in spec.velocity)
    # Coordinates that never wrap stay away from the border: the shape remains whole.
    centred = 0.3 + 0.4 * d.position
    if spec.motion == "translate":  # wraps along moving axes only
        cx = (cx + vx * t) % 1.0 if vx else centred[0]
        cy = (cy + vy * t) % 1.0 if vy else centred[1]
    elif spec.motion == "bounce":
        lo, hi = spec.size + _BOUNCE_MARGIN, 1.0 - spec.size - _BOUNCE_MARGIN
        cx, cy = _reflect(cx + vx * t, lo, hi), _reflect(cy + vy * t, lo, hi)
    elif spec.motion == "rotate":
        (cx, cy), angle = centred, d.angle + 2 * np.pi * rate * t
    elif spec.motion == "oscillate":
        cx = 0.5 + _OSCILLATION_AMPLITUDE * np.sin(2 * np.pi * rate * t + d.phase)
        cy = centred[1]
    elif spec.motion == "pulse":
        (cx, cy), scale = centred, 1.0 + _PULSE_DEPTH * np.sin(2 * np.pi * rate * t + d.phase)
    elif spec.motion == "colour_cycle":
        hue, sat, val = colorsys.rgb_to_hsv(*spec.colour)
        hue = (hue + rate * t + d.phase / (2 * np.pi)) % 1.0
        (cx, cy), colour = centred, np.asarray(colorsys.hsv_to_rgb(hue, sat, val))
    else:
        raise ValueError(f"unknown motion {spec.motion!r}")
    return float(cx), float(cy), float(angle), float(scale), np.clip(colour + d.colour_jitter, 0, 1)


def _shape_mask(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside-test in object coordinates where the shape's half-extent is 1."""
    if shape == "square":
        return np.maximum(np.abs(u), np.abs(v)) <= 1.0
    if shape == "disc":
        return u * u + v * v <= 1.0
    if shape == "ring":
        r2 = u * u + v * v
        return (r2 <= 1.0) & (r2 >= 0.36)
    if shape == "cross":
        au, av = np.abs(u), np.abs(v)
        return ((au <= 1.0) & (av <= 0.33)) | ((av <= 1.0) & (au <= 0.33))
    if shape == "triangle":  # equilateral, circumradius 1
        inside = np.ones(u.shape, dtype=bool)
        for k in range(3):
            a = np.pi / 2 + 2 * np.pi * k / 3
            inside &= u * np.cos(a) + v * np.sin(a) <= 0.5
        return inside
    raise ValueError(f"unknown shape {shape!r}")


def _background(spec: ClassSpec, d: _VideoDraw, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ox, oy = d.texture_offset
    if spec.background == "hstripes":
        w = np.floor((y + oy) * 4) % 2
    elif spec.background == "checker":
        w = (np.floor((x + ox) * 4) + np.floor((y + oy) * 4)) % 2
    elif spec.background == "gradient":
        a = 2 * np.pi * ox
        g = x * np.cos(a) + y * np.sin(a)
        w = (g - g.min()) / max(float(g.max() - g.min()), 1e-9)
    elif spec.background == "noise":  # smooth periodic noise from a few low frequencies
        p = d.noise_phases
        w = (np.sin(2 * np.pi * (x + y) + p[0]) + np.sin(2 * np.pi * (2 * x - y) + p[1])
             + np.sin(2 * np.pi * (x - 3 * y) + p[2]) * 0.5 + np.sin(2 * np.pi * (3 * x) + p[3]) * 0.5
             + np.sin(2 * np.pi * (2 * y) + p[4]) * 0.5 + np.sin(2 * np.pi * (x + 2 * y) + p[5]) * 0.5)
        w = (w - w.min()) / max(float(w.max() - w.min()), 1e-9)
    else:
        raise ValueError(f"unknown background {spec.background!r}")
    c0, c1 = (np.asarray(c, dtype=np.float64) for c in spec.background_colours)
    return c0 + w[..., None] * (c1 - c0)


def render_video(
    class_index: int, video_index: int, *, seed: int, frames: int, resolution: int, fps: float = 8.0
) -> np.ndarray:
    """Render one synthetic video as [frames, resolution, resolution, 3] uint8.

    Frame k shows time ``k / fps`` seconds: doubling both ``frames`` and
    ``fps`` samples the same motion twice as densely.
    """
    if not 0 <= class_index < len(CLASS_SPECS):
        raise ValueError(f"class_index must be in [0, {len(CLASS_SPECS)}), got {class_index}")
    if frames < 1 or resolution < 1 or fps <= 0:
        raise ValueError(f"need frames >= 1, resolution >= 1, fps > 0; got {frames}, {resolution}, {fps}")
    spec = CLASS_SPECS[class_index]
    d = _VideoDraw.draw(seed, class_index, video_index)
    n = resolution * _SUPERSAMPLE
    coords = (np.arange(n) + 0.5) / n
    x, y = np.meshgrid(coords, coords)  # y grows downwards, like image rows
    background = _background(spec, d, x, y)

    out = np.empty((frames, resolution, resolution, 3), dtype=np.uint8)
    for k in range(frames):
        cx, cy, angle, scale, colour = _object_state(spec, d, k / fps)
        # Toroidal offsets make wrapped objects reappear seamlessly at the far edge.
        dx = (x - cx + 0.5) % 1.0 - 0.5
        dy = (y - cy + 0.5) % 1.0 - 0.5
        c, s = np.cos(angle), np.sin(angle)
        half = spec.size * scale
        mask = _shape_mask(spec.shape, (c * dx + s * dy) / half, (c * dy - s * dx) / half)
        image = np.where(mask[..., None], colour, background)
        image = image.reshape(resolution, _SUPERSAMPLE, resolution, _SUPERSAMPLE, 3).mean(axis=(1, 3))
        out[k] = np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
    return out


def _num_test_videos(videos_per_class: int, test_fraction: float) -> int:
    if test_fraction <= 0:
        return 0
    return min(max(round(videos_per_class * test_fraction), 1), videos_per_class - 1)


def make_synthetic_dataset(
    out_dir: str | os.PathLike[str],
    *,
    seed: int = 0,
    videos_per_class: int = 16,
    frames_per_video: int = 24,
    clip_frames: int = 16,
    resolution: int = 32,
    fps: int = 8,
    test_fraction: float = 0.25,
) -> Path:
    """Render mp4 videos to ``out_dir/raw`` and build the clip store ``out_dir/clips``.

    The store is built from the *decoded* mp4 files, so synthetic data goes
    through the same lossy ffmpeg path as real videos. Per class, the last
    ``round(videos_per_class * test_fraction)`` videos form the test split.
    Clips of ``clip_frames`` consecutive frames start every 4 frames. Returns
    the store path; does nothing if a store with the same parameters exists.
    """
    if videos_per_class < 1 or clip_frames < 1 or frames_per_video < clip_frames:
        raise ValueError("need videos_per_class >= 1 and frames_per_video >= clip_frames >= 1")
    if not 0 <= test_fraction < 1:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    out_dir = Path(out_dir)
    store_dir = out_dir / "clips"
    params: dict[str, Any] = {
        "generator_version": _GENERATOR_VERSION, "seed": seed,
        "videos_per_class": videos_per_class, "frames_per_video": frames_per_video,
        "clip_frames": clip_frames, "resolution": resolution, "fps": fps,
        "test_fraction": test_fraction,
    }
    videos = [
        (ci, vi, Path("raw") / name / f"{name}_{vi:03d}.mp4")
        for ci, name in enumerate(CLASS_NAMES)
        for vi in range(videos_per_class)
    ]
    if _is_up_to_date(store_dir, params) and all((out_dir / rel).is_file() for _, _, rel in videos):
        return store_dir

    n_test = _num_test_videos(videos_per_class, test_fraction)

    def clips() -> Iterator[tuple[np.ndarray, dict[str, Any]]]:
        for ci, vi, rel in tqdm(videos, desc="synthetic videos", unit="video"):
            frames = render_video(ci, vi, seed=seed, frames=frames_per_video, resolution=resolution, fps=fps)
            write_video(out_dir / rel, frames, fps=fps)
            decoded = read_video(out_dir / rel)
            split = "test" if vi >= videos_per_class - n_test else "train"
            for start, clip in clips_from_video(decoded, clip_frames, stride=1, step=4):
                yield clip, {
                    "dataset": "synthetic", "split": split, "class_index": ci,
                    "class_name": CLASS_NAMES[ci], "source_video": rel.as_posix(),
                    "start_frame": start, "stride": 1,
                }

    return write_clip_store(
        store_dir, clips(), dataset="synthetic", frames=clip_frames, height=resolution,
        width=resolution, class_names=list(CLASS_NAMES), params=params,
    )


def _is_up_to_date(store_dir: Path, params: dict[str, Any]) -> bool:
    try:
        store = ClipStore(store_dir)
    except (ClipStoreError, OSError, ValueError):
        return False
    # Round-trip through JSON so e.g. tuples/ints compare like the stored copy.
    return store.meta.get("params") == json.loads(json.dumps(params))


def main(argv: list[str] | None = None) -> None:
    """CLI: build the synthetic dataset and print a one-line summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("data/synthetic"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--videos-per-class", type=int, default=16)
    parser.add_argument("--frames-per-video", type=int, default=24)
    parser.add_argument("--clip-frames", type=int, default=16)
    parser.add_argument("--fps", type=int, default=8)
    parser.add_argument("--test-fraction", type=float, default=0.25)
    args = parser.parse_args(argv)
    path = make_synthetic_dataset(
        args.out, seed=args.seed, videos_per_class=args.videos_per_class,
        frames_per_video=args.frames_per_video, clip_frames=args.clip_frames,
        resolution=args.resolution, fps=args.fps, test_fraction=args.test_fraction,
    )
    store = ClipStore(path)
    print(
        f"synthetic: {len(store.class_names)} classes, {len(store)} clips "
        f"(train {len(store.split_indices('train'))}, test {len(store.split_indices('test'))}) "
        f"of {store.frames}x{store.resolution[0]}x{store.resolution[1]} -> {path}"
    )


if __name__ == "__main__":
    main()
