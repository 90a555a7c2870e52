"""Prediction from projected latents: Table 6 / Fig. 5, 13, 14 and the PSNR/SSIM half of Table 4.

* Table 6 (Appendix E.2): project the given frames of a real clip and predict the others. DIGAN
  projects the given frames jointly into (w, z_M) and renders every t; the image baseline (the paper's
  StyleGAN2; here the INR-GAN image generator, ``cfg.motion`` False) projects each given frame on its
  own and linearly interpolates the projected latents between them.
* Table 4 (§4.2 "space interpolation", Appendix H): a low-resolution real clip is projected and
  rendered at s× resolution by the INR, against bicubic upsampling of the 1× reconstruction, both
  compared with a real s× clip of the same video.

Every score compares uint8 frames (generated frames rounded as the metrics expect) with data range
255, the convention of ``digan.metrics.ssim``.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import Tensor

from digan.analysis.projection import project, render
from digan.data.clip_store import ClipStore
from digan.generate import synthesize_frames, to_uint8
from digan.memory import DEFAULT_BUDGET_GB, plan
from digan.metrics.ssim import SSIM_BYTES_PER_VALUE, psnr, ssim
from digan.models.generator import Generator

DATA_RANGE = 255.0  # scores are computed on uint8 frames
HELD_BYTES_PER_VALUE = 4  # a group's clips: real, rendered and bicubic uint8 frames, and a byte of margin


def interpolate_latents(w_given: Tensor, given: Sequence[int], frames: Sequence[int]) -> Tensor:
    """Piecewise-linear codes ``[B, F, D]`` at frame indices ``frames`` from codes ``[B, K, D]`` at
    increasing ``given`` indices; frames outside the given span take the nearest given code."""
    weights = np.stack([np.interp(frames, given, np.eye(len(given))[k]) for k in range(len(given))], axis=1)
    return torch.einsum("fk,bkd->bfd", torch.as_tensor(weights, dtype=w_given.dtype, device=w_given.device),
                        w_given)


def _signed(clips: np.ndarray) -> Tensor:
    """uint8 ``[N, T, H, W, 3]`` → float ``[N, T, 3, H, W]`` in [-1, 1]."""
    return torch.from_numpy(clips).permute(0, 1, 4, 2, 3).float() / 127.5 - 1.0


def _check_given(given: Sequence[int], frames: int, *, predict: bool = True) -> tuple[int, ...]:
    out = tuple(sorted({int(g) for g in given}))
    if not out or out[0] < 0 or out[-1] >= frames:
        raise ValueError(f"given frame indices must be within [0, {frames}), got {tuple(given)}")
    if predict and len(out) == frames:
        raise ValueError("every frame is given: nothing left to predict")
    return out


def _choose_clips(store: ClipStore, split: str, clips: int, seed: int,
                  allowed: np.ndarray | None = None) -> tuple[np.ndarray, str, list[str]]:
    """``clips`` clip indices of ``split`` drawn with ``seed``, falling back to every clip if it is empty."""
    if clips < 1:
        raise ValueError(f"clips must be >= 1, got {clips}")
    everything = np.arange(len(store)) if allowed is None else allowed
    pool = everything if split == "all" else np.intersect1d(store.split_indices(split), everything)
    notes, used = [], split
    if len(pool) == 0:
        notes.append(f"split {split!r} has no usable clips in {store.path}: used all clips")
        pool, used = everything, "all"
    if len(pool) < clips:
        notes.append(f"{clips} clips requested, only {len(pool)} available")
    chosen = np.sort(np.random.default_rng(seed).permutation(pool)[:clips])
    return chosen, used, notes


def _labels(G: Generator, store: ClipStore, indices: np.ndarray) -> Tensor | None:
    if not G.cfg.num_classes:
        return None
    labels = torch.as_tensor(store.labels[indices])
    if int(labels.max()) >= G.cfg.num_classes:
        raise ValueError(f"{store.path} has class indices beyond the generator's {G.cfg.num_classes} classes")
    return labels


def _resolution_notes(G: Generator, store: ClipStore) -> list[str]:
    side = store.resolution[0]
    if side == G.cfg.resolution:
        return []
    return [f"clips are {side}² but G was trained at {G.cfg.resolution}²: projected at {side}²"]


def _predict(G: Generator, real: Tensor, given: tuple[int, ...], labels: Tensor | None, *, steps: int, seed: int,
             clip_ids: Sequence[int] | None = None,
             memory_budget_gb: float = DEFAULT_BUDGET_GB) -> tuple[Tensor, Tensor]:
    """Predicted clips ``[N, T, 3, H, W]`` in [-1, 1] from the ``given`` frames of ``real``, and the
    final projection loss per clip; ``clip_ids`` (default 0..N−1) seed each clip's projection noise."""
    n, frames = real.shape[:2]
    clip_ids = range(n) if clip_ids is None else clip_ids
    times = torch.arange(frames, dtype=torch.float32) / (frames - 1)
    index = list(given)
    budget = dict(memory_budget_gb=memory_budget_gb)
    if G.cfg.motion:
        proj = project(G, real[:, index], times[index], steps=steps, seed=seed, labels=labels, clip_ids=clip_ids,
                       **budget)
        return render(G, proj, times, resolution=real.shape[-1], **budget), proj.loss
    if len(given) < 2:
        raise ValueError("latent interpolation needs at least two given frames")
    k = len(given)
    singles = real[:, index].flatten(0, 1)[:, None]  # every given frame is its own image
    proj = project(G, singles, times[:1], steps=steps, seed=seed,
                   labels=None if labels is None else labels.repeat_interleave(k),
                   clip_ids=[int(c) * k + j for c in clip_ids for j in range(k)], **budget)
    w = interpolate_latents(proj.w.view(n, k, -1), given, range(frames)).flatten(0, 1)
    video = synthesize_frames(G, w, torch.zeros(n * frames, G.cfg.motion_z_dim, device=w.device),
                              times[:1], resolution=real.shape[-1], **budget)
    return video.view(n, frames, *video.shape[2:]), proj.loss.view(n, k).mean(dim=1)


