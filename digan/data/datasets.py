"""Training batches of real frame pairs from a clip store.

The order of clips is a pure function of (seed, position): epoch e is a permutation drawn from a
generator seeded with (seed, e), and position counts clips consumed. Resuming needs only the
position, and a DDP rank takes its contiguous slice of each global batch.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from digan.data.clip_store import ClipStore
from digan.training.timesteps import sample_real_frame_pairs


def rank_slice(global_batch: int, rank: int, world_size: int) -> slice:
    """The contiguous part of a global batch that DDP rank ``rank`` computes."""
    per_rank = global_batch // world_size
    return slice(rank * per_rank, (rank + 1) * per_rank)


class ClipSampler:
    """Deterministic, resumable, epoch-wise shuffled clip indices."""

    def __init__(self, num_clips: int, seed: int, position: int = 0) -> None:
        if num_clips < 1:
            raise ValueError("the clip store is empty")
        self.num_clips = num_clips
        self.seed = seed
        self.position = position
        self._epoch = -1
        self._order = torch.empty(0, dtype=torch.long)

    def _order_for(self, epoch: int) -> Tensor:
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._order = torch.randperm(self.num_clips, generator=g)
            self._epoch = epoch
        return self._order

    def next_indices(self, count: int) -> Tensor:
        out = []
        for pos in range(self.position, self.position + count):
            epoch, offset = divmod(pos, self.num_clips)
            out.append(self._order_for(epoch)[offset])
        self.position += count
        return torch.stack(out)


@dataclass
class RealBatch:
    frames: Tensor  # [N, 2, 3, H, W] in [-1, 1]
    delta_t: Tensor  # [N]
    labels: Tensor  # [N]


class FramePairLoader:
    """Global batches of (frame i_t1, frame i_t2, Δt) from real clips, with random x-flip."""

    def __init__(self, store: ClipStore, batch_size: int, seed: int, *, split: str, xflip: bool,
                 delta_t_rule: str, position: int = 0) -> None:
        self.store = store
        self.indices = np.arange(len(store)) if split == "all" else store.split_indices(split)
        if len(self.indices) == 0:
            raise ValueError(f"the clip store {store.path} has no clips in split {split!r}")
        self.batch_size = batch_size
        self.xflip = xflip
        self.delta_t_rule = delta_t_rule
        self.sampler = ClipSampler(len(self.indices), seed, position)
        self.generator = torch.Generator().manual_seed(seed + 7919)

    def state_dict(self) -> dict:
        return {"position": self.sampler.position, "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.sampler.position = int(state["position"])
        self.generator.set_state(state["generator"])

    def next_batch(self, rank: int = 0, world_size: int = 1) -> RealBatch:
        """Draw the global batch (so every rank advances identically) and return this rank's slice."""
        n = self.batch_size
        indices = torch.from_numpy(self.indices[self.sampler.next_indices(n).numpy()])
        pairs, delta = sample_real_frame_pairs(n, self.store.frames, self.generator, self.delta_t_rule)
        flip = torch.rand(n, generator=self.generator) < 0.5 if self.xflip else torch.zeros(n, dtype=torch.bool)
        mine = rank_slice(n, rank, world_size)
        clips = np.stack([self.store.frames_at(int(i), p.numpy()) for i, p in zip(indices[mine], pairs[mine])])
        frames = torch.from_numpy(clips).permute(0, 1, 4, 2, 3).float().div_(127.5).sub_(1.0)
        frames = torch.where(flip[mine].view(-1, 1, 1, 1, 1), frames.flip(-1), frames)
        labels = torch.from_numpy(self.store.labels[indices[mine].numpy()])
        return RealBatch(frames, delta[mine], labels)
