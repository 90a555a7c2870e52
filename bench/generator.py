"""Generator and discriminator cost at the paper's widths (128², z = w = z_M = 512).

Prints parameter counts, multiply-adds per 16×128² video (the paper's Appendix I counts 147.9 G
with fvcore), and CPU throughput of the generator forward as achieved FLOP/s divided by the
FLOP/s of a dense matmul of similar shape measured in the same process (target >= 0.5).

    python bench/generator.py [--frames 16] [--batch 1] [--repeats 5]
"""
from __future__ import annotations

import argparse
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from digan.config import DiscriminatorConfig, GeneratorConfig
from digan.models.discriminator import VideoDiscriminators
from digan.models.generator import Generator

PAPER_GMACS = 147.9


def official_order_macs(G: Generator, frames: int) -> int:
    """Multiply-adds of the architecture as the official code evaluates it (upsample, then project
    [features; embedding] with every FMM layer; skip toRGB at every block)."""
    total = 0
    for block in G.blocks:
        pixels = block.scale * block.scale * frames
        for layer in block.layers:
            total += layer.in_channels * layer.out_channels * pixels
        total += block.torgb.weight.shape[1] * 3 * pixels
    return total


def best_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    torch.manual_seed(0)
    G = Generator(GeneratorConfig()).eval().requires_grad_(False)
    D = VideoDiscriminators(DiscriminatorConfig(), 128)
    n_g = sum(p.numel() for p in G.parameters())
    n_d = sum(p.numel() for p in D.parameters())
    print(f"parameters: G {n_g / 1e6:.2f} M (official 63.5 M), both D {n_d / 1e6:.2f} M (official 56.8 M)")

    z = torch.randn(args.batch, 512)
    zm = torch.randn(args.batch, 512)
    times = torch.linspace(0, 1, args.frames)
    counter = FlopCounterMode(display=False)
    with counter:
        G(z, zm, times)
    executed = counter.get_total_flops()  # FLOPs = 2 × multiply-adds
    official = official_order_macs(G, args.frames) * args.batch
    print(f"multiply-adds per {args.batch}×{args.frames}×128² batch: official order {official / 1e9:.1f} G "
          f"(paper, fvcore: {PAPER_GMACS * args.batch:.1f} G); executed here {executed / 2e9:.1f} G "
          f"(1×1 layers projected before nearest upsampling)")

    seconds = best_time(lambda: G(z, zm, times), args.repeats)
    a = torch.randn(512, 768)
    b = torch.randn(768, 64 * 64 * args.frames)
    matmul_seconds = best_time(lambda: a @ b, args.repeats)
    matmul_flops = 2 * a.shape[0] * a.shape[1] * b.shape[1] / matmul_seconds
    achieved = executed / seconds
    print(f"G forward: {seconds:.2f} s per batch on {torch.get_num_threads()} threads; "
          f"achieved {achieved / 1e9:.1f} GFLOP/s executed, "
          f"{2 * official / seconds / 1e9:.1f} GFLOP/s in official-order FLOPs")
    print(f"dense matmul [512×768]·[768×{b.shape[1]}]: {matmul_flops / 1e9:.1f} GFLOP/s")
    print(f"ratio achieved / dense matmul: {achieved / matmul_flops:.2f} (target >= 0.5)")


if __name__ == "__main__":
    main()
