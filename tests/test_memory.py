"""Memory budget (digan.memory): measured peaks stay within it, and chunking changes no result.

The peaks are measured in a fresh interpreter (peak RSS minus the resident size after import, model
construction and a small warm-up call) with glibc's mmap threshold fixed at 64 KiB: by default the
threshold grows to the size of the largest freed block, so freed multi-MB tensors are then served from
the heap, whose fragmentation makes RSS exceed the live tensors; with it fixed, RSS follows the tensors.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from digan.analysis.prediction import prediction_ssim
from digan.analysis.projection import _objective, project
from digan.analysis.space import render_upsampled
from digan.data.synthetic import make_synthetic_dataset
from digan.generate import generate_frames, to_uint8
from digan.memory import DEFAULT_BUDGET_GB, GB, Plan, autograd_bytes, forward_bytes, output_bytes, plan
from digan.metrics.generated import generated_clips
from digan.models import generator as generator_module
from digan.models.generator import Generator
from pipeline.params import Evaluate

from tests.helpers import REPO

pytestmark = pytest.mark.usefixtures("one_thread")

PEAK_SCRIPT = """
import json, resource, sys, torch
torch.set_num_threads(1)
from digan.analysis.projection import project
from digan.config import GeneratorConfig
from digan.generate import generate_frames
from digan.memory import autograd_bytes, forward_bytes, output_bytes
from digan.models.generator import Generator

args = json.loads(sys.argv[1])
G = Generator(GeneratorConfig(**args["config"])).eval().requires_grad_(False)
res, videos, frames = args["resolution"], args["videos"], args["frames"]
gen = torch.Generator().manual_seed(0)
times = torch.linspace(0, 1, frames)
if args["kind"] == "generate":
    z, zm = torch.randn(videos, 16, generator=gen), torch.randn(videos, 16, generator=gen)
    generate_frames(G, z[:1], zm[:1], times[:1], resolution=res // 4)
    def call(): generate_frames(G, z, zm, times, resolution=res, memory_budget_gb=args["budget"])
    estimate = videos * frames * (forward_bytes(G, res) + 2 * output_bytes(G, res))
else:
    target = torch.rand(videos, frames, 3, res, res, generator=gen) * 2 - 1
    project(G, target[:1, :1, :, ::4, ::4], times[:1], steps=1)
    def call(): project(G, target, times, steps=1, memory_budget_gb=args["budget"])
    estimate = videos * frames * autograd_bytes(G, res)
with open("/proc/self/statm") as f:
    base = int(f.read().split()[1]) * resource.getpagesize()  # resident now, not the import's transient peak
call()
# VmHWM is this process's own high-water mark; ru_maxrss would carry the forking parent's (pytest's) over exec.
with open("/proc/self/status") as f:
    hwm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
print(json.dumps({"peak": hwm - base, "estimate": estimate}))
"""




def measure(config, kind: str, budgets: tuple[float, ...], **call) -> list[dict]:
    """Peak RSS growth of one call per budget, each in a fresh interpreter (run side by side), and the
    estimate for the call unchunked."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "MALLOC_MMAP_THRESHOLD_": "65536", "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", PEAK_SCRIPT,
                               json.dumps(dict(config=config.model_dump(), kind=kind, budget=budget, **call))],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=env)
             for budget in budgets]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


@pytest.mark.parametrize("kind, resolution, frames, budget", [("generate", 256, 16, 0.1), ("project", 128, 4, 0.05)])
def test_peak_memory_stays_within_the_budget(tiny_generator_config, kind, resolution, frames, budget):
    """4 videos rendered at 8× (or projected at 4×) the tiny generator's resolution: the budgeted call stays
    within the budget, the unbounded one needs more than 1.5× it, and the estimate bounds it from above."""
    bounded, unbounded = measure(tiny_generator_config, kind, (budget, 1000.0), resolution=resolution, videos=4,
                                 frames=frames)
    assert bounded["peak"] <= 1.1 * budget * GB, (bounded, unbounded)
    assert unbounded["peak"] > 1.5 * budget * GB, (bounded, unbounded)
    assert 0.5 * unbounded["estimate"] < unbounded["peak"] <= 1.1 * unbounded["estimate"], unbounded


