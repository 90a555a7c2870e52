"""`python -m digan.official` on pickles with the structure of an official DIGAN snapshot.

No official code is available here: the test registers stand-in modules (``torch_utils.persistence``,
``dnnlib.util``, ``omegaconf.dictconfig``) only while pickling, and writes each network as the official
persistence does (src/torch_utils/persistence.py): a call ``_reconstruct_persistent_obj(meta)`` with
``meta = {type, version, module_src, class_name, state}`` and ``state`` the module's ``__dict__``
(``_parameters``, ``_buffers``, ``_modules``, attributes, numpy floats, cfg objects, Beta
distributions, torch.nn containers). The weights come from one of our small models with random
weights and biases, renamed to the official names (src/training/networks.py, layers.py).
"""
from __future__ import annotations

import collections
import hashlib
import math
import os
import pickle
import subprocess
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from digan import official
from digan.config import DiscriminatorConfig, GeneratorConfig
from digan.generate import generate_frames, load_generator
from digan.models.discriminator import Discriminator, VideoDiscriminators
from digan.models.generator import Generator
from digan.models.inr import FMMLayer, ToRGB
from digan.models.ops import Conv2d, FullyConnected

REPO = Path(__file__).resolve().parents[1]
GCFG = GeneratorConfig(resolution=32, input_resolution=8, z_dim=16, w_dim=16, motion_z_dim=16, channel_base=256,
                       channel_max=16, fmm_rank=3, embedding_size=8, extra_conv_from=32, sigma_xy=2.5, sigma_t=0.3,
                       num_classes=3)
DCFG = DiscriminatorConfig(channel_base=256, channel_max=16, mbstd_group=2)
FILTER = torch.tensor([1.0, 3.0, 3.0, 1.0]).outer(torch.tensor([1.0, 3.0, 3.0, 1.0])) / 64


# ------------------------------------------------------------------ stand-ins for the official modules
def _reconstruct_persistent_obj(meta: dict) -> Any:  # pickled by reference only, never called here
    raise AssertionError("the stand-in reconstruct function must not run")


class EasyDict(dict):
    pass


class DictConfig:
    def __init__(self, content: dict) -> None:
        self._content, self._metadata, self._parent = content, None, None


STAND_INS = {"torch_utils.persistence": {"_reconstruct_persistent_obj": _reconstruct_persistent_obj},
             "dnnlib.util": {"EasyDict": EasyDict}, "omegaconf.dictconfig": {"DictConfig": DictConfig}}


@contextmanager
def stand_in_modules() -> Iterator[None]:
    """Register the stand-ins (and their parent packages) in sys.modules while pickling."""
    names = sorted({".".join(n.split(".")[:i]) for n in STAND_INS for i in (1, 2)})
    saved = {n: sys.modules.get(n) for n in names}
    try:
        for n in names:
            sys.modules[n] = types.ModuleType(n)
        for mod, members in STAND_INS.items():
            for attr, obj in members.items():
                obj.__module__, obj.__qualname__ = mod, attr
                setattr(sys.modules[mod], attr, obj)
        yield
    finally:
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m


class Persistent:
    """Pickles exactly as a persistent official object: _reconstruct_persistent_obj(meta)."""

    def __init__(self, class_name: str, state: dict, module_src: str) -> None:
        self.meta = dict(type="class", version=6, module_src=module_src, class_name=class_name, state=state)

    def __reduce__(self):
        return _reconstruct_persistent_obj, (self.meta,)


def torch_container(cls: type, state: dict) -> torch.nn.Module:
    """A non-persistent torch.nn container (Sequential, ModuleList) as pickled: the real class, whose
    ``__dict__`` (state) holds persistent children. ``__init__`` is bypassed so any child pickles."""
    obj = cls.__new__(cls)
    obj.__dict__.update(state)
    return obj


def _module_state(params: dict, buffers: dict, children: dict, attrs: dict) -> dict:
    return {"training": False, "_parameters": collections.OrderedDict(params),
            "_buffers": collections.OrderedDict(buffers), "_non_persistent_buffers_set": set(),
            "_backward_hooks": collections.OrderedDict(), "_forward_hooks": collections.OrderedDict(),
            "_modules": collections.OrderedDict(children), **attrs}