def _groups(indices: np.ndarray, frames: int, side: int, memory_budget_gb: float) -> list[np.ndarray]:
    """``indices`` in groups of clips whose frames at ``side``² (real, renders, bicubic) fill at most half
    the budget; each group's projection, renders and scores get the other half."""
    per_clip = HELD_BYTES_PER_VALUE * frames * 3 * side ** 2
    size = plan(per_clip, len(indices), 1, memory_budget_gb / 2).videos
    return [indices[s:s + size] for s in range(0, len(indices), size)]


def _score(metric: Callable[[Tensor, Tensor, float], Tensor], fake: Tensor, real: Tensor,
           memory_budget_gb: float) -> Tensor:
    """``metric`` of ``[N, 3, H, W]`` uint8 frame pairs, in chunks of frames whose SSIM temporaries fit."""
    per_frame = SSIM_BYTES_PER_VALUE * fake[0].numel()
    size = plan(per_frame, fake.shape[0], 1, memory_budget_gb).videos
    return torch.cat([metric(fake[s:s + size], real[s:s + size], DATA_RANGE) for s in range(0, fake.shape[0], size)])


def _uint8(video: Tensor) -> Tensor:
    return to_uint8(video.cpu())


def _real_uint8(clips: np.ndarray) -> Tensor:
    return torch.from_numpy(clips).permute(0, 1, 4, 2, 3)


def prediction_ssim(G: Generator, store: str | Path, *, clips: int, steps: int, seed: int = 0,
                    split: str = "test", given: tuple[int, ...] = (0, 15),
                    memory_budget_gb: float = DEFAULT_BUDGET_GB) -> dict:
    """Table 6: SSIM of the predicted (non-given) frames of real 16-frame clips.

    Each clip is projected with ``steps`` Adam steps (the paper: 20,000), its noise seeded by (``seed``, its
    index in the store), so its score does not depend on which clips share a chunk. Clips are loaded,
    projected, rendered and scored in groups within ``memory_budget_gb`` (:func:`_groups`).
    """
    data = ClipStore(store)
    given = _check_given(given, data.frames)
    indices, used_split, notes = _choose_clips(data, split, clips, seed)
    notes += _resolution_notes(G, data)
    predicted = [f for f in range(data.frames) if f not in given]
    half = memory_budget_gb / 2
    scores, losses = [], []
    for chunk in _groups(indices, data.frames, data.resolution[0], memory_budget_gb):
        clips_u8 = np.stack([data[int(i)] for i in chunk])
        video, loss = _predict(G, _signed(clips_u8), given, _labels(G, data, chunk), steps=steps, seed=seed,
                               clip_ids=chunk, memory_budget_gb=half)
        fake, real = _uint8(video), _real_uint8(clips_u8)
        scores.append(torch.stack([_score(ssim, fake[:, f], real[:, f], half) for f in predicted], dim=1))
        losses.append(loss.cpu())
    per_frame = torch.cat(scores).numpy()  # [clips, predicted frames]
    per_clip = per_frame.mean(axis=1)
    return {
        "method": "digan_projection" if G.cfg.motion else "image_latent_interpolation",
        "ssim": {"mean": float(per_clip.mean()), "std": float(per_clip.std()),
                 "per_clip": [float(s) for s in per_clip]},
        "per_frame_ssim": {str(f): float(s) for f, s in zip(predicted, per_frame.mean(axis=0))},
        "projection_loss": float(torch.cat(losses).mean()),
        "clips": int(len(indices)),
        "clip_indices": [int(i) for i in indices],
        "projection_steps": steps,
        "given_frames": list(given),
        "predicted_frames": predicted,
        "split": used_split,
        "data_range": "uint8 frames, data range 255",
        "notes": notes,
    }


