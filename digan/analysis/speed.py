"""Generation time per video (paper Table 3, §4.2 "Non-autoregressive generation"; Appendix I).

DIGAN's INR evaluates every frame of a video in one call, which the paper contrasts with
autoregressive generators that must produce frames one after another. This measures both on the
same model: all frames at once (batch 1 and batch B), and a frame-by-frame loop that calls the
synthesis network once per frame, as an autoregressive model would have to.

Efficiency is reported as achieved FLOP/s of the batched call divided by the FLOP/s of a dense
fp32 matmul of the generator's widest 1×1 layer over the same pixels, timed in the same process
(the approach of ``bench/generator.py``, which is a script outside the installed package, so the
small timing helper is repeated here).
"""
from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from digan.generate import generate_frames
from digan.models.generator import Generator


def _median_seconds(fn: Callable[[], object], repeats: int, device: torch.device) -> float:
    """Median wall time of ``fn`` after one warm-up call (CUDA work is synchronised)."""
    def timed() -> float:
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start

    timed()
    return statistics.median(timed() for _ in range(repeats))


def describe_device(device: torch.device) -> str:
    """The device by name, so a Table 3 time says what it was measured on: ``cuda:0 (NVIDIA H200)`` or
    ``cpu (<CPU model>)``."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    model = platform.processor()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]
        model = names[0] if names else model
    return f"{device.type} ({model or 'unknown model'})"


def _latents(G: Generator, batch: int, device: torch.device) -> dict:
    gen = torch.Generator().manual_seed(0)
    labels = torch.zeros(batch, dtype=torch.long, device=device) if G.cfg.num_classes else None
    return {"z": torch.randn(batch, G.cfg.z_dim, generator=gen).to(device),
            "z_motion": torch.randn(batch, G.cfg.motion_z_dim, generator=gen).to(device), "labels": labels}


def _widest_layer(G: Generator) -> tuple[int, int]:
    """(in, out) channels of the FMM layer with the most weights: the matmul shape that dominates."""
    return max(((layer.in_channels, layer.out_channels) for block in G.blocks for layer in block.layers),
               key=lambda io: io[0] * io[1])


def measure_generation_speed(G: Generator, *, frames: int = 16, batch_size: int = 4, repeats: int = 3,
                             device: str = "cpu") -> dict:
    """Seconds per video for batch 1, batch ``batch_size`` and frame-sequential generation.

    ``G`` is moved to ``device``. "frames_parallel" is the batch-1 measurement itself (one call for
    all frames); it is listed under its own name so that it reads against "frames_sequential".
    """
    if frames < 1 or batch_size < 1 or repeats < 1:
        raise ValueError("frames, batch_size and repeats must be >= 1")
    dev = torch.device(device)
    G = G.to(dev)
    times = torch.linspace(0.0, 1.0, frames, device=dev)
    single, batched = _latents(G, 1, dev), _latents(G, batch_size, dev)

    def parallel(latents: dict) -> Callable[[], object]:
        return lambda: generate_frames(G, times=times, chunk=frames, **latents)

    one = _median_seconds(parallel(single), repeats, dev)
    many = _median_seconds(parallel(batched), repeats, dev)
    sequential = _median_seconds(lambda: generate_frames(G, times=times, chunk=1, **single), repeats, dev)

    def variant(seconds: float, batch: int) -> dict:
        return {"seconds_per_video": seconds, "batch_size": batch, "repeats": repeats}

    counter = FlopCounterMode(display=False)
    with counter:
        generate_frames(G, times=times, chunk=frames, **batched)
    flops = counter.get_total_flops()
    k, m = _widest_layer(G)
    a = torch.randn(m, k, device=dev)
    b = torch.randn(k, batch_size * frames * G.cfg.resolution ** 2, device=dev)
    matmul_flops_per_s = 2 * m * k * b.shape[1] / _median_seconds(lambda: a @ b, repeats, dev)
    return {
        "resolution": G.cfg.resolution,
        "frames": frames,
        "device": describe_device(dev),
        "threads": torch.get_num_threads(),
        "variants": {
            "batch1": variant(one, 1),
            f"batch{batch_size}": variant(many / batch_size, batch_size),
            "frames_sequential": variant(sequential, 1),
            "frames_parallel": variant(one, 1),
        },
        # Executed multiply-adds (FlopCounterMode counts 2 FLOPs per multiply-add).
        "macs_per_video": flops / 2 / batch_size,
        "matmul_roofline_ratio": (flops / many) / matmul_flops_per_s,
    }