class OfficialBuilder:
    """Our modules → the official module tree, names and attributes (src/training/networks.py)."""

    def __init__(self, module_src: str) -> None:
        self.src = module_src
        self.cfg = DictConfig({"fmm": {"enabled": True, "rank": GCFG.fmm_rank}})

    def module(self, class_name: str, params=None, buffers=None, children=None, **attrs) -> Persistent:
        return Persistent(class_name, _module_state(params or {}, buffers or {}, children or {}, attrs), self.src)

    def fc(self, layer: FullyConnected) -> Persistent:
        return self.module("FullyConnectedLayer", {"weight": layer.weight.detach().clone(),
                                                   "bias": layer.bias.detach().clone()},
                           activation="lrelu" if layer.activation else "linear",
                           weight_gain=np.float64(layer.weight_gain), bias_gain=layer.bias_gain)

    def synthesis_layer(self, layer: FMMLayer, resolution: int, up: int) -> Persistent:
        return self.module("SynthesisLayer", {"weight": layer.weight.detach()[:, :, None, None].clone(),
                                              "bias": layer.bias.detach().clone()},
                           {"resample_filter": FILTER.clone()}, {"affine": self.fc(layer.affine)}, cfg=self.cfg,
                           resolution=resolution, up=up, activation="lrelu", conv_clamp=None, padding=0,
                           act_gain=np.float64(math.sqrt(2)), instance_norm=False)

    def torgb(self, layer: ToRGB) -> Persistent:
        params = {"weight": layer.weight.detach()[:, :, None, None].clone(), "bias": layer.bias.detach().clone()}
        return self.module("ToRGBLayer", params, children={"affine": self.fc(layer.affine)}, conv_clamp=None,
                           weight_gain=np.float64(layer.weight_gain))

    def coord_fuser(self, emb, resolution: int) -> Persistent:
        mlp = torch_container(torch.nn.Sequential, _module_state({}, {}, {"0": self.fc(emb.motion_mlp.fc1),
                                                                        "1": self.fc(emb.motion_mlp.fc2)}, {}))
        return self.module("CoordFuser", children={"xyaffine": self.fc(emb.spatial_affine),
                                                   "affine": self.fc(emb.motion_affine), "motion_mlp": mlp},
                           cfg=self.cfg, resolution=resolution, log_emb_size=0, random_emb_size=0, shared_emb_size=0,
                           predictable_emb_size=emb.size, const_emb_size=0, fourier_scale=np.float64(emb.sigma_xy),
                           use_cosine=True, use_raw_coords=False, init_dist="randn", motion_sigma=emb.sigma_t,
                           dist1=torch.distributions.Beta(2.0, 1.0), dist2=torch.distributions.Beta(1.0, 2.0),
                           W_size=2 * emb.size, b_size=emb.size, total_dim=2 * emb.size, is_modulated=True)

    def generator(self, G: Generator) -> Persistent:
        c = G.cfg
        blocks = {}
        for i, block in enumerate(G.blocks):
            r = 4 * 2 ** i
            res, up = max(r, c.input_resolution), (2 if r > c.input_resolution else 1)
            layers = [self.synthesis_layer(layer, res, up) for layer in block.layers]
            children = {"conv1": layers[0]} if r == 4 else {"conv0": layers[0], "conv1": layers[1]}
            extra = layers[1:] if r == 4 else layers[2:]
            attrs: dict[str, Any] = {"extra_convs": None} if not extra else {}
            if extra:
                children["extra_convs"] = torch_container(torch.nn.ModuleList, _module_state(
                    {}, {}, {str(j): x for j, x in enumerate(extra)}, {}))
            children["torgb"] = self.torgb(block.torgb)
            if r == 4:
                inner = self.module("CoordsInput", children={"coord_fuser": self.coord_fuser(block.embedding, res)})
                children["input"] = self.module("GenInput", children={"input": inner}, cfg=self.cfg)
            elif block.embedding is not None:
                children["coord_fuser"] = self.coord_fuser(block.embedding, res)
            else:
                attrs["coord_fuser"] = None
            blocks[f"b{r}"] = self.module("SynthesisBlock", buffers={"resample_filter": FILTER.clone()},
                                          children=children, cfg=self.cfg, in_channels=0 if r == 4 else 1,
                                          w_dim=c.w_dim, resolution=res, up=up, input_resolution=res // up,
                                          architecture="skip", **attrs)
        mapping = {"embed": self.fc(G.mapping.embed)} if c.num_classes else {}
        mapping.update({f"fc{k}": self.fc(layer) for k, layer in enumerate(G.mapping.layers)})
        init = {"z_dim": c.z_dim, "w_dim": c.w_dim, "mapping_kwargs": EasyDict(num_layers=c.mapping_layers),
                "synthesis_kwargs": EasyDict(channel_base=c.channel_base, channel_max=c.channel_max,
                                             num_fp16_res=0, conv_clamp=None),
                "cfg": {"fp32": True, "upsampling_mode": "nearest", "use_noise": False,
                        "input": {"type": "coords", "resolution": c.input_resolution, "coord_fuser_cfg": "${coords}"},
                        "coords": {"enabled": True, "per_resolution": True, "kernel_size": 1, "coord_dim": 2,
                                   "fallback": False, "motion_sigma": c.sigma_t},
                        "fmm": {"enabled": True, "rank": c.fmm_rank, "activation": "demod"}},
                "c_dim": c.num_classes, "img_resolution": c.resolution, "img_channels": 3, "ours": True}
        return self.module(
            "Generator", children={
                "synthesis": self.module("SynthesisNetwork", children=blocks, w_dim=c.w_dim, cfg=self.cfg,
                                         img_resolution=c.resolution, img_channels=3,
                                         block_resolutions=[4 * 2 ** i for i in range(len(blocks))]),
                "mapping": self.module("MappingNetwork", buffers={"w_avg": torch.randn(c.w_dim)}, children=mapping,
                                       z_dim=c.z_dim, c_dim=c.num_classes, w_dim=c.w_dim, num_ws=9,
                                       num_layers=c.mapping_layers, w_avg_beta=0.995)},
            z_dim=c.z_dim, c_dim=c.num_classes, w_dim=c.w_dim, img_resolution=c.resolution, img_channels=3,
            num_ws=9, ours=True, dist1=torch.distributions.Beta(2.0, 1.0), _init_args=(), _init_kwargs=init)

    def conv(self, layer: Conv2d) -> Persistent:
        params = {"weight": layer.weight.detach().clone()}
        attrs = {} if layer.bias is not None else {"bias": None}
        if layer.bias is not None:
            params["bias"] = layer.bias.detach().clone()
        return self.module("Conv2dLayer", params, {"resample_filter": FILTER.clone()},
                           activation="lrelu" if layer.activation else "linear", up=1, down=2 if layer.down else 1,
                           conv_clamp=256, padding=layer.padding, weight_gain=np.float64(layer.weight_gain),
                           act_gain=np.float64(math.sqrt(2) if layer.activation else 1.0), **attrs)

    def image_discriminator(self, D: Discriminator) -> Persistent:
        children = {}
        for i, block in enumerate(D.blocks):
            r = D.resolution // 2 ** i
            sub = {"fromrgb": self.conv(D.fromrgb)} if i == 0 else {}
            sub.update(conv0=self.conv(block.conv0), conv1=self.conv(block.conv1), skip=self.conv(block.skip))
            children[f"b{r}"] = self.module("DiscriminatorBlock", buffers={"resample_filter": FILTER.clone()},
                                            children=sub, in_channels=0 if i == 0 else 1, resolution=r,
                                            img_channels=D.in_channels, architecture="resnet", use_fp16=i < 4)
        if D.num_classes:
            mapping = {"embed": self.fc(D.embed)}
            mapping.update({f"fc{k}": self.fc(layer) for k, layer in enumerate(D.cmap_mapping)})
            children["mapping"] = self.module("MappingNetwork", children=mapping, z_dim=0, c_dim=D.num_classes,
                                              w_dim=D.epilogue.cmap_dim, num_ws=None, w_avg_beta=None)
        e = D.epilogue
        mbstd = self.module("MinibatchStdLayer", group_size=e.mbstd.group_size, num_channels=e.mbstd.num_channels)
        children["b4"] = self.module("DiscriminatorEpilogue", children={
            "mbstd": mbstd, "conv": self.conv(e.conv), "fc": self.fc(e.fc), "out": self.fc(e.out)},
            in_channels=e.conv.weight.shape[0], cmap_dim=e.cmap_dim, resolution=4, architecture="resnet")
        return self.module("ImageDiscriminator", children=children, c_dim=D.num_classes,
                           img_resolution=D.resolution, img_channels=D.in_channels,
                           _init_args=(D.num_classes, D.resolution, D.in_channels),
                           _init_kwargs={"channel_base": DCFG.channel_base, "channel_max": DCFG.channel_max,
                                         "num_fp16_res": 4, "conv_clamp": 256})

    def discriminator(self, D: VideoDiscriminators) -> Persistent:
        return self.module("OurDiscriminator", children={"videoD": self.image_discriminator(D.motion),
                                                         "imageD": self.image_discriminator(D.image)})