def test_plan_fills_whole_videos_first_and_refuses_a_budget_below_one_frame():
    assert plan(10, videos=8, frames=16, budget_gb=325 / GB) == Plan(videos=2, frames=16)
    assert plan(10, 8, 16, 55 / GB) == Plan(videos=1, frames=5)
    assert plan(10, 8, 16, 1.0) == Plan(videos=8, frames=16)
    assert plan(10, 8, 16, 105 / GB, max_frames=4) == Plan(videos=2, frames=4)
    with pytest.raises(ValueError, match="raise memory_budget_gb"):
        plan(10, 8, 16, 100 / GB, fixed=95)
    with pytest.raises(ValueError, match="> 0"):
        plan(10, 8, 16, 0.0)
    assert Evaluate().memory_budget_gb == DEFAULT_BUDGET_GB  # params.py states the default without torch


def budget_for(items: int, per_item: int, fixed: int = 0) -> float:
    """A budget (GB) that fits ``items`` (video, frame) pairs of ``per_item`` bytes beside ``fixed``, not one more."""
    return ((items + 0.5) * per_item + fixed) / GB


def test_chunked_generation_equals_one_call(tiny_generator_config):
    G = Generator(tiny_generator_config).eval().requires_grad_(False)
    gen = torch.Generator().manual_seed(3)
    z, zm = torch.randn(5, 16, generator=gen), torch.randn(5, 16, generator=gen)
    times = torch.linspace(-0.5, 1.5, 7)
    full = generate_frames(G, z, zm, times, memory_budget_gb=1000.0)
    assert torch.equal(full, G(z, zm, times))
    out = output_bytes(G)
    by_frames = generate_frames(G, z, zm, times, memory_budget_gb=1000.0, chunk=3)  # all videos, 3 frames
    assert torch.equal(by_frames, full)  # a frame's pixels never meet another frame's
    chunked = generate_frames(G, z, zm, times, memory_budget_gb=budget_for(3, forward_bytes(G) + out, 35 * out))
    # Per-video chunks change the batch of the affine layers, whose rows BLAS rounds differently (~1 ulp).
    assert (chunked - full).abs().max() < 1e-5 * max(1.0, float(full.abs().max()))
    u8 = generate_frames(G, z, zm, times, memory_budget_gb=budget_for(3, forward_bytes(G) + out // 4, 35 * out),
                         uint8=True)
    assert torch.equal(u8, to_uint8(chunked))

    clips = list(generated_clips(G, 5, frames=7, batch_size=4, memory_budget_gb=1000.0))
    small = list(generated_clips(G, 5, frames=7, batch_size=4, memory_budget_gb=budget_for(2, forward_bytes(G) + out,
                                                                                            28 * out)))
    diff = np.abs(np.stack(clips).astype(int) - np.stack(small).astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3  # same latents; rounding at .5 may flip a level


def test_render_upsampled_is_independent_of_the_budget(tiny_generator_config):
    G = Generator(tiny_generator_config).eval().requires_grad_(False)
    z, zm = torch.randn(3, 16), torch.randn(3, 16)
    times = torch.linspace(0, 1, 4)
    wide = render_upsampled(G, z, zm, times, [64], memory_budget_gb=1000.0)
    tight = render_upsampled(G, z, zm, times, [64], memory_budget_gb=budget_for(
        2, forward_bytes(G, 64) + output_bytes(G, 64) // 4, 12 * output_bytes(G, 64) // 4))
    assert torch.equal(wide[64]["bicubic"], tight[64]["bicubic"])  # the 1× render is one call in both
    diff = (wide[64]["inr"].int() - tight[64]["inr"].int()).abs()
    assert diff.max() <= 1 and (diff > 0).float().mean() < 1e-3


def float64_grid(monkeypatch):
    original = generator_module.coordinate_grid
    monkeypatch.setattr(generator_module, "coordinate_grid", lambda *a, **k: original(*a, **k).double())


def test_frame_chunked_gradient_is_as_exact_as_one_backward(tiny_generator_config, monkeypatch):
    """Summing per-chunk gradients reorders float sums only: the chunked gradient is as close to a float64
    reference as the one-backward gradient is."""
    G = Generator(tiny_generator_config).eval().requires_grad_(False)
    gen = torch.Generator().manual_seed(1)
    times = torch.linspace(0, 1, 6)
    target = G.synthesize(G.mapping(torch.randn(3, 16, generator=gen)), torch.randn(3, 16, generator=gen), times)
    w0, z0 = G.mapping(torch.randn(3, 16, generator=gen)), torch.randn(3, 16, generator=gen)

    def loss_and_grad(G, w, z, target, times, chunk):
        w, z = w.clone().requires_grad_(True), z.clone().requires_grad_(True)
        loss, grads = _objective(G, (w, z), target, times, levels=3, chunk=chunk, wrt=[w, z])
        return loss, torch.cat([g.flatten() for g in grads]).double()

    loss_one, grad_one = loss_and_grad(G, w0, z0, target, times, 6)
    loss_chunked, grad_chunked = loss_and_grad(G, w0, z0, target, times, 4)  # chunks of 4 and 2 frames
    float64_grid(monkeypatch)
    G64 = Generator(tiny_generator_config).double().eval().requires_grad_(False)
    G64.load_state_dict(G.state_dict())
    loss64, grad64 = loss_and_grad(G64, w0.double(), z0.double(), target.double(), times.double(), 6)
    assert torch.allclose(loss_chunked.double(), loss64, rtol=1e-6)
    assert torch.allclose(loss_one.double(), loss64, rtol=1e-6)
    error_one = float((grad_one - grad64).abs().max())
    assert float((grad_chunked - grad64).abs().max()) <= 2 * error_one + 1e-7 * float(grad64.abs().max())


def test_projection_chunked_over_clips_equals_one_batch(tiny_generator_config):
    """Every clip is its own optimisation: chunks of one clip, or a clip projected alone with its clip id,
    give the batch's per-clip result; frame chunks agree as far as Adam amplifies float rounding."""
    G = Generator(tiny_generator_config).eval().requires_grad_(False)
    gen = torch.Generator().manual_seed(2)
    times = torch.linspace(0, 1, 4)
    frames = G.synthesize(G.mapping(torch.randn(4, 16, generator=gen)), torch.randn(4, 16, generator=gen), times)
    kwargs = dict(steps=12, seed=5)
    full = project(G, frames, times, memory_budget_gb=1000.0, **kwargs)
    per_clip = project(G, frames, times, memory_budget_gb=budget_for(4, autograd_bytes(G)), **kwargs)
    alone = project(G, frames[2:3], times, clip_ids=[2], memory_budget_gb=1000.0, **kwargs)
    for other in (per_clip, alone):
        rows = slice(None) if other is per_clip else slice(2, 3)
        assert torch.allclose(other.w, full.w[rows], atol=1e-5)
        assert torch.allclose(other.z_motion, full.z_motion[rows], atol=1e-5)
        assert torch.allclose(other.loss, full.loss[rows], rtol=1e-5)
    by_frames = project(G, frames, times, memory_budget_gb=budget_for(3, autograd_bytes(G)), **kwargs)
    assert torch.allclose(by_frames.loss, full.loss, rtol=1e-3)
    assert torch.equal(by_frames.initial_loss.isfinite(), torch.ones(4, dtype=torch.bool))


def test_prediction_ssim_is_independent_of_the_budget(tmp_path, tiny_generator_config):
    store = make_synthetic_dataset(tmp_path / "clips", resolution=32, videos_per_class=1, frames_per_video=16,
                                   clip_frames=16)
    G = Generator(tiny_generator_config).eval().requires_grad_(False)
    kwargs = dict(clips=3, steps=3, seed=0, given=(0, 15))
    wide = prediction_ssim(G, store, memory_budget_gb=1000.0, **kwargs)
    tight = prediction_ssim(G, store, memory_budget_gb=2 * budget_for(2, autograd_bytes(G)), **kwargs)
    assert wide["clip_indices"] == tight["clip_indices"]
    assert np.allclose(wide["ssim"]["per_clip"], tight["ssim"]["per_clip"], atol=1e-4)
    assert wide["projection_loss"] == pytest.approx(tight["projection_loss"], rel=1e-5)
