"""Data pipeline speed on this machine, as ratios measured in one run on self-made videos.

1. Preprocessing throughput (decode + crop + resample + clip store) ÷ a plain ``ffmpeg -f null``
   decode of the same files (target ≥ 0.7), for both ``resample`` rules (official: ffmpeg crops,
   the workers interpolate with torch; ffmpeg: one swscale pass). Both sides run the same number of
   single-threaded ffmpeg processes (``-threads 1``, as preprocessing uses) from a freshly forked pool
   whose start-up is timed, and are repeated interleaved (decode, build, decode, build, …); the ratio
   is the median of each adjacent pair's ratio, so slow drifts in background load hit both sides
   alike. Heavy other load still skews wall clocks (the side with more runnable threads gets a larger
   share), so the CPU-time ratio of all processes and the cores the decode side kept busy are printed
   beside it.
2. ``FramePairLoader.next_batch`` clips/s ÷ what training consumes (target ≥ 5):
   default profile at 32²: ~3 steps/s × batch 16 = 48 clips/s on 2 CPU cores;
   paper at 128²: 25,000 kimg in ≤ 4.4 days (Appendix A.1) = 25e6 / (4.4 × 86,400 s) ≈ 66 real
   clips/s over all GPUs (kimg counts real videos shown to D; ≈ 1 step/s at batch 64).
3. How far the two ``resample`` rules are apart at 128², in uint8 levels, on the drifting noise of 1
   and on the eight synthetic classes (digan/data/synthetic.py) rendered at 320×240, with the mean
   spatial gradient of each (fine detail that the anti-aliased rule smooths away).

    python bench/data.py [--videos 24] [--frames 64] [--workers N] [--repeats 11]
"""
from __future__ import annotations

import argparse
import functools
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from multiprocessing import get_context
from pathlib import Path

import imageio_ffmpeg
import numpy as np

from digan.data.clip_store import ClipStore
from digan.data.datasets import FramePairLoader
from digan.data.preprocess import PreprocessConfig, preprocess_dataset
from digan.data.preprocess_config import RESAMPLES
from digan.data.synthetic import CLASS_SPECS, render_video

DEFAULT_CLIPS_PER_S = 3 * 16
PAPER_CLIPS_PER_S = 25_000_000 / (4.4 * 86_400)


def write_ucf(raw: Path, videos: Iterable[np.ndarray]) -> list[Path]:
    """UCF-101 layout (one class, all train) of [T, 240, 320, 3] videos; half mpeg4 .avi, half x264 .mp4."""
    lists = raw / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    (lists / "classInd.txt").write_text("1 Drift\n")
    paths = []
    for i, video in enumerate(videos):
        avi, mp4 = (".avi", ["-c:v", "mpeg4", "-q:v", "3"]), (".mp4", ["-c:v", "libx264", "-crf", "20"])
        suffix, codec = avi if i % 2 else mp4
        path = raw / "UCF-101" / "Drift" / f"v_Drift_g{i:02d}_c01{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
                        "-s", "320x240", "-framerate", "25", "-i", "pipe:0", *codec, "-pix_fmt", "yuv420p", str(path)],
                       input=video.tobytes(), check=True)
        paths.append(path)
    (lists / "trainlist01.txt").write_text("".join(f"Drift/{p.name} 1\n" for p in paths))
    (lists / "testlist01.txt").write_text("")
    return paths


def drifting_noise(count: int, frames: int) -> Iterator[np.ndarray]:
    """320×240 windows of one uniform-noise texture, each drifting by (1, 2) pixels a frame."""
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    for _ in range(count):
        dy, dx = rng.integers(0, 200, 2)
        yield np.stack([np.roll(texture, (-dy - k, -dx - 2 * k), axis=(0, 1))[:240, :320] for k in range(frames)])


def synthetic_videos(frames: int) -> Iterator[np.ndarray]:
    """One video of each synthetic class rendered at 320², cut to its middle 320×240."""
    for c in range(len(CLASS_SPECS)):
        yield render_video(c, 0, seed=0, frames=frames, resolution=320)[:, 40:280]


def null_decode(path: Path) -> None:
    """Decode only: the same thread count and stream selection as preprocessing's ffmpeg."""
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-nostdin", "-threads", "1", "-i", str(path),
                    "-an", "-sn", "-dn", "-f", "null", "-"], check=True)


def null_decode_all(paths: list[Path], workers: int) -> None:
    """Every file through a fresh pool, as ``preprocess_dataset`` forks its own."""
    with get_context("fork").Pool(workers) as pool:
        pool.map(null_decode, paths, chunksize=1)


def preprocess_all(raw: Path, out: Path, workers: int, resample: str = "official", resolution: int = 128) -> None:
    """A from-scratch build of the ``all`` store (``out`` must not hold one)."""
    preprocess_dataset("ucf101", raw, out, PreprocessConfig(resolution=resolution, workers=workers, stores=("all",),
                                                            resample=resample))