def dump(obj: Any, path: Path) -> Path:
    with stand_in_modules():
        path.write_bytes(pickle.dumps(obj))
    return path


@torch.no_grad()
def randomised(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    gen = torch.Generator().manual_seed(seed)
    for name, p in module.named_parameters():
        p.copy_(torch.randn(p.shape, generator=gen) * (0.3 if name.endswith("bias") else 1.0))
    return module


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "digan.official", *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True)


@pytest.fixture(scope="module")
def models() -> dict[str, torch.nn.Module]:
    return {"G": randomised(Generator(GCFG), 1), "G_ema": randomised(Generator(GCFG), 2),
            "D": randomised(VideoDiscriminators(DCFG, GCFG.resolution, GCFG.num_classes), 3)}


def snapshot_of(models: dict[str, torch.nn.Module], module_src: str) -> dict:
    b = OfficialBuilder(module_src)
    kwargs = EasyDict(class_name="training.dataset.ImageFolderDataset", path="/data/x", use_labels=True,
                      resolution=GCFG.resolution, xflip=False, train=True)
    return {"training_set_kwargs": dict(kwargs), "G": b.generator(models["G"]), "D": b.discriminator(models["D"]),
            "G_ema": b.generator(models["G_ema"]), "augment_pipe": None}


# -------------------------------------------------------------------------------------- tests
def test_import_matches_our_model_exactly(models, tmp_path: Path) -> None:
    marker = tmp_path / "module_src_ran"
    # If anything exec'd the pickled module source (as the official loader does), it would leave a file.
    evil_src = f"open({str(marker)!r}, 'w').write('ran')\nraise SystemExit('module_src was executed')\n"
    snap = dump(snapshot_of(models, evil_src), tmp_path / "network-snapshot-000128.pkl")
    out = tmp_path / "imported" / "checkpoint.pt"
    proc = run_cli(snap, "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert not marker.exists()
    assert "imported network-snapshot-000128.pkl" in proc.stdout and "32²" in proc.stdout

    state = torch.load(out, weights_only=True)
    for key in ("G", "G_ema", "D"):
        ours = models[key].state_dict()
        assert list(state[key]) == list(ours), key
        for name, value in ours.items():
            assert torch.equal(state[key][name], value), (key, name)
    cfg = state["config"]
    assert cfg["generator"] == {**GCFG.__dict__}
    assert cfg["discriminator"] == {**DCFG.__dict__}
    assert cfg["data"]["xflip"] is False
    assert state["step"] == 128_000 // cfg["train"]["batch_size"]
    assert state["source"]["official_snapshot"] == snap.name
    assert state["source"]["sha256"] == hashlib.sha256(snap.read_bytes()).hexdigest()
    assert state["source"]["kimg"] == 128

    G = load_generator(out)
    z, z_motion = torch.randn(2, GCFG.z_dim), torch.randn(2, GCFG.motion_z_dim)
    labels = torch.tensor([0, 2])
    times = torch.linspace(0, 1, 4)
    with torch.no_grad():
        expected = models["G_ema"].eval()(z, z_motion, times, labels)
    assert torch.equal(generate_frames(G, z, z_motion, times, labels=labels), expected)
    far = generate_frames(G, z, z_motion, torch.linspace(0, 3, 7), labels=labels)  # extrapolation, t > 1
    assert far.shape == (2, 7, 3, 32, 32) and torch.isfinite(far).all()
    assert not torch.equal(far[:, -1], far[:, 2])
    D = VideoDiscriminators(DCFG, GCFG.resolution, GCFG.num_classes)
    D.load_state_dict(state["D"], strict=True)


class Call:
    """Pickles as ``func(*args)``: what an attacker would put into a snapshot."""

    def __init__(self, func, *args) -> None:
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


@pytest.mark.parametrize("func, named", [(os.system, "system"), (eval, "builtins.eval"),
                                         (subprocess.Popen, "subprocess.Popen"), (exec, "builtins.exec")])
def test_dangerous_globals_are_refused_by_name(tmp_path: Path, func, named: str) -> None:
    marker = tmp_path / "ran"
    payload = {"G": Call(func, f"open({str(marker)!r}, 'w')" if func in (eval, exec) else f"touch {marker}"),
               "D": None, "G_ema": None}
    path = dump(payload, tmp_path / "evil.pkl")
    with pytest.raises(official.UnsafePickleError, match=named):
        official.load_snapshot(path)
    assert not marker.exists()


def test_refusal_inside_a_persistent_state_and_cli_exit_code(models, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    snap = snapshot_of(models, "")
    snap["G"].meta["state"]["hook"] = Call(os.system, f"touch {marker}")
    path = dump(snap, tmp_path / "network-snapshot-000001.pkl")
    proc = run_cli(path, "--out", tmp_path / "x.pt")
    assert proc.returncode == 2
    assert "system" in proc.stderr and "refusing" in proc.stderr
    assert not marker.exists() and not (tmp_path / "x.pt").exists()


def test_not_a_digan_snapshot(models, tmp_path: Path, capsys) -> None:
    cases = {
        "plain.pkl": dump({"weights": torch.zeros(3)}, tmp_path / "plain.pkl"),
        "garbage.pkl": tmp_path / "garbage.pkl",
        "stylegan.pkl": None,
    }
    cases["garbage.pkl"].write_bytes(b"\x00not a pickle at all")
    snap = snapshot_of(models, "")
    snap["D"] = Persistent("Discriminator", _module_state({}, {}, {}, {}), "")  # StyleGAN2-ADA's D
    cases["stylegan.pkl"] = dump(snap, tmp_path / "stylegan.pkl")
    expected = {"plain.pkl": "not an official DIGAN snapshot", "garbage.pkl": "not a readable pickle",
                "stylegan.pkl": "D is a Discriminator, expected OurDiscriminator"}
    for name, path in cases.items():
        assert official.main([str(path), "--out", str(tmp_path / "out.pt")]) == 2
        assert expected[name] in capsys.readouterr().err, name
    assert official.main([str(tmp_path / "missing.pkl"), "--out", str(tmp_path / "out.pt")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert not (tmp_path / "out.pt").exists()


def test_unrepresentable_configuration_is_named(models, tmp_path: Path, capsys) -> None:
    snap = snapshot_of(models, "")
    fuser = snap["G_ema"].meta["state"]["_modules"]["synthesis"].meta["state"]["_modules"]["b16"]
    fuser = fuser.meta["state"]["_modules"]["coord_fuser"]
    fuser.meta["state"]["motion_sigma"] = 0.5  # σt must be one value for all levels here
    path = dump(snap, tmp_path / "mixed.pkl")
    assert official.main([str(path), "--out", str(tmp_path / "out.pt")]) == 2
    assert "motion_sigma differs between resolutions" in capsys.readouterr().err
