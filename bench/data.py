"""Data pipeline speed on this machine, as ratios measured in one run on self-made videos.

1. Preprocessing throughput (decode + crop + scale + clip store) ÷ a plain ``ffmpeg -f null``
   decode of the same files (target ≥ 0.7). Both sides run the same number of single-threaded ffmpeg
   processes (``-threads 1``, as preprocessing uses) from a freshly forked pool whose start-up is
   timed, and are repeated interleaved (decode, build, decode, build, …); the ratio is the median of
   each adjacent pair's ratio, so slow drifts in background load hit both sides alike. Heavy other
   load still skews wall clocks (the side with more runnable threads gets a larger share), so the
   CPU-time ratio of all processes and the cores the decode side kept busy are printed beside it.
2. ``FramePairLoader.next_batch`` clips/s ÷ what training consumes (target ≥ 5):
   default profile at 32²: ~3 steps/s × batch 16 = 48 clips/s on 2 CPU cores;
   paper at 128²: 25,000 kimg in ≤ 4.4 days (Appendix A.1) = 25e6 / (4.4 × 86,400 s) ≈ 66 real
   clips/s over all GPUs (kimg counts real videos shown to D; ≈ 1 step/s at batch 64).

    python bench/data.py [--videos 24] [--frames 64] [--workers N] [--repeats 11]
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from multiprocessing import get_context
from pathlib import Path

import imageio_ffmpeg
import numpy as np

from digan.data.clip_store import ClipStore
from digan.data.datasets import FramePairLoader
from digan.data.preprocess import PreprocessConfig, preprocess_dataset

DEFAULT_CLIPS_PER_S = 3 * 16
PAPER_CLIPS_PER_S = 25_000_000 / (4.4 * 86_400)


def make_videos(raw: Path, count: int, frames: int) -> list[Path]:
    """UCF-101-layout videos of drifting texture (320×240; half mpeg4 .avi, half x264 .mp4)."""
    lists = raw / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    (lists / "classInd.txt").write_text("1 Drift\n")
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    paths = []
    for i in range(count):
        suffix, codec = (".avi", ["-c:v", "mpeg4", "-q:v", "3"]) if i % 2 else (".mp4", ["-c:v", "libx264", "-crf", "20"])
        path = raw / "UCF-101" / "Drift" / f"v_Drift_g{i:02d}_c01{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        dy, dx = rng.integers(0, 200, 2)
        video = np.stack([np.roll(texture, (-dy - k, -dx - 2 * k), axis=(0, 1))[:240, :320] for k in range(frames)])
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
                        "-s", "320x240", "-framerate", "25", "-i", "pipe:0", *codec, "-pix_fmt", "yuv420p", str(path)],
                       input=video.tobytes(), check=True)
        paths.append(path)
    (lists / "trainlist01.txt").write_text("".join(f"Drift/{p.name} 1\n" for p in paths))
    (lists / "testlist01.txt").write_text("")
    return paths


def null_decode(path: Path) -> None:
    """Decode only: the same thread count and stream selection as preprocessing's ffmpeg."""
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-nostdin", "-threads", "1", "-i", str(path),
                    "-an", "-sn", "-dn", "-f", "null", "-"], check=True)


def null_decode_all(paths: list[Path], workers: int) -> None:
    """Every file through a fresh pool, as ``preprocess_dataset`` forks its own."""
    with get_context("fork").Pool(workers) as pool:
        pool.map(null_decode, paths, chunksize=1)


def preprocess_all(raw: Path, out: Path, workers: int) -> None:
    """A from-scratch build of the 128² ``all`` store (``out`` must not hold one)."""
    preprocess_dataset("ucf101", raw, out, PreprocessConfig(resolution=128, workers=workers, stores=("all",)))


