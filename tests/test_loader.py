"""Training loader: real frame pairs with the official Δt rule, x-flip, deterministic from a seed,
resumable from its position, and DDP ranks slicing one global batch."""
import torch

from digan.data.clip_store import ClipStore
from digan.data.datasets import FramePairLoader
from digan.data.synthetic import make_synthetic_dataset


def make_loader(store, **kw):
    args = dict(split="train", xflip=True, delta_t_rule="abs")
    args.update(kw)
    return FramePairLoader(store, 8, seed=3, **args)


def test_loader_is_deterministic_resumable_and_rank_sliced(tmp_path):
    store = ClipStore(make_synthetic_dataset(tmp_path, videos_per_class=2, resolution=16))
    a = make_loader(store)
    batches = [a.next_batch() for _ in range(5)]
    b = make_loader(store)
    for _ in range(2):
        b.next_batch()
    resumed = make_loader(store)
    resumed.load_state_dict(b.state_dict())
    for expected in batches[2:]:
        got = resumed.next_batch()
        assert torch.equal(got.frames, expected.frames) and torch.equal(got.delta_t, expected.delta_t)
    ranks = [make_loader(store), make_loader(store)]
    for expected in batches:
        halves = [loader.next_batch(rank=r, world_size=2) for r, loader in enumerate(ranks)]
        assert torch.equal(torch.cat([h.frames for h in halves]), expected.frames)
        assert torch.equal(torch.cat([h.labels for h in halves]), expected.labels)


def test_frames_follow_the_index_rule_and_flip(tmp_path):
    store = ClipStore(make_synthetic_dataset(tmp_path, videos_per_class=2, resolution=16))
    loader = make_loader(store, xflip=False)
    batch = loader.next_batch()
    assert batch.frames.shape == (8, 2, 3, 16, 16)
    assert batch.frames.min() >= -1 and batch.frames.max() <= 1
    steps = batch.delta_t * (store.frames - 1)
    assert torch.allclose(steps, steps.round()) and (batch.delta_t >= 0).all() and (batch.delta_t <= 1).all()
    # the same draw with x-flip on mirrors some clips (about half) and leaves the others as they are
    flipped = make_loader(store, xflip=True).next_batch()
    mirrored = [torch.equal(f, r.flip(-1)) and not torch.equal(f, r) for f, r in zip(flipped.frames, batch.frames)]
    unchanged = [torch.equal(f, r) for f, r in zip(flipped.frames, batch.frames)]
    assert all(m or u for m, u in zip(mirrored, unchanged))
    assert 0 < sum(mirrored) < len(mirrored)
