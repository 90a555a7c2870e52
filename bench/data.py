"""Data pipeline speed on this machine, as ratios measured in one run on self-made videos.

1. Preprocessing throughput (decode + crop + scale + clip store) ÷ a plain ``ffmpeg -f null``
   decode of the same files with the same number of processes (target ≥ 0.7).
2. ``FramePairLoader.next_batch`` clips/s ÷ what training consumes (target ≥ 5):
   default profile at 32²: ~3 steps/s × batch 16 = 48 clips/s on 2 CPU cores;
   paper at 128²: 25,000 kimg in ≤ 4.4 days (Appendix A.1) = 25e6 / (4.4 × 86,400 s) ≈ 66 real
   clips/s over all GPUs (kimg counts real videos shown to D; ≈ 1 step/s at batch 64).

    python bench/data.py [--videos 24] [--frames 64] [--workers N]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
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
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-nostdin", "-i", str(path), "-an",
                    "-f", "null", "-"], check=True)


def loader_clips_per_s(store: ClipStore, batch: int, seconds: float = 2.0) -> float:
    loader = FramePairLoader(store, batch, seed=0, split="all", xflip=True, delta_t_rule="abs")
    loader.next_batch()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        loader.next_batch()
        n += batch
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=24)
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="digan-bench-data-") as tmp:
        raw = Path(tmp) / "ucf101"
        paths = make_videos(raw, args.videos, args.frames)
        with get_context("fork").Pool(args.workers) as pool:
            start = time.perf_counter()
            pool.map(null_decode, paths, chunksize=1)
            t_null = time.perf_counter() - start

        stores = {}
        for res in (128, 32):
            cfg = PreprocessConfig(resolution=res, workers=args.workers, stores=("all",))
            start = time.perf_counter()
            preprocess_dataset("ucf101", raw, Path(tmp) / f"clips{res}", cfg)
            elapsed = time.perf_counter() - start
            stores[res] = ClipStore(Path(tmp) / f"clips{res}" / "all")
            if res == 128:
                t_pre = elapsed
        total_frames = args.videos * args.frames
        print(f"{args.videos} videos × {args.frames} frames 320×240, {args.workers} processes, "
              f"{os.cpu_count()} CPUs")
        print(f"ffmpeg -f null decode : {total_frames / t_null:8.0f} frames/s")
        print(f"preprocess to 128²    : {total_frames / t_pre:8.0f} frames/s "
              f"({len(stores[128])} clips)  ratio {t_null / t_pre:.2f} (target ≥ 0.7)")
        for res, batch, need, name in ((32, 16, DEFAULT_CLIPS_PER_S, "default 3 steps/s × 16"),
                                       (128, 64, PAPER_CLIPS_PER_S, "paper 25,000 kimg / 4.4 days")):
            rate = loader_clips_per_s(stores[res], batch)
            print(f"loader {res:3d}² batch {batch:2d}  : {rate:8.0f} clips/s; needs {need:5.1f} ({name}) "
                  f"ratio {rate / need:.1f}× (target ≥ 5×)")


if __name__ == "__main__":
    main()
