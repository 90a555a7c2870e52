"""Space interpolation: FVD of upsampled videos (paper Table 4, §4.2 "Space interpolation").

An INR is a function of continuous coordinates, so DIGAN renders a video at s× its training
resolution by sampling a denser grid ("inr"). The paper compares this with rendering at the
training resolution and upsampling bicubically ("bicubic"). Both methods use the same latents and
are scored against real clips prepared at the target resolution, with the project's protocol
(runs of fresh generated sets, mean ± std; Appendix A.2).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from digan.generate import generate_frames, to_uint8
from digan.memory import DEFAULT_BUDGET_GB
from digan.metrics.backbones.registry import Backbone
from digan.metrics.features import VideoSource, cached_outputs
from digan.metrics.protocol import distance_runs
from digan.models.generator import Generator

FRAMES = 16  # the paper's evaluation clips (Appendix A.2)
METHODS = ("inr", "bicubic")


def target_resolution(G: Generator, scale: float) -> int:
    """``scale`` × the training resolution, if the generator can render it on a whole pixel grid."""
    step = G.cfg.resolution // G.cfg.input_resolution
    target = scale * G.cfg.resolution
    if scale <= 0 or target != int(target) or int(target) % step:
        raise ValueError(f"scale {scale}: {target} is not a resolution this generator can render; it "
                         f"must be a multiple of {step} (resolution {G.cfg.resolution} / input resolution "
                         f"{G.cfg.input_resolution})")
    return int(target)


def _hwc(video: Tensor) -> Tensor:
    """uint8 [N, T, 3, H, W] → [N, T, H, W, 3] on the CPU, as the backbones take."""
    return video.cpu().permute(0, 1, 3, 4, 2)


def render_upsampled(G: Generator, z: Tensor, z_motion: Tensor, times: Tensor, resolutions: list[int], *,
                     labels: Tensor | None = None,
                     memory_budget_gb: float = DEFAULT_BUDGET_GB) -> dict[int, dict[str, Tensor]]:
    """uint8 clips ``[N, T, R, R, 3]`` per target resolution R and method: "inr" renders at R,
    "bicubic" upsamples the training-resolution render of the same latents.

    Renders run in chunks of videos and frames within ``memory_budget_gb`` (:func:`generate_frames`,
    each chunk turned to uint8 as it is made) and bicubic upsampling one video at a time. At the paper's
    widths, ×4 (512²) and the default 8 GB: 9 frames per synthesis call (~7.2 GB estimated, ~0.8 GB of
    activations per 512² frame), beside the batch's uint8 clips (16 × 16 × 512² × 3: 0.2 GB per method).
    """
    common = dict(labels=labels, memory_budget_gb=memory_budget_gb)
    base = generate_frames(G, z, z_motion, times, **common)
    out = {}
    for r in resolutions:
        inr = generate_frames(G, z, z_motion, times, resolution=r, uint8=True, **common)
        # to_uint8 clips bicubic overshoot outside [−1, 1] to 0 and 255
        bicubic = torch.stack([to_uint8(F.interpolate(video, size=(r, r), mode="bicubic", align_corners=False))
                               for video in base])
        out[r] = {"inr": _hwc(inr), "bicubic": _hwc(bicubic)}
    return out


def _real_resolution(source: VideoSource) -> int:
    clip = next(iter(source.clips()), None)
    if clip is None:
        raise ValueError(f"{source.path}: no usable real clips")
    if clip.shape[1] != clip.shape[2]:
        raise ValueError(f"{source.path}: clips are {clip.shape[2]}×{clip.shape[1]}, not square")
    return int(clip.shape[1])


def upsampling_fvd(G: Generator, real_by_scale: dict[int, str | Path], *, backbone: Backbone, samples: int,
                   runs: int, seed: int = 0, cache_dir: Path | None = None, batch_size: int = 16,
                   memory_budget_gb: float = DEFAULT_BUDGET_GB) -> dict:
    """FVD/KVD of "inr" and "bicubic" videos at every scale against that scale's real clips.

    Latents of run r are seeded by (seed, r) as ``digan.metrics.generated`` does, and one draw
    serves every scale and both methods. ``batch_size`` videos are drawn and scored at a time; their
    rendering stays within ``memory_budget_gb`` (:func:`render_upsampled`), whatever ``batch_size``.
    """
    if backbone.features is None:
        raise ValueError(f"backbone {backbone.name!r} has no features for FVD/KVD")
    if samples < 2 or runs < 1:
        raise ValueError("need samples >= 2 and runs >= 1")
    targets = {scale: target_resolution(G, scale) for scale in real_by_scale}
    report: dict = {"base_resolution": G.cfg.resolution, "frames": FRAMES, "backbone": backbone.name,
                    "runs": runs, "samples": samples, "seed": seed, "scales": {}}
    real_out = {}
    for scale, path in real_by_scale.items():
        source = VideoSource(path, frames=FRAMES)
        found = _real_resolution(source)
        if found != targets[scale]:
            raise ValueError(f"real clips for scale {scale} ({path}) are {found}² but {scale} × "
                             f"{G.cfg.resolution} = {targets[scale]}")
        real_out[scale] = cached_outputs(backbone.features, backbone_identity=backbone.identity, kind="features",
                                         source=source, cache_dir=cache_dir, batch_size=batch_size)
        report["scales"][str(scale)] = {"resolution": targets[scale],
                                        "real": {"path": str(path), "clips": len(real_out[scale])}}

    device = next(G.parameters()).device
    times = torch.linspace(0.0, 1.0, FRAMES, device=device)
    resolutions = sorted(set(targets.values()))
    fake: dict[tuple[int, str], list[np.ndarray]] = {(r, m): [] for r in resolutions for m in METHODS}
    for run in range(runs):
        gen = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, run]).generate_state(1)[0]))
        parts: dict[tuple[int, str], list[np.ndarray]] = {key: [] for key in fake}
        for start in range(0, samples, batch_size):
            n = min(batch_size, samples - start)
            z = torch.randn(n, G.cfg.z_dim, generator=gen).to(device)
            zm = torch.randn(n, G.cfg.motion_z_dim, generator=gen).to(device)
            labels = (torch.randint(G.cfg.num_classes, (n,), generator=gen).to(device)
                      if G.cfg.num_classes else None)
            rendered = render_upsampled(G, z, zm, times, resolutions, labels=labels, memory_budget_gb=memory_budget_gb)
            for r, videos in rendered.items():
                for method, clips in videos.items():
                    parts[(r, method)].append(backbone.features(clips).double().cpu().numpy())
        for key, chunks in parts.items():
            fake[key].append(np.concatenate(chunks))

    for scale, real in real_out.items():
        entry = report["scales"][str(scale)]
        for method in METHODS:
            results = distance_runs(real, fake[(targets[scale], method)], backbone=backbone.name, runs=runs,
                                    samples=samples, seed=seed)
            entry[method] = {result.key: result.to_dict() for result in results}
    return report