def match_clips(low: ClipStore, high: ClipStore) -> dict[int, int]:
    """Low-res clip index → high-res clip index of the same (source video, start frame, stride).

    Keys that occur more than once in either store are ambiguous and left out.
    """
    def key(row: dict[str, Any]) -> tuple[str, int, int]:
        return row["source_video"], row["start_frame"], row["stride"]

    low_counts = Counter(key(r) for r in low.manifest)
    high_counts = Counter(key(r) for r in high.manifest)
    lookup = {key(r): i for i, r in enumerate(high.manifest) if high_counts[key(r)] == 1}
    return {i: lookup[key(r)] for i, r in enumerate(low.manifest) if low_counts[key(r)] == 1 and key(r) in lookup}


def space_reconstruction(G: Generator, store: str | Path, hr_stores: dict[int, str | Path], *, clips: int,
                         steps: int, seed: int = 0, split: str = "test",
                         memory_budget_gb: float = DEFAULT_BUDGET_GB) -> dict:
    """Table 4: PSNR/SSIM of s× renders ("inr") and of bicubic s× upsampling of the 1× reconstruction
    ("bicubic") of projected low-res clips, against real s× clips of the same videos.

    Clips go in groups sized so their frames at the largest scale fill half of ``memory_budget_gb``; the
    projection (autograd, :func:`digan.memory.autograd_bytes`), the renders and the SSIM chunks of a group
    share the other half. Each clip's projection noise is seeded by (``seed``, its index in the store), so
    the scores do not depend on the grouping. At the paper's widths (TaiChi 128² clips, scales 2 and 4) and
    the default 8 GB: one group of all 64 clips (3.2 GB of 512² frames at 4 bytes a value), projection in
    chunks of one clip × 16 frames (3.1 GB estimated), renders of 4 frames at 512² (3.5 GB), SSIM 12 frames
    at a time (3.8 GB).
    """
    if not hr_stores:
        raise ValueError("hr_stores is empty: give at least one scale -> high-resolution clip store")
    low = ClipStore(store)
    highs = {int(s): ClipStore(p) for s, p in hr_stores.items()}
    matches = {}
    for s, high in highs.items():
        want = (s * low.resolution[0], s * low.resolution[1])
        if high.resolution != want or high.frames != low.frames:
            raise ValueError(f"{high.path} holds {high.frames}×{high.resolution} clips; scale {s} of {low.path} "
                             f"needs {low.frames}×{want}")
        matches[s] = match_clips(low, high)
    common = set.intersection(*(set(m) for m in matches.values()))
    if not common:
        raise ValueError(f"no clip of {low.path} matches a clip of every high-resolution store by "
                         "(source_video, start_frame, stride): were they built from the same videos?")
    indices, used_split, notes = _choose_clips(low, split, clips, seed, np.array(sorted(common)))
    notes += _resolution_notes(G, low)
    times = torch.arange(low.frames, dtype=torch.float32) / (low.frames - 1)
    half = memory_budget_gb / 2
    scores: dict[str, list[Tensor]] = {}

    def add(name: str, fake: Tensor, real: Tensor) -> None:
        fake, real = fake.flatten(0, 1), real.flatten(0, 1)
        scores.setdefault(f"{name}/psnr", []).append(_score(psnr, fake, real, half))
        scores.setdefault(f"{name}/ssim", []).append(_score(ssim, fake, real, half))

    for chunk in _groups(indices, low.frames, max(highs) * low.resolution[0], memory_budget_gb):
        clips_u8 = np.stack([low[int(i)] for i in chunk])
        proj = project(G, _signed(clips_u8), times, steps=steps, seed=seed, labels=_labels(G, low, chunk),
                       clip_ids=chunk, memory_budget_gb=half)
        base = render(G, proj, times, resolution=low.resolution[0], memory_budget_gb=half).cpu()
        add("base", _uint8(base), _real_uint8(clips_u8))
        for s, high in highs.items():
            real = _real_uint8(np.stack([high[matches[s][int(i)]] for i in chunk]))
            inr = synthesize_frames(G, proj.w, proj.z_motion, times,
                                    resolution=s * low.resolution[0], memory_budget_gb=half, uint8=True)
            add(f"{s}/inr", inr.cpu(), real)
            bicubic = torch.cat([_uint8(F.interpolate(clip, scale_factor=s, mode="bicubic", align_corners=False))
                                 for clip in base])  # one clip's frames at a time
            add(f"{s}/bicubic", bicubic.view(*base.shape[:3], *bicubic.shape[-2:]), real)

    def mean(name: str) -> float:
        return float(torch.cat(scores[name]).mean())

    return {
        "scales": {str(s): {"resolution": s * low.resolution[0],
                            "psnr": {"inr": mean(f"{s}/inr/psnr"), "bicubic": mean(f"{s}/bicubic/psnr")},
                            "ssim": {"inr": mean(f"{s}/inr/ssim"), "bicubic": mean(f"{s}/bicubic/ssim")},
                            "clips": int(len(indices))}
                   for s in highs},
        "projection_steps": steps,
        "base_psnr": mean("base/psnr"),
        "base_ssim": mean("base/ssim"),
        "base_resolution": low.resolution[0],
        "clip_indices": [int(i) for i in indices],
        "split": used_split,
        "data_range": "uint8 frames, data range 255; PSNR and SSIM averaged over frames",
        "notes": notes,
    }


