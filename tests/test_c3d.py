"""C3D backbone: checkpoint layout, exact loading, TGANv2 preprocessing, download path (no network)."""
from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from digan.metrics.backbones import c3d
from digan.metrics.backbones.c3d import C3D, C3DClassifier, expected_npz_shapes, load_c3d, load_c3d_npz
from tests.http_server import FileServer

# The arrays chainer's save_npz writes for tgan2's C3DVersion1UCF101 (tgan2/models/c3d/c3d_ucf101.py):
# ConvolutionND(3, in, out, 3, 1, 1) → W [out, in, 3, 3, 3], Linear(in, out) → W [out, in].
PUBLISHED = {
    **{f"{name}/W": (cout, cin, 3, 3, 3) for name, cin, cout in (
        ("conv1a", 3, 64), ("conv2a", 64, 128), ("conv3a", 128, 256), ("conv3b", 256, 256),
        ("conv4a", 256, 512), ("conv4b", 512, 512), ("conv5a", 512, 512), ("conv5b", 512, 512))},
    **{f"{name}/b": (cout,) for name, cout in (
        ("conv1a", 64), ("conv2a", 128), ("conv3a", 256), ("conv3b", 256), ("conv4a", 512), ("conv4b", 512),
        ("conv5a", 512), ("conv5b", 512), ("fc6", 4096), ("fc7", 4096), ("fc8", 101))},
    "fc6/W": (4096, 512 * 4 * 4), "fc7/W": (4096, 4096), "fc8/W": (101, 4096),
}
TORCH_PARAM = {"W": "weight", "b": "bias"}
MEAN_SHAPE = (3, 16, 128, 171)  # caffe C3D mean clip; TGAN reshapes it to (3, 1, 16, 128, 171)


@dataclass
class Checkpoint:
    weights: Path
    mean_path: Path
    arrays: dict[str, np.ndarray]
    mean: np.ndarray


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Checkpoint]:
    """Random (seeded, He-scaled so activations stay finite) arrays under the published names and shapes."""
    rng = np.random.default_rng(0)
    arrays = {}
    for key, shape in PUBLISHED.items():
        bound = float(np.sqrt(6.0 / np.prod(shape[1:]))) if len(shape) > 1 else 0.1
        arrays[key] = (rng.random(shape, dtype=np.float32) * 2 - 1) * np.float32(bound)
    mean = rng.uniform(60, 130, MEAN_SHAPE).astype(np.float32)
    root = tmp_path_factory.mktemp("c3d")
    np.savez(root / c3d.WEIGHTS_NAME, **arrays)
    np.savez(root / c3d.MEAN_NAME, mean=mean)
    yield Checkpoint(root / c3d.WEIGHTS_NAME, root / c3d.MEAN_NAME, arrays, mean)
    shutil.rmtree(root)  # pytest keeps old temp dirs; don't leave 300 MB files behind


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    """A temp dir for full-size checkpoint copies, emptied after the test."""
    yield tmp_path
    shutil.rmtree(tmp_path)


@pytest.fixture(scope="module")
def classifier(ckpt: Checkpoint) -> C3DClassifier:
    state, mean = load_c3d_npz(ckpt.weights, ckpt.mean_path)
    net = C3D()
    net.load_state_dict(state)
    return C3DClassifier(net, mean)


def _meta_net() -> C3D:
    with torch.device("meta"):
        return C3D()


def test_expected_layout_is_the_published_one() -> None:
    assert expected_npz_shapes() == PUBLISHED


def test_loader_round_trips_every_array_exactly(ckpt: Checkpoint, classifier: C3DClassifier) -> None:
    state, mean = load_c3d_npz(ckpt.weights, ckpt.mean_path)
    assert len(state) == len(PUBLISHED)
    params = dict(classifier.net.named_parameters())
    for key, array in ckpt.arrays.items():
        layer, param = key.split("/")
        name = f"{layer}.{TORCH_PARAM[param]}"
        assert torch.equal(state[name], torch.from_numpy(array)), key
        assert torch.equal(params[name].detach(), torch.from_numpy(array)), key
    assert torch.equal(mean, torch.from_numpy(ckpt.mean))


def test_missing_array_is_named(ckpt: Checkpoint, scratch: Path) -> None:
    arrays = {k: v for k, v in ckpt.arrays.items() if k != "conv3b/b"}
    np.savez(scratch / "w.npz", **arrays)
    with pytest.raises(ValueError, match=r"missing: conv3b/b$"):
        load_c3d_npz(scratch / "w.npz", ckpt.mean_path)


