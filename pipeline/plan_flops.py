"""FLOPs of the networks the pipeline runs, counted by running them on the meta device.

``FlopCounterMode`` counts 2 FLOPs per multiply-add of every matmul and convolution (elementwise work,
resampling and DiffAug are not counted) from the shapes the real modules produce; on meta tensors nothing
is computed, so a paper-scale generator is counted in a fraction of a second. Backward passes are counted
as autograd really runs them on meta tensors: into weights and inputs where a network is trained, into its
input only where gradients merely pass through (the frozen D of the G phase, G during latent projection).
Every count is per video (per frame or frame pair for the discriminators) and cached per network
configuration; σt and σxy are left out of the key, since they scale values, not shapes.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import Tensor
from torch.utils.flop_counter import FlopCounterMode

from digan.config import DiscriminatorConfig, GeneratorConfig
from digan.metrics.backbones.c3d import C3D
from digan.metrics.backbones.c3d import FRAMES as C3D_FRAMES
from digan.metrics.backbones.c3d import SIZE as C3D_SIZE
from digan.metrics.backbones.i3d import I3D, i3d_flops
from digan.metrics.backbones.probe import ProbeNet
from digan.models.discriminator import Discriminator, VideoDiscriminators
from digan.models.generator import Generator

_SHAPE_ONLY = {"sigma_t", "sigma_xy"}  # generator settings that change values, not the work


def meta_flops(run: Callable[[], object]) -> int:
    """FLOPs of ``run()``, with every tensor it creates on the meta device (shapes only, no compute)."""
    with torch.device("meta"), FlopCounterMode(display=False) as counter:
        run()
    return counter.get_total_flops()


def generator_key(cfg: GeneratorConfig) -> str:
    """The cache key of a generator configuration: everything that shapes its work."""
    return cfg.model_dump_json(exclude=_SHAPE_ONLY)


@lru_cache
def _generator(key: str) -> Generator:
    with torch.device("meta"):
        return Generator(GeneratorConfig.model_validate_json(key))


def _latents(G: Generator, frames: int) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
    """z, z_M, times [1, frames] and a class label of one video (call inside ``meta_flops``)."""
    labels = torch.zeros(1, dtype=torch.long) if G.cfg.num_classes else None
    return torch.empty(1, G.cfg.z_dim), torch.empty(1, G.cfg.motion_z_dim), torch.empty(1, frames), labels


def generator_parameters(key: str) -> int:
    return sum(p.numel() for p in _generator(key).parameters())


@lru_cache
def generator_forward(key: str, frames: int, resolution: int | None = None) -> int:
    """One video of ``frames`` frames at ``resolution`` (None: the training resolution), as generated."""
    G = _generator(key)

    def run() -> None:
        z, zm, times, labels = _latents(G, frames)
        with torch.no_grad():
            G(z, zm, times, labels, resolution=resolution)
    return meta_flops(run)


@lru_cache
def generator_train(key: str, frames: int) -> int:
    """One video through G with gradients into G's weights: the G phase's generator part."""
    G = _generator(key).requires_grad_(True)

    def run() -> None:
        z, zm, times, labels = _latents(G, frames)
        G(z, zm, times, labels).sum().backward()
    return meta_flops(run)


@lru_cache
def projection_step(key: str, frames: int, resolution: int) -> int:
    """One Adam step of ``digan.analysis.projection.project`` on one video: the synthesis of the given
    frames and the gradient into its latents (w, z_M) only."""
    G = _generator(key).requires_grad_(False)

    def run() -> None:
        w = torch.empty(1, G.cfg.w_dim).requires_grad_(True)
        zm = torch.empty(1, G.cfg.motion_z_dim).requires_grad_(G.cfg.motion and G.cfg.motion_latent)
        G.synthesize(w, zm, torch.empty(frames), resolution=resolution).sum().backward()
    return meta_flops(run)


# The lazy R1 step of one input costs this many forwards: the forward, the input gradient with its graph
# (1×) and that penalty's backward into the weights through both (4×). Counted on the meta device with
# ``r1_penalty`` it is 5.99× for both D's at paper widths (tests/test_plan.py checks a small D); that count
# takes seconds of double-backward bookkeeping per configuration, so the plan uses the ratio.
R1_FORWARDS = 6


@dataclass(frozen=True)
class DiscriminatorPasses:
    """One input (a frame for the image D, a frame pair for the motion D) through one discriminator."""

    forward: int
    train: int  # forward + backward into its weights (D phase)
    frozen: int  # forward + backward into its input only (G phase)

    @property
    def r1(self) -> int:
        """The lazy R1 step: forward, input gradient with its graph, the penalty's backward."""
        return R1_FORWARDS * self.forward


