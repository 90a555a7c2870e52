"""Probe: a small 3D-conv video classifier trained in-pipeline on a clip store's classes.

It stands in for C3D on the embedded synthetic dataset (no C3D weights offline) and gives a fast
second opinion elsewhere. Its scores are always reported with the backbone name ("IS-probe",
"FVD-probe"): they are not comparable with the paper's C3D / I3D numbers.

    python -m digan.metrics.backbones.probe --store data/synthetic/clips --out data/weights/probe.pt
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from digan.data.clip_store import ClipStore
from digan.download import sha256_file
from digan.training.checkpoint import load_checkpoint, save_atomic


class ProbeNet(nn.Module):
    """Three strided 3D convolutions, global average pooling, a linear classifier."""

    def __init__(self, num_classes: int, width: int = 32) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv3d(3, width, 3, stride=(1, 2, 2), padding=1), nn.LeakyReLU(0.2),
            nn.Conv3d(width, 2 * width, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv3d(2 * width, 4 * width, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
        )
        self.head = nn.Linear(4 * width, num_classes)

    def embed(self, x: Tensor) -> Tensor:
        """Features ``[N, 4·width]`` for clips ``[N, 3, T, H, W]`` in [−1, 1]."""
        return self.body(x).mean(dim=(2, 3, 4))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.embed(x))


def to_probe_input(videos: Tensor, size: int) -> Tensor:
    """uint8 ``[N, T, H, W, 3]`` → float ``[N, 3, T, size, size]`` in [−1, 1] (bilinear resize)."""
    x = videos.permute(0, 1, 4, 2, 3).float().div(127.5).sub(1.0)  # [N, T, 3, H, W]
    n, t = x.shape[:2]
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x.flatten(0, 1), size=(size, size), mode="bilinear", align_corners=False)
        x = x.view(n, t, 3, size, size)
    return x.permute(0, 2, 1, 3, 4)


class ProbeClassifier:
    """A trained probe with the backbone interface: ``features`` and ``probabilities``."""

    name = "probe"

    def __init__(self, net: ProbeNet, size: int, frames: int, identity: str) -> None:
        self.net = net.eval()
        self.size = size
        self.frames = frames
        self.identity = identity

    def to(self, device: torch.device | str) -> ProbeClassifier:
        self.net.to(device)
        return self

    def _input(self, videos: Tensor) -> Tensor:
        return to_probe_input(videos.to(next(self.net.parameters()).device), self.size)

    @torch.no_grad()
    def features(self, videos: Tensor) -> Tensor:
        return self.net.embed(self._input(videos))

    @torch.no_grad()
    def probabilities(self, videos: Tensor) -> Tensor:
        return self.net(self._input(videos)).softmax(dim=1)


def _clips(store: ClipStore, indices: np.ndarray) -> Tensor:
    return torch.from_numpy(np.stack([store[int(i)] for i in indices]))


def train_probe(store_path: str | Path, out: str | Path, *, steps: int = 300, batch_size: int = 32,
                seed: int = 0, width: int = 32) -> dict:
    """Train on the store's train split, report accuracy on its test split, save atomically."""
    store = ClipStore(store_path)
    train_idx, test_idx = store.split_indices("train"), store.split_indices("test")
    if len(train_idx) == 0:
        raise ValueError(f"{store_path} has no train split to train a probe on")
    size = store.resolution[0]
    torch.manual_seed(seed)
    net = ProbeNet(len(store.class_names), width)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    gen = torch.Generator().manual_seed(seed)
    labels = torch.from_numpy(store.labels)
    for _ in tqdm(range(steps), desc="probe", unit="step"):
        pick = train_idx[torch.randint(len(train_idx), (batch_size,), generator=gen).numpy()]
        clips = _clips(store, pick)
        flip = torch.rand(batch_size, generator=gen) < 0.5
        clips = torch.where(flip.view(-1, 1, 1, 1, 1), clips.flip(3), clips)
        loss = F.cross_entropy(net(to_probe_input(clips, size)), labels[pick])
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    accuracy = float("nan")
    if len(test_idx):
        with torch.no_grad():
            logits = torch.cat([net(to_probe_input(_clips(store, test_idx[i:i + 64]), size))
                                for i in range(0, len(test_idx), 64)])
        accuracy = float((logits.argmax(1) == labels[test_idx]).float().mean())
    report = {"store": str(store_path), "classes": store.class_names, "test_accuracy": accuracy,
              "steps": steps, "batch_size": batch_size, "seed": seed, "width": width,
              "size": size, "frames": store.frames}
    save_atomic({"state_dict": net.state_dict(), "report": json.dumps(report)}, out)
    return report


def load_probe(path: str | Path) -> ProbeClassifier:
    state = load_checkpoint(path)
    report = json.loads(state["report"])
    net = ProbeNet(len(report["classes"]), report["width"])
    net.load_state_dict(state["state_dict"])
    identity = "probe:" + sha256_file(Path(path))
    return ProbeClassifier(net, report["size"], report["frames"], identity)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m digan.metrics.backbones.probe", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--store", required=True, help="clip store with train/test splits")
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    report = train_probe(args.store, args.out, steps=args.steps, seed=args.seed)
    print(f"probe saved to {args.out}: test accuracy {report['test_accuracy']:.3f} "
          f"over {len(report['classes'])} classes")


if __name__ == "__main__":
    main()