def test_misshaped_and_unexpected_arrays_are_named(ckpt: Checkpoint, scratch: Path) -> None:
    arrays = {**ckpt.arrays, "fc8/W": ckpt.arrays["fc8/W"][:100], "bn1a/gamma": np.ones(64, np.float32)}
    np.savez(scratch / "w.npz", **arrays)
    with pytest.raises(ValueError) as info:
        load_c3d_npz(scratch / "w.npz", ckpt.mean_path)
    message = str(info.value)
    assert "unexpected: bn1a/gamma" in message
    assert "mis-shaped: fc8/W: (100, 4096) (expected (101, 4096))" in message
    assert "missing" not in message


@pytest.mark.parametrize("content, pattern", [
    ({"avg": np.zeros(MEAN_SHAPE, np.float32)}, "no 'mean' array"),
    ({"mean": np.zeros((3, 16, 112, 112), np.float32)}, r"shape \(3, 16, 112, 112\)"),
    ({"mean": np.zeros((1, *MEAN_SHAPE), np.float32)}, r"shape \(1, 3, 16, 128, 171\)"),
])
def test_bad_mean_file_is_refused(ckpt: Checkpoint, tmp_path: Path, content: dict, pattern: str) -> None:
    np.savez(tmp_path / "m.npz", **content)
    with pytest.raises(ValueError, match=pattern):
        load_c3d_npz(ckpt.weights, tmp_path / "m.npz")


def test_probabilities_are_distributions_over_101_classes(classifier: C3DClassifier) -> None:
    videos = torch.randint(0, 256, (2, 16, 40, 56, 3), dtype=torch.uint8)
    probs = classifier.probabilities(videos, batch_size=1)
    assert probs.shape == (2, 101) and probs.dtype == torch.float32
    assert torch.isfinite(probs).all() and (probs >= 0).all()
    torch.testing.assert_close(probs.sum(dim=1), torch.ones(2), atol=1e-5, rtol=0)


def test_constant_colour_maps_to_bgr_minus_cropped_mean(ckpt: Checkpoint) -> None:
    classifier = C3DClassifier(_meta_net(), torch.from_numpy(ckpt.mean))
    rgb = [(200, 100, 30), (0, 255, 7)]
    videos = torch.tensor(rgb, dtype=torch.uint8).view(2, 1, 1, 1, 3).expand(2, 16, 48, 80, 3).contiguous()
    x = classifier.preprocess(videos)
    assert x.shape == (2, 3, 16, 112, 112) and x.dtype == torch.float32
    for n, c, t, y, xx in [(0, 0, 0, 0, 0), (0, 2, 5, 111, 111), (1, 1, 15, 40, 3), (1, 0, 9, 0, 111)]:
        bgr = rgb[n][::-1]
        want = bgr[c] - ckpt.mean[c, t, 8 + y, 8 + xx]
        assert x[n, c, t, y, xx].item() == pytest.approx(want, abs=1e-4), (n, c, t, y, xx)


