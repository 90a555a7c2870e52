"""Memory planning: how many videos and frames one generator call may hold within a byte budget.

The generator keeps activations as ``[B, C, T·H·W]``, so a call's memory grows with videos × frames ×
pixels × channels. :func:`forward_bytes` and :func:`autograd_bytes` count, per (video, frame), the
channels each synthesis block holds at its own side length, read from the generator's blocks; :func:`plan`
turns an estimate and a budget into chunk sizes. At the paper's widths (128², channel_base 32768,
channel_max 512, 128 Fourier features) a 512² frame holds 0.81 GB without autograd (Table 4 at ×4, 16
videos × 16 frames in one call: 208 GB; measured on CPU: 1.61 GB for two frames, estimate 1.64) and a
128² frame 0.19 GB with autograd (``space_recon``'s 16 clips × 16 frames: 49 GB; measured: 79 % of the
estimate). The estimates bound the synthesis network's tensors and the call's output; the model's
parameters, real clips and the metric backbones come on top.
"""
from __future__ import annotations

from dataclasses import dataclass

from digan.models.generator import Generator

GB = 10 ** 9
DEFAULT_BUDGET_GB = 8.0
RGB = 3


@dataclass(frozen=True)
class Plan:
    """Videos per chunk and frames per chunk of one generator call."""

    videos: int
    frames: int


@dataclass(frozen=True)
class _Level:
    """One synthesis block at the rendered resolution: its side, channels and layers."""

    side: int
    features_in: int  # channels arriving from the previous block (0 for the first)
    channels: int
    layers: int
    embedding: int  # Fourier channels (sin and cos) of a new coordinate embedding, 0 without one
    upsampled: bool  # features arrive at half the side


def _levels(G: Generator, resolution: int | None) -> list[_Level]:
    out_res = resolution or G.cfg.resolution
    levels = []
    for i, block in enumerate(G.blocks):
        embedding = block.embedding.channels if block.embedding is not None else 0
        first = block.layers[0]
        levels.append(_Level(side=block.scale * out_res // G.cfg.resolution,
                             features_in=first.in_channels - embedding, channels=first.out_channels,
                             layers=len(block.layers), embedding=embedding, upsampled=block.upsample and i > 0))
    return levels


def _itemsize(G: Generator) -> int:
    return next(G.parameters()).element_size()


def forward_bytes(G: Generator, resolution: int | None = None) -> int:
    """Peak bytes per (video, frame) of synthesis without autograd at ``resolution``.

    Within a block the loop keeps the embedding (and, while it is made, its pre-activation of half the
    channels) beside one layer's input and output; the first layer of an upsampled block also holds the
    half-side features and their projection before the nearest upsampling. The largest block sets the peak.
    """
    peak = 0
    for lv in _levels(G, resolution):
        arriving = lv.features_in / 4 if lv.upsampled else lv.features_in
        stages = [arriving + 1.5 * lv.embedding,
                  arriving + lv.embedding + lv.channels * (1.25 if lv.upsampled else 1.0)]
        if lv.layers > 1:
            stages.append(lv.embedding + 2 * lv.channels)
        peak = max(peak, (max(stages) + 2 * RGB) * lv.side ** 2)
    return int(peak * _itemsize(G))


def autograd_bytes(G: Generator, resolution: int | None = None) -> int:
    """Peak bytes per (video, frame) of synthesis and backward with respect to the latents (projection).

    Autograd stores every layer's output (the leaky ReLU saves it, the next 1×1 layer reads the same
    tensor) and each embedding with its pre-activation (sin and cos save it); the backward pass of the
    largest block adds gradients of an output, an input and the embedding, and the loss a few RGB tensors.
    """
    stored = backward = 0.0
    levels = _levels(G, resolution)
    for lv in levels:
        pixels = lv.side ** 2
        stored += (lv.layers * lv.channels + 1.5 * lv.embedding + 2 * RGB) * pixels
        backward = max(backward, (3 * lv.channels + 1.5 * lv.embedding) * pixels)
    loss = 4 * RGB * levels[-1].side ** 2
    return int((stored + backward + loss) * _itemsize(G))


def output_bytes(G: Generator, resolution: int | None = None) -> int:
    """Bytes per (video, frame) of the RGB frames a call returns."""
    return RGB * (resolution or G.cfg.resolution) ** 2 * _itemsize(G)


def plan(per_item: int, videos: int, frames: int, budget_gb: float, *, fixed: int = 0,
         max_frames: int | None = None) -> Plan:
    """Chunk sizes whose ``per_item`` bytes per (video, frame) stay within ``budget_gb`` beside ``fixed`` bytes.

    Whole videos first (fewer, larger calls), then as many videos as fit; a single frame that does not
    fit is an error rather than a silent overrun.
    """
    if budget_gb <= 0:
        raise ValueError(f"memory budget must be > 0 GB, got {budget_gb}")
    items = int((budget_gb * GB - fixed) // max(per_item, 1))
    if items < 1:
        need = (fixed + per_item) / GB
        raise ValueError(f"memory budget {budget_gb} GB is below one frame's estimate ({need:.3f} GB with the "
                         f"call's output): raise memory_budget_gb")
    chunk = max(1, min(frames, items, max_frames or frames))
    return Plan(videos=max(1, min(videos, items // chunk)), frames=chunk)