@lru_cache
def _discriminators(key: str, resolution: int, num_classes: int) -> VideoDiscriminators:
    with torch.device("meta"):
        return VideoDiscriminators(DiscriminatorConfig.model_validate_json(key), resolution, num_classes)


def _inputs(D: Discriminator, group: int, grad: bool) -> tuple[Tensor, Tensor | None]:
    """A minibatch-std group of inputs (call inside ``meta_flops``), needing gradients with ``grad``."""
    x = torch.empty(group, D.in_channels, D.resolution, D.resolution).requires_grad_(grad)
    return x, torch.zeros(group, dtype=torch.long) if D.num_classes else None


def _passes(D: Discriminator, group: int) -> DiscriminatorPasses:
    """Counted on a minibatch-std group of inputs, divided by its size."""
    def forward() -> None:
        with torch.no_grad():
            D(*_inputs(D, group, False))

    def backward(weights: bool) -> Callable[[], None]:
        def run() -> None:
            D.requires_grad_(weights)
            D(*_inputs(D, group, not weights)).sum().backward()
        return run

    counts = [meta_flops(fn) for fn in (forward, backward(True), backward(False))]
    return DiscriminatorPasses(*(c // group for c in counts))


@lru_cache
def discriminator_passes(key: str, resolution: int, num_classes: int) -> tuple[DiscriminatorPasses,
                                                                                DiscriminatorPasses]:
    """(image D per frame, motion D per frame pair) of a discriminator configuration."""
    D = _discriminators(key, resolution, num_classes)
    group = max(1, DiscriminatorConfig.model_validate_json(key).mbstd_group)
    return _passes(D.image, group), _passes(D.motion, group)


def discriminator_parameters(key: str, resolution: int, num_classes: int) -> int:
    return sum(p.numel() for p in _discriminators(key, resolution, num_classes).parameters())


@lru_cache
def backbone_forward(kind: str, size: int = 0, classes: int = 0) -> int:
    """One 16-frame clip through a metric network: I3D at 224² (``i3d_flops``, whatever the clip's size),
    C3D at 112², or a probe (``classes`` outputs) at its store's ``size``²."""
    if kind == "i3d":
        return i3d_flops(C3D_FRAMES)
    if kind == "c3d":
        return meta_flops(lambda: C3D()(torch.empty(1, 3, C3D_FRAMES, C3D_SIZE, C3D_SIZE)))
    return meta_flops(lambda: ProbeNet(classes)(torch.empty(1, 3, C3D_FRAMES, size, size)))


@lru_cache
def probe_train(size: int, classes: int) -> int:
    """One clip of a probe's training step: forward and backward into its weights."""
    return meta_flops(lambda: ProbeNet(classes)(torch.empty(1, 3, C3D_FRAMES, size, size)).sum().backward())


def network_parameters(kind: str, classes: int = 0) -> int:
    """Parameters of a metric network (``i3d`` counts its BatchNorm statistics too, as its files store them)."""
    with torch.device("meta"):
        net = {"i3d": I3D, "c3d": C3D}[kind]() if kind != "probe" else ProbeNet(classes)
    return sum(t.numel() for t in net.state_dict().values())