def _chainer_resize(x: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Chainer 6.0.0 ``F.resize_images`` semantics: bilinear at ``linspace(0, size − 1, out)``."""
    h, w = x.shape[-2:]
    vw, v = np.modf(np.linspace(0, h - 1, out_h))
    uw, u = np.modf(np.linspace(0, w - 1, out_w))
    v, u = v.astype(int), u.astype(int)
    v1, u1 = np.minimum(v + 1, h - 1), np.minimum(u + 1, w - 1)
    vw, uw = vw[:, None], uw[None, :]
    return ((1 - vw) * (1 - uw) * x[..., v[:, None], u[None, :]] + (1 - vw) * uw * x[..., v[:, None], u1[None, :]]
            + vw * (1 - uw) * x[..., v1[:, None], u[None, :]] + vw * uw * x[..., v1[:, None], u1[None, :]])


@pytest.mark.parametrize("h, w", [(64, 64), (192, 256), (112, 112), (128, 96)])
def test_resize_matches_chainer_bilinear(h: int, w: int) -> None:
    classifier = C3DClassifier(_meta_net(), torch.full(MEAN_SHAPE, 128.0))  # bias 0: output is the resize
    videos = torch.randint(0, 256, (1, 16, h, w, 3), dtype=torch.uint8)
    got = classifier.preprocess(videos).numpy()
    bgr = videos.numpy()[..., ::-1].transpose(0, 4, 1, 2, 3).astype(np.float64) - 128
    np.testing.assert_allclose(got, _chainer_resize(bgr, 112, 112), atol=1e-4, rtol=0)


def test_only_sixteen_uint8_frames_are_accepted(ckpt: Checkpoint) -> None:
    classifier = C3DClassifier(_meta_net(), torch.from_numpy(ckpt.mean))
    with pytest.raises(ValueError, match="exactly 16 frames"):
        classifier.preprocess(torch.zeros(1, 8, 112, 112, 3, dtype=torch.uint8))
    with pytest.raises(ValueError, match="uint8"):
        classifier.preprocess(torch.zeros(1, 16, 112, 112, 3))


@pytest.fixture
def served(ckpt: Checkpoint, scratch: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FileServer]:
    root = scratch / "served"
    root.mkdir()
    (root / c3d.WEIGHTS_NAME).symlink_to(ckpt.weights)
    (root / c3d.MEAN_NAME).symlink_to(ckpt.mean_path)
    server = FileServer(root)
    for name in (c3d.WEIGHTS_NAME, c3d.MEAN_NAME):
        monkeypatch.setitem(c3d.C3D_FILES, name, (server.url(name), None))
    yield server
    server.stop()


def test_load_c3d_downloads_pins_and_reuses(ckpt: Checkpoint, served: FileServer, scratch: Path) -> None:
    weights_dir = scratch / "weights"
    classifier = load_c3d(weights_dir, progress=False)
    assert sorted(r.path for r in served.requests) == sorted(f"/{n}" for n in (c3d.WEIGHTS_NAME, c3d.MEAN_NAME))
    for name in (c3d.WEIGHTS_NAME, c3d.MEAN_NAME):
        assert (weights_dir / name).read_bytes() == (served.root / name).read_bytes()
        assert (weights_dir / f"{name}.sha256").exists()  # no published digest: recorded on first use
    assert torch.equal(classifier.net.fc6.weight.detach(), torch.from_numpy(ckpt.arrays["fc6/W"]))
    assert torch.equal(classifier.net.conv1a.bias.detach(), torch.from_numpy(ckpt.arrays["conv1a/b"]))
    digests = [hashlib.sha256((served.root / n).read_bytes()).hexdigest() for n in (c3d.WEIGHTS_NAME, c3d.MEAN_NAME)]
    assert classifier.identity == f"c3d:{digests[0]}:{digests[1]}:{c3d.PREPROCESSING_VERSION}"

    again = load_c3d(weights_dir, progress=False)
    assert len(served.requests) == 2  # verified against the recorded digests, no network
    assert again.identity == classifier.identity


def test_the_weights_stage_fetches_c3d_from_the_sources_in_params(ckpt: Checkpoint, scratch: Path,
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """weight_sources.c3d (a mirror, a local server) replaces the published URLs, pinned digest included."""
    import yaml

    from pipeline import weights as stage
    from tests.helpers import REPO

    root = scratch / "mirror"
    root.mkdir()
    (root / c3d.WEIGHTS_NAME).symlink_to(ckpt.weights)
    (root / c3d.MEAN_NAME).symlink_to(ckpt.mean_path)
    server = FileServer(root)
    try:
        params = yaml.safe_load((REPO / "params.yaml").read_text())
        weights_sha = hashlib.sha256(ckpt.weights.read_bytes()).hexdigest()
        params["weight_sources"] = {"c3d": {
            c3d.WEIGHTS_NAME: {"url": server.url(c3d.WEIGHTS_NAME), "sha256": weights_sha},
            c3d.MEAN_NAME: {"url": server.url(c3d.MEAN_NAME), "sha256": None}}}
        (scratch / "params.yaml").write_text(yaml.safe_dump(params))
        monkeypatch.chdir(scratch)
        assert stage.main(["--backbone", "c3d", "--params", "params.yaml"]) == 0
        assert sorted(r.path for r in server.requests) == sorted(f"/{n}" for n in (c3d.WEIGHTS_NAME, c3d.MEAN_NAME))
        assert (scratch / "data/weights/c3d" / c3d.WEIGHTS_NAME).read_bytes() == ckpt.weights.read_bytes()

        params["weight_sources"]["c3d"][c3d.WEIGHTS_NAME]["sha256"] = "0" * 64  # a wrong pin is refused
        (scratch / "params.yaml").write_text(yaml.safe_dump(params))
        assert stage.main(["--backbone", "c3d", "--params", "params.yaml"]) == 1
        assert "sha256" in capsys.readouterr().err
    finally:
        server.stop()