def _cpu_seconds() -> float:
    """User + system time of this process and every reaped descendant (pool workers, ffmpeg)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(fn: Callable[[], None]) -> tuple[float, float]:
    """Wall and CPU seconds of ``fn()``."""
    cpu, start = _cpu_seconds(), time.perf_counter()
    fn()
    return time.perf_counter() - start, _cpu_seconds() - cpu


def compare(null: Callable[[], None], pre: Callable[[], None], reset: Callable[[], None],
            repeats: int) -> dict[str, list[float]]:
    """Interleaved repeats, each a decode then a preprocessing run.

    The order is fixed rather than alternating: a preprocessing run straight after another waits
    on the disk still flushing the previous store (+5 % wall time, same CPU time, over 44 runs on
    this machine), which a real single build never does; a decode after a build is not slowed.
    ``reset`` (untimed) removes the previous store so each build starts from scratch.
    """
    times: dict[str, list[float]] = {"null_wall": [], "null_cpu": [], "pre_wall": [], "pre_cpu": []}
    for _ in range(repeats):
        for side, fn in (("null", null), ("pre", pre)):
            if side == "pre":
                reset()
            wall, cpu = timed(fn)
            times[f"{side}_wall"].append(wall)
            times[f"{side}_cpu"].append(cpu)
    return times


def loader_clips_per_s(store: ClipStore, batch: int, seconds: float = 2.0) -> float:
    loader = FramePairLoader(store, batch, seed=0, split="all", xflip=True, delta_t_rule="abs")
    loader.next_batch()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        loader.next_batch()
        n += batch
    return n / (time.perf_counter() - start)


def print_preprocess(t: dict[str, list[float]], videos: int, frames: int, workers: int, clips: int) -> None:
    """Medians of both sides, every repeat's ratio, and whether other load skewed the wall clock."""
    total_frames, cpus = videos * frames, os.cpu_count() or 1
    ratios = [n / p for n, p in zip(t["null_wall"], t["pre_wall"])]
    cpu_ratio = statistics.median(n / p for n, p in zip(t["null_cpu"], t["pre_cpu"]))
    # A decode side that keeps fewer cores busy than it could is sharing them with other work.
    cores, usable = statistics.median(c / w for c, w in zip(t["null_cpu"], t["null_wall"])), min(workers, cpus)
    print(f"{videos} videos × {frames} frames 320×240, {workers} processes × 1 ffmpeg thread, {cpus} CPUs, "
          f"{len(ratios)} interleaved repeats (medians)")
    print(f"ffmpeg -f null decode : {total_frames / statistics.median(t['null_wall']):8.0f} frames/s")
    print(f"preprocess to 128²    : {total_frames / statistics.median(t['pre_wall']):8.0f} frames/s "
          f"({clips} clips)  ratio {statistics.median(ratios):.2f} (target ≥ 0.7)")
    print(f"  per-repeat ratios {' '.join(f'{r:.2f}' for r in ratios)}; CPU-time ratio {cpu_ratio:.2f}; "
          f"decode kept {cores:.2f} of {usable} cores busy")
    if cores < 0.75 * usable:
        print("  other load on this machine: wall-clock shares follow the scheduler more than the work, "
              "so the CPU-time ratio is the fairer figure")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=24)
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=11)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="digan-bench-data-") as tmp:
        raw = Path(tmp) / "ucf101"
        paths = make_videos(raw, args.videos, args.frames)
        out = Path(tmp) / "clips128"
        t = compare(lambda: null_decode_all(paths, args.workers), lambda: preprocess_all(raw, out, args.workers),
                    lambda: shutil.rmtree(out, ignore_errors=True), args.repeats)
        stores = {128: ClipStore(out / "all")}
        print_preprocess(t, args.videos, args.frames, args.workers, len(stores[128]))
        preprocess_dataset("ucf101", raw, Path(tmp) / "clips32",
                           PreprocessConfig(resolution=32, workers=args.workers, stores=("all",)))
        stores[32] = ClipStore(Path(tmp) / "clips32" / "all")
        for res, batch, need, name in ((32, 16, DEFAULT_CLIPS_PER_S, "default 3 steps/s × 16"),
                                       (128, 64, PAPER_CLIPS_PER_S, "paper 25,000 kimg / 4.4 days")):
            rate = loader_clips_per_s(stores[res], batch)
            print(f"loader {res:3d}² batch {batch:2d}  : {rate:8.0f} clips/s; needs {need:5.1f} ({name}) "
                  f"ratio {rate / need:.1f}× (target ≥ 5×)")


if __name__ == "__main__":
    main()