def write_prediction_figure(G: Generator, store: str | Path, out_dir: str | Path, *, steps: int, seed: int = 0,
                            given: tuple[int, ...] = (6, 7, 8), show: tuple[int, int] = (3, 11),
                            memory_budget_gb: float = DEFAULT_BUDGET_GB) -> list[str]:
    """Fig. 5 (given=(6, 7, 8), show=(3, 11)) or Fig. 13/14 (given=(0, 15), show=(0, 15)): real frames
    over predicted ones for one test clip, the given real frames framed in yellow.

    Returns the names of the written files, relative to ``out_dir``.
    """
    data = ClipStore(store)
    given = _check_given(given, data.frames, predict=False)
    first, last = show
    if not 0 <= first <= last < data.frames:
        raise ValueError(f"show must be (first, last) within [0, {data.frames}), got {show}")
    indices, _, _ = _choose_clips(data, "test", 1, seed)
    clip = data[int(indices[0])][None]
    video, _ = _predict(G, _signed(clip), given, _labels(G, data, indices), steps=steps, seed=seed,
                        clip_ids=indices, memory_budget_gb=memory_budget_gb)
    rows = {"real": _real_uint8(clip)[0], "DIGAN" if G.cfg.motion else "image interp.": _uint8(video)[0]}

    columns = list(range(first, last + 1))
    fig = Figure(figsize=(1.1 * len(columns), 2.6))
    axes = fig.subplots(2, len(columns), squeeze=False)
    for r, (name, frames) in enumerate(rows.items()):
        axes[r, 0].set_ylabel(name)
        for c, f in enumerate(columns):
            ax = axes[r, c]
            ax.imshow(frames[f].permute(1, 2, 0).numpy())
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"t={f}", fontsize=8)
                if f in given:
                    for spine in ax.spines.values():
                        spine.set_edgecolor("yellow")
                        spine.set_linewidth(4)
    fig.suptitle(f"{data.manifest[int(indices[0])]['source_video']}, given {list(given)}, {steps} steps",
                 fontsize=8)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = f"prediction_given{'-'.join(map(str, given))}_show{first}-{last}.png"
    fig.savefig(out_dir / name, dpi=100, bbox_inches="tight")
    return [name]
