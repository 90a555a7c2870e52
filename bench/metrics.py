"""Metric cost on this machine, as ratios measured in one process.

1. I3D feature extraction: clips/s and achieved FLOP/s ÷ dense-matmul FLOP/s.
2. A full 10 × 2,048 FVD + KVD computation from cached 400-d features (target: seconds).
3. With ``--device cuda`` (on a GPU machine) the same extraction under bf16 autocast and TF32.

    python bench/metrics.py [--clips 8] [--frames 16] [--device cpu]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from digan.metrics.backbones.i3d import i3d_flops, load_i3d
from digan.metrics.protocol import distance_runs


def timed(fn, repeats: int = 2) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def matmul_flops(device: str, dtype: torch.dtype) -> float:
    a = torch.randn(2048, 2048, device=device, dtype=dtype)
    b = torch.randn(2048, 2048, device=device, dtype=dtype)
    return 2 * 2048 ** 3 / timed(lambda: a @ b, 3)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clips", type=int, default=8)
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--device", default="cpu")
    p.add_argument("--weights-dir", type=Path, default=Path("data/weights"))
    args = p.parse_args()

    model = load_i3d(args.weights_dir).to(args.device)
    videos = torch.randint(0, 256, (args.clips, args.frames, 128, 128, 3), dtype=torch.uint8, device=args.device)
    flops = i3d_flops(args.frames) * args.clips
    modes = [("fp32", torch.float32, None)]
    if args.device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        modes.append(("bf16 autocast", torch.bfloat16, torch.bfloat16))
    for label, dtype, autocast in modes:
        def extract(autocast=autocast):
            with torch.autocast(args.device.split(":")[0], dtype=autocast, enabled=autocast is not None):
                model.features(videos)
        seconds = timed(extract)
        roof = matmul_flops(args.device, dtype)
        print(f"I3D {label} on {args.device}: {args.clips / seconds:.2f} clips/s ({args.frames}×224² after "
              f"resize); achieved {flops / seconds / 1e9:.1f} GFLOP/s = {flops / seconds / roof:.2f} × dense "
              f"matmul ({roof / 1e9:.1f} GFLOP/s)")

    rng = np.random.default_rng(0)
    real = rng.normal(size=(13320, 400))
    fake = [rng.normal(0.1, 1.0, size=(2048, 400)) for _ in range(10)]
    start = time.perf_counter()
    results = distance_runs(real, fake, backbone="i3d", runs=10, samples=2048)
    seconds = time.perf_counter() - start
    print(f"10 × 2,048 FVD + KVD from cached features: {seconds:.2f} s "
          f"(FVD {results[0].mean:.1f}, KVD {results[1].mean:.3f} on random features)")


if __name__ == "__main__":
    main()
