"""One entry point for the networks whose outputs the metrics score.

A backbone has a ``name`` (reported with every number), an ``identity`` (what its outputs depend
on: weights digest and preprocessing version; part of every cache key) and ``features`` and/or
``probabilities`` functions taking uint8 videos ``[N, T, H, W, 3]``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable

import torch
from torch import Tensor

from digan.metrics.backbones.c3d import load_c3d
from digan.metrics.backbones.i3d import I3D_CKPT_SHA256, PREPROCESSING_VERSION, load_i3d
from digan.metrics.backbones.probe import load_probe

VideoFn = Callable[[Tensor], Tensor]


@dataclass
class Backbone:
    name: str
    identity: str
    features: VideoFn | None = None
    probabilities: VideoFn | None = None


def load_backbone(name: str, *, weights_dir: Path = Path("data/weights"), probe: Path | None = None,
                  device: torch.device | str = "cpu") -> Backbone:
    """The backbone ``name`` on ``device``; its functions take videos on any device."""
    if name == "i3d":
        model = load_i3d(weights_dir).to(device)
        return Backbone("i3d", f"i3d:{I3D_CKPT_SHA256}:{PREPROCESSING_VERSION}", features=model.features)
    if name == "c3d":
        classifier = load_c3d(weights_dir).to(device)
        return Backbone("c3d", classifier.identity, probabilities=classifier.probabilities)
    if name == "probe":
        if probe is None:
            raise ValueError("the probe backbone needs a trained probe file (--probe PATH); train one with "
                             "python -m digan.metrics.backbones.probe --store CLIPS --out PATH")
        classifier = load_probe(probe).to(device)
        return Backbone("probe", classifier.identity, features=classifier.features,
                        probabilities=classifier.probabilities)
    raise ValueError(f"unknown backbone {name!r}; choose i3d, c3d or probe")