def _cpu_seconds() -> float:
    """User + system time of this process and every reaped descendant (pool workers, ffmpeg)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(fn: Callable[[], None]) -> tuple[float, float]:
    """Wall and CPU seconds of ``fn()``."""
    cpu, start = _cpu_seconds(), time.perf_counter()
    fn()
    return time.perf_counter() - start, _cpu_seconds() - cpu


def compare(null: Callable[[], None], builds: dict[str, Callable[[], None]], reset: Callable[[], None],
            repeats: int) -> dict[str, dict[str, list[float]]]:
    """Interleaved repeats; in each, every build runs once, right after a decode of its own.

    The order is fixed rather than alternating: a preprocessing run straight after another waits
    on the disk still flushing the previous store (+5 % wall time, same CPU time, over 44 runs on
    this machine), which a real single build never does; a decode after a build is not slowed.
    ``reset`` (untimed) removes the previous store so each build starts from scratch.
    """
    times = {name: {"null_wall": [], "null_cpu": [], "pre_wall": [], "pre_cpu": []} for name in builds}
    for _ in range(repeats):
        for name, build in builds.items():
            for side, fn in (("null", null), ("pre", build)):
                if side == "pre":
                    reset()
                wall, cpu = timed(fn)
                times[name][f"{side}_wall"].append(wall)
                times[name][f"{side}_cpu"].append(cpu)
    return times


def loader_clips_per_s(store: ClipStore, batch: int, seconds: float = 2.0) -> float:
    loader = FramePairLoader(store, batch, seed=0, split="all", xflip=True, delta_t_rule="abs")
    loader.next_batch()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        loader.next_batch()
        n += batch
    return n / (time.perf_counter() - start)


def print_preprocess(t: dict[str, list[float]], resample: str, total_frames: int, workers: int, clips: int) -> None:
    """Medians of both sides, every repeat's ratio, and whether other load skewed the wall clock."""
    cpus = os.cpu_count() or 1
    ratios = [n / p for n, p in zip(t["null_wall"], t["pre_wall"])]
    cpu_ratio = statistics.median(n / p for n, p in zip(t["null_cpu"], t["pre_cpu"]))
    # A decode side that keeps fewer cores busy than it could is sharing them with other work.
    cores, usable = statistics.median(c / w for c, w in zip(t["null_cpu"], t["null_wall"])), min(workers, cpus)
    print(f"resample {resample:8s}: ffmpeg -f null decode {total_frames / statistics.median(t['null_wall']):5.0f} "
          f"frames/s, preprocess to 128² {total_frames / statistics.median(t['pre_wall']):5.0f} frames/s "
          f"({clips} clips), ratio {statistics.median(ratios):.2f} (target ≥ 0.7)")
    print(f"  per-repeat ratios {' '.join(f'{r:.2f}' for r in ratios)}; CPU-time ratio {cpu_ratio:.2f}; "
          f"decode kept {cores:.2f} of {usable} cores busy")
    if cores < 0.75 * usable:
        print("  other load on this machine: wall-clock shares follow the scheduler more than the work, "
              "so the CPU-time ratio is the fairer figure")


def _gradient(clip: np.ndarray) -> float:
    """Mean absolute difference of horizontally and vertically adjacent pixels."""
    return float(np.abs(np.diff(clip, axis=1)).mean() + np.abs(np.diff(clip, axis=2)).mean()) / 2


def resampling_difference(raw: Path, work: Path, workers: int) -> str:
    """|official − ffmpeg| over every clip of ``raw`` at 128², and each rule's mean spatial gradient."""
    for resample in RESAMPLES:
        preprocess_all(raw, work / resample, workers, resample)
    official, ffmpeg = (ClipStore(work / r / "all") for r in ("official", "ffmpeg"))
    diff_sum, diff_max, grad = 0.0, 0.0, {"official": 0.0, "ffmpeg": 0.0}
    for i in range(len(official)):
        a, b = official[i].astype(np.float32), ffmpeg[i].astype(np.float32)
        diff_sum, diff_max = diff_sum + float(np.abs(a - b).mean()), max(diff_max, float(np.abs(a - b).max()))
        grad["official"] += _gradient(a) / len(official)
        grad["ffmpeg"] += _gradient(b) / len(official)
    return (f"mean {diff_sum / len(official):5.2f}, max {diff_max:3.0f} levels; mean |spatial gradient| official "
            f"{grad['official']:.2f}, ffmpeg {grad['ffmpeg']:.2f} ({grad['official'] / grad['ffmpeg']:.2f}×)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=24)
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=11)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="digan-bench-data-") as tmp:
        raw, out = Path(tmp) / "ucf101", Path(tmp) / "clips128"
        paths = write_ucf(raw, drifting_noise(args.videos, args.frames))
        builds = {r: functools.partial(preprocess_all, raw, out, args.workers, r) for r in RESAMPLES}
        t = compare(lambda: null_decode_all(paths, args.workers), builds,
                    lambda: shutil.rmtree(out, ignore_errors=True), args.repeats)
        print(f"{args.videos} videos × {args.frames} frames 320×240, {args.workers} processes × 1 ffmpeg thread, "
              f"{os.cpu_count()} CPUs, {args.repeats} interleaved repeats (medians)")
        clips = len(ClipStore(out / "all"))
        for resample in RESAMPLES:
            print_preprocess(t[resample], resample, args.videos * args.frames, args.workers, clips)
        stores = {}
        for res in (32, 128):
            preprocess_all(raw, Path(tmp) / f"loader{res}", args.workers, resolution=res)
            stores[res] = ClipStore(Path(tmp) / f"loader{res}" / "all")
        for res, batch, need, name in ((32, 16, DEFAULT_CLIPS_PER_S, "default 3 steps/s × 16"),
                                       (128, 64, PAPER_CLIPS_PER_S, "paper 25,000 kimg / 4.4 days")):
            rate = loader_clips_per_s(stores[res], batch)
            print(f"loader {res:3d}² batch {batch:2d}  : {rate:8.0f} clips/s; needs {need:5.1f} ({name}) "
                  f"ratio {rate / need:.1f}× (target ≥ 5×)")
        print(f"official − ffmpeg resampling, drifting noise      : "
              f"{resampling_difference(raw, Path(tmp) / 'noise', args.workers)}")
        write_ucf(Path(tmp) / "synthetic", synthetic_videos(16))
        print(f"official − ffmpeg resampling, 8 synthetic classes : "
              f"{resampling_difference(Path(tmp) / 'synthetic', Path(tmp) / 'synth', args.workers)}")

if __name__ == "__main__":
    main()
