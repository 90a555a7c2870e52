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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import Tensor

from digan.analysis.projection import project, render, synthesize_frames
from digan.data.clip_store import ClipStore
from digan.generate import to_uint8
from digan.metrics.ssim import psnr, ssim
from digan.models.generator import Generator

DATA_RANGE = 255.0  # scores are computed on uint8 frames


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


def _predict(G: Generator, real: Tensor, given: tuple[int, ...], labels: Tensor | None, *,
             steps: int, seed: int) -> tuple[Tensor, Tensor]:
    """Predicted clips ``[N, T, 3, H, W]`` in [-1, 1] from the ``given`` frames of ``real``, and the
    final projection loss per clip."""
    n, frames = real.shape[:2]
    times = torch.arange(frames, dtype=torch.float32) / (frames - 1)
    index = list(given)
    if G.cfg.motion:
        proj = project(G, real[:, index], times[index], steps=steps, seed=seed, labels=labels)
        return render(G, proj, times, resolution=real.shape[-1]), proj.loss
    if len(given) < 2:
        raise ValueError("latent interpolation needs at least two given frames")
    k = len(given)
    singles = real[:, index].flatten(0, 1)[:, None]  # every given frame is its own image
    proj = project(G, singles, times[:1], steps=steps, seed=seed,
                   labels=None if labels is None else labels.repeat_interleave(k))
    w = interpolate_latents(proj.w.view(n, k, -1), given, range(frames)).flatten(0, 1)
    video = synthesize_frames(G, w, torch.zeros(n * frames, G.cfg.motion_z_dim, device=w.device),
                              times[:1], resolution=real.shape[-1])
    return video.view(n, frames, *video.shape[2:]), proj.loss.view(n, k).mean(dim=1)


def _uint8(video: Tensor) -> Tensor:
    return to_uint8(video.cpu())


def _real_uint8(clips: np.ndarray) -> Tensor:
    return torch.from_numpy(clips).permute(0, 1, 4, 2, 3)


def prediction_ssim(G: Generator, store: str | Path, *, clips: int, steps: int, seed: int = 0,
                    split: str = "test", given: tuple[int, ...] = (0, 15), batch_size: int = 16) -> dict:
    """Table 6: SSIM of the predicted (non-given) frames of real 16-frame clips.

    Clips are projected ``batch_size`` at a time with ``steps`` Adam steps each (the paper: 20,000).
    """
    data = ClipStore(store)
    given = _check_given(given, data.frames)
    indices, used_split, notes = _choose_clips(data, split, clips, seed)
    notes += _resolution_notes(G, data)
    predicted = [f for f in range(data.frames) if f not in given]
    scores, losses = [], []
    for start in range(0, len(indices), batch_size):
        chunk = indices[start:start + batch_size]
        clips_u8 = np.stack([data[int(i)] for i in chunk])
        video, loss = _predict(G, _signed(clips_u8), given, _labels(G, data, chunk), steps=steps, seed=seed + start)
        fake, real = _uint8(video), _real_uint8(clips_u8)
        scores.append(torch.stack([ssim(fake[:, f], real[:, f], DATA_RANGE) for f in predicted], dim=1))
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
                         steps: int, seed: int = 0, split: str = "test", batch_size: int = 16) -> dict:
    """Table 4: PSNR/SSIM of s× renders ("inr") and of bicubic s× upsampling of the 1× reconstruction
    ("bicubic") of projected low-res clips, against real s× clips of the same videos."""
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
    scores: dict[str, list[Tensor]] = {}

    def add(name: str, fake: Tensor, real: Tensor) -> None:
        fake, real = fake.flatten(0, 1), real.flatten(0, 1)
        scores.setdefault(f"{name}/psnr", []).append(psnr(fake, real, DATA_RANGE))
        scores.setdefault(f"{name}/ssim", []).append(ssim(fake, real, DATA_RANGE))

    for start in range(0, len(indices), batch_size):
        chunk = indices[start:start + batch_size]
        clips_u8 = np.stack([low[int(i)] for i in chunk])
        proj = project(G, _signed(clips_u8), times, steps=steps, seed=seed + start, labels=_labels(G, low, chunk))
        base = render(G, proj, times, resolution=low.resolution[0]).cpu()
        add("base", _uint8(base), _real_uint8(clips_u8))
        for s, high in highs.items():
            real = _real_uint8(np.stack([high[matches[s][int(i)]] for i in chunk]))
            inr = render(G, proj, times, resolution=s * low.resolution[0])
            bicubic = F.interpolate(base.flatten(0, 1), scale_factor=s, mode="bicubic", align_corners=False)
            add(f"{s}/inr", _uint8(inr), real)
            add(f"{s}/bicubic", _uint8(bicubic.view(*base.shape[:3], *bicubic.shape[-2:])), real)

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
                            given: tuple[int, ...] = (6, 7, 8), show: tuple[int, int] = (3, 11)) -> list[str]:
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
    video, _ = _predict(G, _signed(clip), given, _labels(G, data, indices), steps=steps, seed=seed)
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
