"""C3D (Sports-1M, fine-tuned on UCF-101) for the video Inception Score as computed by TGANv2.

A PyTorch port of ``C3DVersion1UCF101`` in pfnet-research/tgan2 (``tgan2/models/c3d/c3d_ucf101.py``),
loading the published chainer checkpoints ``conv3d_deepnetA_ucf.npz`` (network) and ``mean2.npz``
(mean clip). The chainer and torch layouts agree, so arrays load without transposition: chainer's
``ConvolutionND`` W is [out, in, kd, kh, kw] like ``nn.Conv3d`` (chainer/links/connection/convolution_nd.py),
``Linear`` W is [out, in] like ``nn.Linear`` (chainer/links/connection/linear.py), and both flatten
[N, C, T, H, W] in C order before fc6 (chainer/functions/connection/linear.py).

Architecture (c3d_ucf101.py): eight 3×3×3 convolutions, stride 1, padding 1, each followed by ReLU —
conv1a 3→64, conv2a 64→128, conv3a 128→256, conv3b 256→256, conv4a 256→512, conv4b, conv5a, conv5b
512→512 — with max pooling after conv1a (kernel = stride = 1×2×2), conv2a, conv3b, conv4b and conv5b
(kernel = stride = 2×2×2). Chainer's ``max_pooling_nd`` defaults to ``cover_all=True``, i.e. PyTorch's
``ceil_mode=True``; it matters at pool5, where 7×7 becomes 4×4, so fc6 sees 512·1·4·4 = 8192 inputs.
Then fc6 8192→4096, fc7 4096→4096 (each with ReLU) and fc8 4096→101 logits; the dropouts after pool5,
fc6 and fc7 are the identity at evaluation (``train=False``). The IS takes a softmax of fc8
(tgan2/evaluations/inception_score.py). See ``C3DClassifier.preprocess`` for the input pipeline.

This is TGANv2's pipeline. TGAN (pfnet-research/tgan, evaluation/calc_inception.py) fed the same network
differently: frames resized to 128×128 with OpenCV bicubic, the mean centre-cropped to columns 21…148,
then both cropped to [8:120, 8:120]; its scores are not reproduced by this module.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from digan.download import download, sha256_file

# Published with the TGANv2 code (README of pfnet-research/tgan2, "Pre-trained weights"). The mean clip
# is also published as https://github.com/pfnet-research/tgan/releases/download/v1.0.0/mean2.npz (TGAN).
C3D_WEIGHTS_URL = "https://github.com/rezoo/tgan2/releases/download/v1.0/conv3d_deepnetA_ucf.npz"
C3D_MEAN_URL = "https://github.com/rezoo/tgan2/releases/download/v1.0/mean2.npz"
WEIGHTS_NAME = "conv3d_deepnetA_ucf.npz"
MEAN_NAME = "mean2.npz"

# file name -> (url, sha256). Neither TGAN nor TGANv2 publishes digests for these files, so they are
# None: digan.download then records each file's digest beside it on first download (trust on first
# use) and verifies against that record afterwards. Paste the recorded digests here once obtained.
C3D_FILES: dict[str, tuple[str, str | None]] = {
    WEIGHTS_NAME: (C3D_WEIGHTS_URL, None),
    MEAN_NAME: (C3D_MEAN_URL, None),
}

NUM_CLASSES = 101
FRAMES = 16
SIZE = 112
MEAN_CROP = 8  # c3d_ucf101.py: the bias is 128 − mean[:, :, 8:8 + 112, 8:8 + 112]
# Part of the classifier's identity (cache keys): bump it whenever ``C3DClassifier.preprocess`` changes.
PREPROCESSING_VERSION = "tgan2-1"

_CONVS = (("conv1a", 3, 64), ("conv2a", 64, 128), ("conv3a", 128, 256), ("conv3b", 256, 256),
          ("conv4a", 256, 512), ("conv4b", 512, 512), ("conv5a", 512, 512), ("conv5b", 512, 512))
_POOL_AFTER = {"conv1a": (1, 2, 2), "conv2a": 2, "conv3b": 2, "conv4b": 2, "conv5b": 2}


class C3D(nn.Module):
    """The UCF-101 C3D network; layer names match the chainer checkpoint (``conv1a/W`` → ``conv1a.weight``)."""

    def __init__(self) -> None:
        super().__init__()
        for name, cin, cout in _CONVS:
            self.add_module(name, nn.Conv3d(cin, cout, kernel_size=3, stride=1, padding=1))
        self.fc6 = nn.Linear(512 * 1 * 4 * 4, 4096)
        self.fc7 = nn.Linear(4096, 4096)
        self.fc8 = nn.Linear(4096, NUM_CLASSES)

    def features(self, x: Tensor) -> Tensor:
        """fc7 activations after ReLU ``[N, 4096]`` (tgan2's ``get_feature``, used for its FID)."""
        h = x
        for name, _, _ in _CONVS:
            h = F.relu(getattr(self, name)(h))
            if name in _POOL_AFTER:
                h = F.max_pool3d(h, _POOL_AFTER[name], ceil_mode=True)
        h = F.relu(self.fc6(h.flatten(1)))
        return F.relu(self.fc7(h))

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``[N, 101]`` for preprocessed clips ``[N, 3, 16, 112, 112]`` (BGR, mean-subtracted)."""
        return self.fc8(self.features(x))


_TORCH_PARAM = {"W": "weight", "b": "bias"}  # chainer link parameter → torch module parameter
_NPZ_PARAM = {v: k for k, v in _TORCH_PARAM.items()}


def _torch_name(npz_key: str) -> str:
    layer, param = npz_key.split("/")
    return f"{layer}.{_TORCH_PARAM[param]}"


def _npz_key(torch_name: str) -> str:
    layer, param = torch_name.split(".")
    return f"{layer}/{_NPZ_PARAM[param]}"


def expected_npz_shapes() -> dict[str, tuple[int, ...]]:
    """Chainer key → shape of every array ``conv3d_deepnetA_ucf.npz`` must hold."""
    with torch.device("meta"):
        net = C3D()
    return {_npz_key(k): tuple(v.shape) for k, v in net.state_dict().items()}


def load_c3d_npz(weights_npz: Path, mean_npz: Path) -> tuple[dict[str, Tensor], Tensor]:
    """Read the chainer checkpoint into a ``C3D`` state dict, and the mean clip ``[3, 16, H, W]``.

    The weights file must hold exactly the 22 arrays of ``expected_npz_shapes`` (chainer's ``save_npz``
    of the chain: ``conv1a/W``, ``conv1a/b``, …, ``fc8/b``); anything missing, unexpected or mis-shaped is
    reported in one ``ValueError``. The mean file's ``mean`` array (the only one tgan/tgan2 read) must be
    [3, 16, H, W] with H, W ≥ 120 so that TGANv2's crop [8:120, 8:120] exists; it keeps its stored dtype.
    """
    with np.load(mean_npz, allow_pickle=False) as npz:
        if "mean" not in npz.files:
            raise ValueError(f"{mean_npz} has no 'mean' array (found {sorted(npz.files)})")
        mean = npz["mean"]
    if mean.ndim != 4 or mean.shape[:2] != (3, FRAMES) or min(mean.shape[2:]) < MEAN_CROP + SIZE:
        raise ValueError(f"{mean_npz}: 'mean' has shape {mean.shape}, expected [3, {FRAMES}, H, W] with "
                         f"H, W >= {MEAN_CROP + SIZE} (the published clip is [3, 16, 128, 171])")

    expected = expected_npz_shapes()
    with np.load(weights_npz, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    missing = sorted(set(expected) - set(arrays))
    unexpected = sorted(set(arrays) - set(expected))
    misshaped = sorted(f"{k}: {arrays[k].shape} (expected {expected[k]})"
                       for k in set(expected) & set(arrays) if arrays[k].shape != expected[k])
    if missing or unexpected or misshaped:
        problems = [f"{label}: {', '.join(items)}" for label, items in
                    (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped)) if items]
        raise ValueError(f"{weights_npz} is not a TGANv2 C3D checkpoint ({WEIGHTS_NAME}); "
                         + "; ".join(problems))
    state = {_torch_name(k): torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)) for k, a in arrays.items()}
    return state, torch.from_numpy(np.ascontiguousarray(mean))


def _resize_matrix(n_in: int, n_out: int, device: torch.device) -> Tensor:
    """[n_out, n_in] linear-interpolation matrix of chainer 6's ``F.resize_images`` along one axis.

    Output i samples input position p = linspace(0, n_in − 1, n_out)[i] (align_corners), computed in
    float64 and split into floor(p) and the weight frac(p) before casting to float32, as chainer does;
    ``F.interpolate`` computes p in float32 and drifts by up to ~2e-3 on 0…255 pixels.
    """
    frac, base = np.modf(np.linspace(0, n_in - 1, n_out))
    base = base.astype(np.int64)
    m = np.zeros((n_out, n_in), dtype=np.float32)
    m[np.arange(n_out), base] = (1 - frac).astype(np.float32)
    m[np.arange(n_out), np.minimum(base + 1, n_in - 1)] += frac.astype(np.float32)
    return torch.from_numpy(m).to(device)


class C3DClassifier:
    """C3D with TGANv2's exact input pipeline, behind the backbone interface (``name``, ``identity``,
    ``probabilities``)."""

    name = "c3d"
    frames = FRAMES

    def __init__(self, net: C3D, mean: Tensor, identity: str = "c3d") -> None:
        self.net = net.eval()
        crop = mean[:, :, MEAN_CROP:MEAN_CROP + SIZE, MEAN_CROP:MEAN_CROP + SIZE]
        # Computed in the mean's own dtype, then stored as float32, as chainer assigns it to a Bias link.
        self.bias = (128 - crop).to(torch.float32)
        self.identity = identity

    def to(self, device: torch.device | str) -> C3DClassifier:
        self.net.to(device)
        self.bias = self.bias.to(device)
        return self

    def preprocess(self, videos_uint8: Tensor) -> Tensor:
        """uint8 RGB clips ``[N, 16, H, W, 3]`` → C3D input ``[N, 3, 16, 112, 112]`` (float32, on the model's device).

        Each step is TGANv2's (pfnet-research/tgan2, chainer 6.0.0 as pinned in its requirements.txt):

        1. Pixels v map to [−1, 1] as (v − 128) / 128 (``tgan2/datasets/h5video.py``; generated clips are
           clipped to [−1, 1] in ``tgan2/evaluations/inception_score.py::make_samples``).
        2. RGB → BGR and ×128, as one fixed 1×1×1 convolution ``pre`` with W[0,2] = W[1,1] = W[2,0] = 128
           (``tgan2/models/c3d/c3d_ucf101.py``). Steps 1–2 together are exactly v − 128 in BGR order.
        3. Every frame, whatever its size or aspect ratio, is resized straight to 112×112 (no crop) with
           ``F.resize_images`` (c3d_ucf101.py ``_resize``): bilinear, sample positions
           ``linspace(0, H − 1, 112)``, i.e. ``align_corners=True``, no antialiasing
           (chainer/functions/array/resize_images.py in chainer 6.0.0); done here as two interpolation
           matrices built the same way (``_resize_matrix``).
        4. Add the bias 128 − mean[:, :, 8:120, 8:120] from ``mean2.npz`` (c3d_ucf101.py), so the net sees
           BGR pixel values minus the (BGR) mean clip cropped at rows and columns 8…119.
        """
        if videos_uint8.dtype != torch.uint8 or videos_uint8.ndim != 5 or videos_uint8.shape[-1] != 3:
            raise ValueError(f"expected uint8 videos [N, T, H, W, 3], got {tuple(videos_uint8.shape)} "
                             f"{videos_uint8.dtype}")
        if videos_uint8.shape[1] != FRAMES:
            raise ValueError(f"C3D takes exactly {FRAMES} frames (its mean clip has {FRAMES}), "
                             f"got {videos_uint8.shape[1]}")
        h, w = videos_uint8.shape[2:4]
        x = videos_uint8.to(self.bias.device, torch.float32)
        x = (x - 128) / 128
        x = x.flip(-1) * 128  # RGB → BGR, then the ×128 of ``pre``
        x = x.permute(0, 4, 1, 2, 3)  # [N, 3, T, H, W]
        rows, cols = _resize_matrix(h, SIZE, x.device), _resize_matrix(w, SIZE, x.device)
        x = rows @ x @ cols.T
        return x + self.bias

    @torch.no_grad()
    def probabilities(self, videos_uint8: Tensor, batch_size: int = 8) -> Tensor:
        """Class probabilities ``[N, 101]`` (float32 softmax of fc8, on the CPU); see ``preprocess``."""
        return torch.cat([self.net(self.preprocess(chunk)).softmax(dim=1).cpu()
                          for chunk in videos_uint8.split(batch_size)])


def load_c3d(weights_dir: Path = Path("data/weights"), *, progress: bool = True,
             sources: dict[str, tuple[str, str | None]] | None = None) -> C3DClassifier:
    """Download (if missing) and verify both TGANv2 files in ``weights_dir``, then build the classifier.
    ``sources`` replaces the (url, sha256) of any of ``C3D_FILES`` (a mirror, or a local server in tests)."""
    files = {**C3D_FILES, **(sources or {})}
    if set(files) != set(C3D_FILES):
        raise ValueError(f"C3D files are {sorted(C3D_FILES)}, got {sorted(files)}")
    paths = {name: download(url, Path(weights_dir) / name, sha256, progress=progress)
             for name, (url, sha256) in files.items()}
    state, mean = load_c3d_npz(paths[WEIGHTS_NAME], paths[MEAN_NAME])
    with torch.device("meta"):
        net = C3D()
    net.load_state_dict(state, assign=True)
    digests = ":".join(sha256_file(paths[name]) for name in (WEIGHTS_NAME, MEAN_NAME))
    return C3DClassifier(net, mean, f"c3d:{digests}:{PREPROCESSING_VERSION}")
