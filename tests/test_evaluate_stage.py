"""The evaluate stage's time grids (Table 2): what the generator is really asked to render."""
from __future__ import annotations

import numpy as np
import torch

from digan.metrics.generated import generated_clips
from digan.models.generator import Generator
from pipeline.evaluate import CLIP_FRAMES, TIME_SCENARIOS


def _times_seen(cfg, t_range) -> list[float]:
    G = Generator(cfg).eval().requires_grad_(False)
    seen: list[float] = []
    synthesize = G.synthesize

    def spy(w, z_motion, times, **kwargs):
        seen.extend(times.flatten().tolist())
        return synthesize(w, z_motion, times, **kwargs)

    G.synthesize = spy
    clips = list(generated_clips(G, 2, frames=CLIP_FRAMES, t_range=t_range, batch_size=2))
    assert len(clips) == 2 and clips[0].shape[0] == CLIP_FRAMES
    return seen


def test_table2_extrapolation_renders_frames_after_the_clip_only(tiny_generator_config):
    seen = _times_seen(tiny_generator_config, TIME_SCENARIOS["extrapolation"])
    assert len(seen) == CLIP_FRAMES and min(seen) > 1.0 and max(seen) == 2.0


def test_table2_interpolation_renders_only_in_between_times(tiny_generator_config):
    seen = np.array(_times_seen(tiny_generator_config, TIME_SCENARIOS["interpolation"]))
    assert seen.min() > 0 and seen.max() < 1
    training_grid = np.arange(CLIP_FRAMES) / (CLIP_FRAMES - 1)
    assert np.abs(seen[:, None] - training_grid[None]).min() > 1e-3  # never a training frame time


def test_table2_standard_is_the_training_grid(tiny_generator_config):
    seen = _times_seen(tiny_generator_config, TIME_SCENARIOS["standard"])
    assert torch.allclose(torch.tensor(seen[:CLIP_FRAMES]), torch.linspace(0, 1, CLIP_FRAMES))
