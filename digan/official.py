"""Import an official DIGAN snapshot (``network-snapshot-*.pkl``) as a checkpoint of this project.

    python -m digan.official network-snapshot-025000.pkl --out runs/official/checkpoint.pt

The official training loop (``src/training/training_loop.py``, "Save network snapshot") pickles
``dict(training_set_kwargs, G, D, G_ema, augment_pipe)`` with plain :func:`pickle.dump`. Its networks
are StyleGAN2-ADA *persistent* classes (``src/torch_utils/persistence.py``): each one is stored as a
call ``_reconstruct_persistent_obj(meta)`` whose ``meta`` carries the *source code* of the module
that defined the class (``module_src``, which the official loader executes) and the object's
``__dict__`` (``meta['state']``: ``_parameters``, ``_buffers``, ``_modules`` and plain attributes).

Safety: such a pickle is a program. Here it is read by :class:`RestrictedUnpickler`, which never
imports a module named in the pickle and never executes ``module_src``: a persistent object becomes
an inert :class:`PersistentObject` holding its class name and state; configuration classes
(``dnnlib.util.EasyDict``, omegaconf's ``DictConfig`` and nodes, ``torch.distributions``, ``torch.nn``
containers) become inert :class:`Placeholder` records; tensors are rebuilt only through torch's
``weights_only`` loader. Any other global the pickle names (``os.system``, ``builtins.eval``,
``subprocess.Popen``, ...) is refused with :class:`UnsafePickleError` naming it.

The plain state is then walked to one ``{dotted_name: tensor}`` per network, renamed onto this
project's modules, and the configuration is inferred from tensor shapes and recorded attributes (see
:func:`infer_generator_config`, :func:`infer_discriminator_config`). The result is written with the
keys of a training checkpoint that the generation, metric and analysis tools read (``config``,
``step``, ``G``, ``G_ema``, ``D``) plus ``source`` (file name, sha256, kimg). It has no optimiser or
RNG state, so it cannot resume training here.
"""
from __future__ import annotations

import argparse
import collections
import functools
import hashlib
import io
import math
import pickle
import re
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from digan.config import Config, ConfigError, DiscriminatorConfig, GeneratorConfig, config_from_dict
from digan.models.discriminator import VideoDiscriminators
from digan.models.generator import Generator
from digan.training.checkpoint import save_atomic

NETWORKS = ("G", "G_ema", "D")


class OfficialSnapshotError(ValueError):
    """The file is not an official DIGAN snapshot, or uses a configuration this project cannot hold."""


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle names a global that an official snapshot never needs; it is not loaded."""


# ------------------------------------------------------------------------------ restricted unpickling
@dataclass
class PersistentObject:
    """An official persistent object, never instantiated: its class name and ``__dict__``."""

    class_name: str
    version: Any
    state: dict[str, Any]
    module_src_sha256: str  # identifies the pickled source without running it


class Placeholder(dict):
    """Inert stand-in for a class named in the pickle (EasyDict, DictConfig, Beta, Sequential, ...).

    It records constructor arguments, ``__setstate__`` state and appended items; it is a ``dict`` so
    that dict subclasses (EasyDict) keep their items. Nothing of the named class is imported or run.
    """

    pickle_global = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> Placeholder:
        obj = dict.__new__(cls)
        obj.args, obj.kwargs, obj.state, obj.items_list = args, kwargs, None, []
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # REDUCE calls cls(*args): record only
        if args or kwargs:
            self.args, self.kwargs = args, kwargs

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def append(self, item: Any) -> None:
        self.items_list.append(item)

    def extend(self, items: Any) -> None:
        self.items_list.extend(items)

    def __repr__(self) -> str:
        return f"<placeholder {self.pickle_global}>"


# Modules whose *classes* may appear in a snapshot as configuration or containers. Only names that
# look like classes (capitalised) become placeholders; functions of these modules are refused.
_PLACEHOLDER_MODULES = ("dnnlib", "omegaconf", "torch.distributions", "torch.nn.modules", "typing")


def _reconstruct_persistent_obj(meta: Any) -> PersistentObject:
    """Replaces src/torch_utils/persistence.py ``_reconstruct_persistent_obj``: keep, never exec."""
    if not isinstance(meta, dict) or meta.get("type") != "class" or not isinstance(meta.get("state"), dict):
        raise OfficialSnapshotError("a persistent object's metadata is not {type: 'class', state: {...}}")
    src = meta.get("module_src", "")
    digest = hashlib.sha256(src.encode() if isinstance(src, str) else b"").hexdigest()
    return PersistentObject(str(meta.get("class_name")), meta.get("version"), meta["state"], digest)


def _load_storage(data: bytes) -> Any:
    """Replaces ``torch.storage._load_from_bytes``: the nested torch.save runs in weights_only mode."""
    if not isinstance(data, (bytes, bytearray)):
        raise UnsafePickleError("torch.storage._load_from_bytes was given something other than bytes")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # TypedStorage deprecation
        storage = torch.load(io.BytesIO(bytes(data)), weights_only=True, map_location="cpu")
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise UnsafePickleError(f"a tensor storage unpickled to {type(storage).__name__}")
    return storage


def _rebuild_tensor(storage: Any, offset: int, size: tuple, stride: tuple, *_ignored: Any) -> Tensor:
    """``torch._utils._rebuild_tensor_v2`` without backward hooks or metadata (never needed here)."""
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise UnsafePickleError(f"a tensor was rebuilt from {type(storage).__name__}, not a storage")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch._utils._rebuild_tensor_v2(storage, int(offset), tuple(size), tuple(stride), False,
                                               collections.OrderedDict())


def _rebuild_parameter(data: Any, *_ignored: Any) -> Tensor:
    """``torch._utils._rebuild_parameter[_with_state]``: the plain tensor (no hooks, no state)."""
    if not isinstance(data, Tensor):
        raise UnsafePickleError(f"a parameter was rebuilt from {type(data).__name__}, not a tensor")
    return data.detach()


def _numpy_dtype(obj: Any, align: bool = False, copy: bool = False) -> np.dtype:
    if not isinstance(obj, str):
        raise UnsafePickleError(f"numpy.dtype was given {type(obj).__name__}, not a type string")
    return np.dtype(obj, align, copy)


def _numpy_scalar(dtype: Any, data: Any = None) -> Any:
    """``numpy.core.multiarray.scalar`` for numeric dtypes (e.g. ``weight_gain`` = np.float64)."""
    if not isinstance(dtype, np.dtype) or dtype.hasobject or not isinstance(data, (bytes, bytearray)):
        raise UnsafePickleError("numpy scalar of a non-numeric dtype")
    return np.frombuffer(bytes(data), dtype=dtype, count=1)[0]


def _numpy_reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    """``numpy.core.multiarray._reconstruct`` for plain ndarrays (filled by ndarray.__setstate__)."""
    if subtype is not np.ndarray:
        raise UnsafePickleError(f"numpy array of type {subtype!r}")
    return np.ndarray.__new__(np.ndarray, shape, np.dtype(dtype))


def _numpy_frombuffer(buf: Any, dtype: Any, shape: Any, order: str) -> np.ndarray:
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise UnsafePickleError("numpy buffer of a non-numeric dtype")
    return np.frombuffer(buf, dtype=dtype).reshape(shape, order=order)


def _copyreg_reconstructor(cls: Any, base: Any, state: Any) -> Any:
    """``copyreg._reconstructor`` (protocol < 2 objects), only for placeholder classes."""
    if not (isinstance(cls, type) and issubclass(cls, Placeholder)):
        raise UnsafePickleError(f"copyreg._reconstructor of {cls!r}")
    return cls.__new__(cls)


def _codecs_encode(text: Any, encoding: str = "utf-8") -> bytes:
    """Protocol-2 pickles store bytes as ``_codecs.encode(str, 'latin1')``."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1", "utf-8", "utf8"):
        raise UnsafePickleError("_codecs.encode with unexpected arguments")
    return text.encode(encoding)


def _builtin_type(obj: Any) -> type:
    """``builtins.type`` as pickle uses it for ``type(None)`` and friends; nothing else."""
    if obj not in (None, NotImplemented, Ellipsis):
        raise UnsafePickleError("builtins.type called with an argument other than None/NotImplemented/...")
    return type(obj)


def _plain_dict(*_factory: Any) -> dict:
    """``collections.defaultdict`` (omegaconf's resolver cache): a dict; the factory is dropped."""
    return {}


_NUMPY = ("numpy.core.multiarray", "numpy._core.multiarray", "numpy.core.numeric", "numpy._core.numeric")
_SAFE_GLOBALS: dict[tuple[str, str], Any] = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("torch.storage", "_load_from_bytes"): _load_storage,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch", "Size"): torch.Size,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("collections", "defaultdict"): _plain_dict,
    ("copyreg", "_reconstructor"): _copyreg_reconstructor,
    ("_codecs", "encode"): _codecs_encode,
    ("builtins", "type"): _builtin_type,
    ("numpy", "dtype"): _numpy_dtype,
    ("numpy", "ndarray"): np.ndarray,
    **{(m, "scalar"): _numpy_scalar for m in _NUMPY},
    **{(m, "_reconstruct"): _numpy_reconstruct for m in _NUMPY},
    **{(m, "_frombuffer"): _numpy_frombuffer for m in _NUMPY},
    # Inert builtin types: they appear as type references in omegaconf metadata (object_type=dict).
    **{("builtins", t.__name__): t for t in (dict, list, tuple, set, frozenset, object, str, int, float,
                                              bool, bytes, bytearray, complex)},
    # torch dtypes (torch.float32, ...) are values, not callables.
    **{("torch", name): getattr(torch, name) for name in dir(torch) if isinstance(getattr(torch, name), torch.dtype)},
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves globals only from :data:`_SAFE_GLOBALS` or as inert placeholders.

    Placeholder classes are made per load, so nothing one file does to them reaches the next."""

    def __init__(self, file: Any) -> None:
        super().__init__(file)
        self._placeholders: dict[str, type[Placeholder]] = {}

    def _placeholder_class(self, module: str, name: str) -> type[Placeholder]:
        key = f"{module}.{name}"
        if key not in self._placeholders:
            self._placeholders[key] = type(name, (Placeholder,), {"pickle_global": key, "__module__": __name__})
        return self._placeholders[key]

    def find_class(self, module: str, name: str) -> Any:
        safe = _SAFE_GLOBALS.get((module, name))
        if safe is not None:
            return safe
        if (any(module == m or module.startswith(m + ".") for m in _PLACEHOLDER_MODULES)
                and name[:1].isupper() and name.isidentifier()):
            return self._placeholder_class(module, name)
        raise UnsafePickleError(
            f"refusing to unpickle: the file references {module}.{name}, which is neither a tensor, a "
            "container nor a known configuration class of an official DIGAN snapshot (nothing was run)")

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError("the pickle uses persistent ids; official snapshots do not")


def load_snapshot(path: str | Path) -> dict[str, Any]:
    """The snapshot's top-level dict with persistent objects and placeholders, no code executed."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError("no such file")
    with path.open("rb") as f:
        try:
            data = RestrictedUnpickler(f).load()
        except (UnsafePickleError, OfficialSnapshotError):
            raise
        except Exception as e:  # truncated, corrupt or not a pickle: whatever the unpickler tripped on
            raise OfficialSnapshotError(f"not a readable pickle ({type(e).__name__}: {e})") from e
    if not isinstance(data, dict) or not all(k in data for k in NETWORKS):
        keys = sorted(map(str, data)) if isinstance(data, dict) else type(data).__name__
        raise OfficialSnapshotError("not an official DIGAN snapshot: expected a dict with G, D and "
                                    f"G_ema (src/training/training_loop.py), got {keys}")
    return data


# ---------------------------------------------------------------------------------- module trees
@dataclass
class Module:
    """One official module's plain state: class name, parameters, buffers, submodules, attributes."""

    class_name: str
    params: dict[str, Tensor]
    buffers: dict[str, Tensor]
    children: dict[str, Module]
    attrs: dict[str, Any] = field(default_factory=dict)

    def child(self, name: str, where: str) -> Module:
        if name not in self.children:
            raise OfficialSnapshotError(f"{where}: {self.class_name} has no submodule {name!r} (has "
                                        f"{sorted(self.children)}); not a DIGAN network")
        return self.children[name]

    def attr(self, name: str, default: Any = None) -> Any:
        return self.attrs.get(name, default)


def _object_state(obj: Any) -> tuple[str, dict[str, Any]] | None:
    """(class name, __dict__) of a persistent object or a placeholder torch.nn container."""
    if isinstance(obj, PersistentObject):
        return obj.class_name, obj.state
    if isinstance(obj, Placeholder):
        state = obj.state[0] if isinstance(obj.state, tuple) and obj.state else obj.state
        if isinstance(state, dict) and "_modules" in state:
            return obj.pickle_global.rsplit(".", 1)[-1], state
    return None


def as_module(obj: Any, where: str) -> Module:
    """Rebuild the module tree from plain state (``_parameters``, ``_buffers``, ``_modules``)."""
    found = _object_state(obj)
    if found is None:
        raise OfficialSnapshotError(f"{where} is {type(obj).__name__}, not a pickled torch module")
    name, state = found

    def tensors(key: str) -> dict[str, Tensor]:
        items = state.get(key) or {}
        if not isinstance(items, dict):
            raise OfficialSnapshotError(f"{where}.{key} is not a mapping")
        out = {}
        for k, v in items.items():
            if v is None:
                continue
            if not isinstance(v, Tensor):
                raise OfficialSnapshotError(f"{where}.{k} is {type(v).__name__}, not a tensor")
            out[k] = v
        return out

    children = {k: as_module(v, f"{where}.{k}") for k, v in (state.get("_modules") or {}).items() if v is not None}
    attrs = {k: v for k, v in state.items() if not k.startswith("_") or k in ("_init_kwargs",)}
    return Module(name, tensors("_parameters"), tensors("_buffers"), children, attrs)


def walk(module: Module, prefix: str = "") -> Iterator[tuple[str, Module]]:
    yield prefix, module
    for name, child in module.children.items():
        yield from walk(child, f"{prefix}{name}.")


def flat_tensors(module: Module) -> dict[str, Tensor]:
    """``{dotted_name: tensor}`` of parameters and buffers, as ``state_dict`` would name them."""
    out = {}
    for prefix, m in walk(module):
        for k, v in {**m.params, **m.buffers}.items():
            out[prefix + k] = v
    return out


# ------------------------------------------------------------------------------- name mapping
_FC = r"(weight|bias)"


def generator_name(name: str) -> str | None:
    """Our generator's name for an official one; None: dropped; KeyError: no counterpart here.

    synthesis.bR → blocks.log2(R)−2; conv0, conv1, extra_convs.j → layers.0, 1, 2+j (b4 has only
    conv1 → layers.0, src/training/networks.py SynthesisBlock); coord_fuser (b4: input.input.coord_fuser,
    src/training/layers.py CoordsInput) {xyaffine, affine, motion_mlp.0, motion_mlp.1} →
    embedding.{spatial_affine, motion_affine, motion_mlp.fc1, motion_mlp.fc2}.
    """
    if name == "mapping.w_avg" or name.endswith("resample_filter"):
        return None  # truncation average (ψ = 1 here) and fixed [1,3,3,1] filters
    if m := re.fullmatch(rf"mapping\.embed\.{_FC}", name):
        return name
    if m := re.fullmatch(rf"mapping\.fc(\d+)\.{_FC}", name):
        return f"mapping.layers.{m[1]}.{m[2]}"
    m = re.fullmatch(r"synthesis\.b(\d+)\.(.+)", name)
    if m is None:
        raise KeyError(name)
    res, rest = int(m[1]), m[2]
    block = f"blocks.{int(math.log2(res)) - 2}"
    first = 0 if res == 4 else 1  # b4 has only conv1 (src/training/networks.py SynthesisBlock)
    if r := re.fullmatch(rf"conv0\.(affine\.{_FC}|{_FC})", rest):
        if res > 4:
            return f"{block}.layers.0.{r[1]}"
    if r := re.fullmatch(rf"conv1\.(affine\.{_FC}|{_FC})", rest):
        return f"{block}.layers.{first}.{r[1]}"
    if r := re.fullmatch(rf"extra_convs\.(\d+)\.(affine\.{_FC}|{_FC})", rest):
        return f"{block}.layers.{first + 1 + int(r[1])}.{r[2]}"
    if r := re.fullmatch(rf"torgb\.(affine\.{_FC}|{_FC})", rest):
        return f"{block}.torgb.{r[1]}"
    fuser = {"xyaffine": "spatial_affine", "affine": "motion_affine", "motion_mlp.0": "motion_mlp.fc1",
             "motion_mlp.1": "motion_mlp.fc2"}
    prefix = "input.input.coord_fuser" if res == 4 else "coord_fuser"
    if r := re.fullmatch(rf"{re.escape(prefix)}\.(xyaffine|affine|motion_mlp\.[01])\.{_FC}", rest):
        return f"{block}.embedding.{fuser[r[1]]}.{r[2]}"
    raise KeyError(name)


def discriminator_name(name: str, resolution: int) -> str | None:
    """Our name for an official OurDiscriminator tensor; None: dropped; KeyError: no counterpart.

    videoD → motion, imageD → image; bR.fromrgb → fromrgb; bR…b8 → blocks.0…; b4 → epilogue;
    mapping.{embed, fcK} → {embed, cmap_mapping.K} (src/training/networks.py ImageDiscriminator).
    """
    m = re.fullmatch(r"(videoD|imageD)\.(.+)", name)
    if m is None:
        raise KeyError(name)
    which, rest = {"videoD": "motion", "imageD": "image"}[m[1]], m[2]
    if rest.endswith("resample_filter") or rest == "mapping.w_avg":
        return None
    if r := re.fullmatch(rf"b{resolution}\.fromrgb\.{_FC}", rest):
        return f"{which}.fromrgb.{r[1]}"
    if r := re.fullmatch(rf"b(\d+)\.(conv0|conv1|skip)\.{_FC}", rest):
        res = int(r[1])
        if res > 4 and res <= resolution:
            return f"{which}.blocks.{int(math.log2(resolution)) - int(math.log2(res))}.{r[2]}.{r[3]}"
    if r := re.fullmatch(rf"b4\.(conv|fc|out)\.{_FC}", rest):
        return f"{which}.epilogue.{r[1]}.{r[2]}"
    if r := re.fullmatch(rf"mapping\.embed\.{_FC}", rest):
        return f"{which}.embed.{r[1]}"
    if r := re.fullmatch(rf"mapping\.fc(\d+)\.{_FC}", rest):
        return f"{which}.cmap_mapping.{r[1]}.{r[2]}"
    raise KeyError(name)


def rename(official: dict[str, Tensor], mapper: Callable[[str], str | None], target: dict[str, Tensor],
           what: str) -> dict[str, Tensor]:
    """Official tensors under our names and shapes (1×1 conv weights squeezed); strict both ways."""
    out, unknown = {}, []
    for name, value in official.items():
        try:
            ours = mapper(name)
        except KeyError:
            ours = ""
        if ours is None:
            continue
        if ours not in target:
            unknown.append(name)
            continue
        want = target[ours].shape
        if value.shape != want:
            if value.numel() == math.prod(want) and value.dim() == len(want) + 2 and value.shape[2:] == (1, 1):
                value = value.reshape(want)  # 1×1 FMM / toRGB weights [o, i, 1, 1] → [o, i]
            else:
                raise OfficialSnapshotError(f"{what}: {name} has shape {list(value.shape)}, but {ours} here "
                                            f"has {list(want)}")
        out[ours] = value.detach().to(target[ours].dtype).clone()
    if unknown:
        raise OfficialSnapshotError(f"{what}: official tensors with no counterpart in this project's model: "
                                    f"{', '.join(sorted(unknown)[:8])}{' ...' if len(unknown) > 8 else ''}")
    missing = sorted(set(target) - set(out))
    if missing:
        raise OfficialSnapshotError(f"{what}: the snapshot lacks {', '.join(missing[:8])}"
                                    f"{' ...' if len(missing) > 8 else ''}")
    return out


# ---------------------------------------------------------------------------- config inference
def _expect_class(module: Module, names: tuple[str, ...], where: str) -> None:
    if module.class_name not in names:
        raise OfficialSnapshotError(f"{where} is a {module.class_name}, expected {' or '.join(names)}: "
                                    "not an official DIGAN snapshot")


def _int_attr(module: Module, name: str, where: str) -> int:
    value = module.attr(name)
    if value is None or isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise OfficialSnapshotError(f"{where}.{name} is missing or not an integer ({value!r})")
    return int(value)


def infer_channels(channels: dict[int, int], recorded: Any, what: str) -> tuple[int, int]:
    """(channel_base, channel_max) with min(base // r, max) == channels[r] at every resolution.

    The recorded ``channel_base`` (init kwargs) is kept when it reproduces the shapes; otherwise the
    smallest base that does (equivalent for this network) is chosen."""
    cmax = max(channels.values())
    lower = max((c * r if c < cmax else cmax * r) for r, c in channels.items())
    candidates = ([int(recorded)] if isinstance(recorded, (int, np.integer)) else []) + [lower]
    for base in candidates:
        if all(min(base // r, cmax) == c for r, c in channels.items()):
            return base, cmax
    raise OfficialSnapshotError(f"{what}: channel counts {dict(sorted(channels.items()))} do not follow "
                                "min(channel_base // resolution, channel_max), which this project needs")


def _coord_fuser(block: Module, res: int) -> Module | None:
    if res == 4:
        where = "synthesis.b4.input.input"
        gen_input = block.child("input", "synthesis.b4").child("input", where)
        return gen_input.child("coord_fuser", where)
    return block.children.get("coord_fuser")


def _same(values: dict[int, Any], what: str) -> Any:
    distinct = set(values.values())
    if len(distinct) != 1:
        raise OfficialSnapshotError(f"{what} differs between resolutions ({values}); this project uses one value")
    return distinct.pop()


def _check_generator_cfg(cfg: Any) -> None:
    """Options of configs/digan.yml that shapes do not show; refuse the ones we cannot represent."""
    if not isinstance(cfg, dict):
        return
    checks = [(("upsampling_mode",), "nearest"), (("use_noise",), False), (("fmm", "enabled"), True),
              (("fmm", "activation"), "demod"), (("coords", "enabled"), True), (("coords", "fallback"), False),
              (("coords", "coord_dim"), 2), (("coords", "kernel_size"), 1), (("coords", "per_resolution"), True),
              (("input", "type"), "coords"), (("fmm", "instance_norm"), False)]
    for keys, expected in checks:
        node: Any = cfg
        for k in keys:
            node = node.get(k, expected) if isinstance(node, dict) else expected
        if node != expected:
            raise OfficialSnapshotError(f"generator cfg {'.'.join(keys)} = {node!r}; only {expected!r} "
                                        "(configs/digan.yml) can be represented here")


def _synthesis_blocks(G: Module, resolution: int) -> dict[int, Module]:
    synthesis = G.child("synthesis", "G")
    _expect_class(synthesis, ("SynthesisNetwork",), "G.synthesis")
    blocks = {r: synthesis.child(f"b{r}", "G.synthesis") for r in (2 ** i for i in range(2, resolution.bit_length()))}
    for r, b in blocks.items():
        _expect_class(b, ("SynthesisBlock",), f"G.synthesis.b{r}")
    return blocks


def _check_synthesis_layers(blocks: dict[int, Module]) -> list[str]:
    """Refuse noise inputs and instance norm; note an activation clamp (src/training/networks.py)."""
    notes = []
    for r, b in blocks.items():
        for prefix, m in walk(b):
            if "noise_strength" in m.params or "noise_const" in m.buffers:
                raise OfficialSnapshotError(f"G.synthesis.b{r}.{prefix}: per-pixel noise (use_noise) is not supported")
            if m.class_name == "SynthesisLayer" and m.attr("instance_norm"):
                raise OfficialSnapshotError(f"G.synthesis.b{r}.{prefix}: instance_norm is not supported")
            if m.class_name == "SynthesisLayer" and m.attr("conv_clamp") is not None:
                notes.append(f"official G clamps activations at ±{m.attr('conv_clamp')} (conv_clamp); ours does not")
    return notes


def _input_resolution(blocks: dict[int, Module], fusers: dict[int, Module | None]) -> int:
    """Blocks up to the input resolution share b4's embedding; each level above has its own."""
    levels = sorted(blocks)
    input_resolution = max([4] + [r for r in levels if r > 4 and fusers[r] is None])
    if any(fusers[r] is None for r in levels if r > input_resolution) or any(
            fusers[r] is not None for r in levels if 4 < r <= input_resolution):
        raise OfficialSnapshotError("G: coordinate embeddings are not exactly at b4 and every level above the "
                                    "input resolution (coords.per_resolution layout of configs/digan.yml)")
    recorded = blocks[4].attr("resolution")  # SynthesisBlock: resolution = max(4, cfg.input.resolution)
    if recorded is not None and int(recorded) != input_resolution:
        raise OfficialSnapshotError(f"G: input resolution {recorded} recorded, {input_resolution} from the layout")
    return input_resolution


def _embedding_settings(fusers: dict[int, Module]) -> tuple[int, float, float, int]:
    """(embedding size, σxy, σt, motion affine input) shared by every CoordFuser (src/training/layers.py)."""
    for r, f in fusers.items():
        _expect_class(f, ("CoordFuser",), f"G.synthesis.b{r} coord_fuser")
        for key, ok in (("log_emb_size", 0), ("random_emb_size", 0), ("shared_emb_size", 0), ("const_emb_size", 0),
                        ("use_cosine", True), ("use_raw_coords", False)):
            if f.attr(key, ok) != ok:
                raise OfficialSnapshotError(f"G b{r} CoordFuser.{key} = {f.attr(key)!r}; only {ok!r} is supported")
        for key in ("predictable_emb_size", "fourier_scale", "motion_sigma"):
            if f.attr(key) is None:
                raise OfficialSnapshotError(f"G b{r} CoordFuser has no {key}: not a DIGAN coordinate embedding")
    size = _same({r: int(f.attr("predictable_emb_size")) for r, f in fusers.items()}, "predictable_emb_size")
    sigma_xy = _same({r: float(f.attr("fourier_scale")) for r, f in fusers.items()}, "fourier_scale")
    sigma_t = _same({r: float(f.attr("motion_sigma")) for r, f in fusers.items()}, "motion_sigma")
    motion_in = _same({r: int(f.child("affine", "CoordFuser").params["weight"].shape[1]) for r, f in fusers.items()},
                      "motion affine input size")
    return size, sigma_xy, sigma_t, motion_in


def _extra_conv_from(blocks: dict[int, Module], resolution: int) -> int:
    """Lowest level with an extra FMM layer; every level above must have exactly one too."""
    levels = sorted(blocks)
    extras = {r: len(b.children["extra_convs"].children) if "extra_convs" in b.children else 0
              for r, b in blocks.items()}
    with_extra = [r for r in levels if extras[r]]
    if any(n > 1 for n in extras.values()) or (with_extra and with_extra != levels[levels.index(with_extra[0]):]):
        raise OfficialSnapshotError(f"G: extra convolutions {extras} are not one per block from some resolution up")
    return with_extra[0] if with_extra else 2 * resolution


def _fmm_rank(blocks: dict[int, Module]) -> int:
    """FMM rank from the style affine: (in + out) · rank outputs (src/training/networks.py SynthesisLayer)."""
    ranks = set()
    for b in blocks.values():
        for prefix, m in walk(b):
            if m.class_name == "SynthesisLayer":
                o, i = m.params["weight"].shape[:2]
                ranks.add(m.child("affine", prefix).params["weight"].shape[0] / (o + i))
    if len(ranks) != 1 or not float(next(iter(ranks))).is_integer():
        raise OfficialSnapshotError(f"G: FMM ranks {sorted(ranks)} are not one integer")
    return int(ranks.pop())


def infer_generator_config(G: Module) -> tuple[GeneratorConfig, list[str]]:
    """GeneratorConfig of an official G, plus notes on behaviour that differs numerically."""
    _expect_class(G, ("Generator",), "G")
    init = G.attr("_init_kwargs") if isinstance(G.attr("_init_kwargs"), dict) else {}
    synthesis_kwargs = init.get("synthesis_kwargs") or {}
    _check_generator_cfg(init.get("cfg"))
    if G.attr("ours") is False:
        raise OfficialSnapshotError("G was built with ours=False: an INR-GAN image generator, not DIGAN")
    resolution = _int_attr(G, "img_resolution", "G")
    if resolution < 8 or resolution & (resolution - 1):
        raise OfficialSnapshotError(f"G.img_resolution {resolution} is not a power of two >= 8")
    if _int_attr(G, "img_channels", "G") != 3:
        raise OfficialSnapshotError("G.img_channels is not 3 (RGB)")
    z_dim, w_dim, c_dim = (_int_attr(G, k, "G") for k in ("z_dim", "w_dim", "c_dim"))
    mapping_layers = sum(1 for k in G.child("mapping", "G").children if re.fullmatch(r"fc\d+", k))
    blocks = _synthesis_blocks(G, resolution)
    notes = _check_synthesis_layers(blocks)
    if synthesis_kwargs.get("num_fp16_res", 0):
        notes.append("official G ran its highest resolutions in float16; ours runs float32")
    channels = {r: int(b.child("conv1", f"G.synthesis.b{r}").params["weight"].shape[0]) for r, b in blocks.items()}
    base, cmax = infer_channels(channels, synthesis_kwargs.get("channel_base"), "G")
    fusers = {r: _coord_fuser(b, r) for r, b in blocks.items()}
    input_resolution = _input_resolution(blocks, fusers)
    size, sigma_xy, sigma_t, motion_in = _embedding_settings({r: f for r, f in fusers.items() if f is not None})
    cfg = GeneratorConfig(
        resolution=resolution, z_dim=z_dim, w_dim=w_dim, motion_z_dim=motion_in - w_dim,  # affine of [w, z_M]
        mapping_layers=mapping_layers, channel_base=base, channel_max=cmax, fmm_rank=_fmm_rank(blocks),
        input_resolution=input_resolution, embedding_size=size, sigma_xy=sigma_xy, sigma_t=sigma_t,
        extra_conv_from=_extra_conv_from(blocks, resolution), num_classes=c_dim)
    return cfg, sorted(set(notes))


def _image_discriminator_settings(D: Module, name: str, in_channels: int, resolution: int,
                                  num_classes: int) -> tuple[tuple[int, ...], list[str]]:
    """(channel_base, channel_max, mbstd group, mbstd channels, mapping layers) of one official
    ImageDiscriminator (src/training/networks.py), plus notes."""
    where = f"D.{name}"
    sub = D.child(name, "D")
    _expect_class(sub, ("ImageDiscriminator",), where)
    if _int_attr(sub, "img_resolution", where) != resolution:
        raise OfficialSnapshotError(f"{where} is {sub.attr('img_resolution')}², G is {resolution}²")
    if _int_attr(sub, "img_channels", where) != in_channels or _int_attr(sub, "c_dim", where) != num_classes:
        raise OfficialSnapshotError(f"{where}: expected {in_channels} input channels and c_dim {num_classes}")
    blocks = {r: sub.child(f"b{r}", where) for r in (2 ** i for i in range(resolution.bit_length() - 1, 2, -1))}
    for r, b in blocks.items():
        if b.attr("architecture", "resnet") != "resnet":
            raise OfficialSnapshotError(f"{where}.b{r}: architecture {b.attr('architecture')!r}; only resnet")
    epilogue = sub.child("b4", where)
    channels = {r: int(b.child("conv0", f"{where}.b{r}").params["weight"].shape[0]) for r, b in blocks.items()}
    channels[4] = int(epilogue.child("conv", f"{where}.b4").params["weight"].shape[0])
    init = sub.attr("_init_kwargs") if isinstance(sub.attr("_init_kwargs"), dict) else {}
    base, cmax = infer_channels(channels, init.get("channel_base"), where)
    mbstd = epilogue.children.get("mbstd")
    group = _int_attr(mbstd, "group_size", f"{where}.b4.mbstd") if mbstd is not None else 4
    mb_channels = _int_attr(mbstd, "num_channels", f"{where}.b4.mbstd") if mbstd is not None else 0
    mapping_layers = 8
    if num_classes:
        mapping_layers = sum(1 for k in sub.child("mapping", where).children if re.fullmatch(r"fc\d+", k))
    notes = [f"official D clamps activations at ±{m.attr('conv_clamp')} (conv_clamp); ours does not (inactive "
             "while |activations| stay below it)"
             for _, m in walk(sub) if m.class_name == "Conv2dLayer" and m.attr("conv_clamp") is not None]
    if init.get("num_fp16_res", 0):
        notes.append("official D ran its highest resolutions in float16 during training; ours runs float32")
    return (base, cmax, group, mb_channels, mapping_layers), notes


def infer_discriminator_config(D: Module, resolution: int, num_classes: int) -> tuple[DiscriminatorConfig, list[str]]:
    """DiscriminatorConfig shared by the official videoD (7 ch) and imageD (3 ch)."""
    _expect_class(D, ("OurDiscriminator",), "D")
    video, notes = _image_discriminator_settings(D, "videoD", 7, resolution, num_classes)
    image, image_notes = _image_discriminator_settings(D, "imageD", 3, resolution, num_classes)
    if video != image:
        raise OfficialSnapshotError(f"videoD and imageD differ in (channel_base, channel_max, mbstd group, mbstd "
                                    f"channels, mapping layers): {video} vs {image}; here they share one config")
    base, cmax, group, mb_channels, mapping_layers = video
    cfg = DiscriminatorConfig(channel_base=base, channel_max=cmax, mbstd_group=group, mbstd_channels=mb_channels,
                              mapping_layers=mapping_layers)
    return cfg, sorted(set(notes + image_notes))


def check_hyperparameters(official: Module, ours: nn.Module, mapper: Callable[[str], str | None], what: str) -> None:
    """Gains, lr multipliers and activations recorded on official layers equal ours.

    They are invisible in shapes (e.g. the mapping's lr multiplier 0.01 lives in weight_gain)."""
    modules = dict(ours.named_modules())
    for prefix, m in walk(official):
        if "weight" not in m.params:
            continue
        try:
            name = mapper(prefix + "weight")
        except KeyError:
            continue
        if name is None:
            continue
        target = modules.get(name[: -len(".weight")])
        for key in ("weight_gain", "bias_gain"):
            theirs, mine = m.attr(key), getattr(target, key, None)
            if theirs is not None and mine is not None and not math.isclose(float(theirs), float(mine), rel_tol=1e-6):
                raise OfficialSnapshotError(f"{what}.{prefix}{key} = {float(theirs):.6g}, ours {float(mine):.6g}")
        act = m.attr("activation")
        if isinstance(act, str) and hasattr(target, "activation") and isinstance(target.activation, bool):
            if act not in ("lrelu", "linear") or (act == "lrelu") != target.activation:
                raise OfficialSnapshotError(f"{what}.{prefix}activation is {act!r}, ours "
                                            f"{'lrelu' if target.activation else 'linear'}")
        if m.class_name == "SynthesisLayer" and m.attr("activation", "lrelu") != "lrelu":
            raise OfficialSnapshotError(f"{what}.{prefix}activation is {m.attr('activation')!r}, ours lrelu")


# ------------------------------------------------------------------------------------- import
def _plain(value: Any) -> Any:
    """JSON-like copy of recorded kwargs (loadable with weights_only); other objects as their repr."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


def snapshot_kimg(path: Path) -> int | None:
    """kimg in the official file name ``network-snapshot-<kimg:06d>.pkl`` (training_loop.py)."""
    m = re.fullmatch(r"network-snapshot-(\d+)\.pkl", path.name)
    return int(m[1]) if m else None


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 24), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class ImportResult:
    checkpoint: dict[str, Any]
    notes: list[str]


def convert_snapshot(path: str | Path) -> ImportResult:
    """Read an official snapshot safely and return a checkpoint dict of this project."""
    path = Path(path)
    data = load_snapshot(path)
    trees = {k: as_module(data[k], k) for k in NETWORKS}
    gcfg, notes = infer_generator_config(trees["G_ema"])
    g_raw, _ = infer_generator_config(trees["G"])
    if g_raw != gcfg:
        raise OfficialSnapshotError(f"G and G_ema have different configurations: {g_raw} vs {gcfg}")
    dcfg, dnotes = infer_discriminator_config(trees["D"], gcfg.resolution, gcfg.num_classes)
    kwargs = data.get("training_set_kwargs")
    cfg = Config(generator=gcfg, discriminator=dcfg)
    if isinstance(kwargs, dict) and isinstance(kwargs.get("xflip"), bool):
        cfg.data.xflip = kwargs["xflip"]
    try:
        cfg = config_from_dict(cfg.to_dict())
    except ConfigError as e:
        raise OfficialSnapshotError(f"the inferred configuration is not valid here: {e}") from e

    out: dict[str, Any] = {}
    for key in NETWORKS:
        if key == "D":
            model: nn.Module = VideoDiscriminators(cfg.discriminator, gcfg.resolution, gcfg.num_classes)
            mapper: Callable[[str], str | None] = functools.partial(discriminator_name, resolution=gcfg.resolution)
        else:
            model, mapper = Generator(cfg.generator), generator_name
        state = rename(flat_tensors(trees[key]), mapper, model.state_dict(), key)
        model.load_state_dict(state, strict=True)
        check_hyperparameters(trees[key], model, mapper, key)
        out[key] = model.state_dict()
    kimg = snapshot_kimg(path)
    checkpoint = {
        "config": cfg.to_dict(),
        # Optimizer steps of train.batch_size (64) videos: the official batch at 128² on 4 or 8 GPUs
        # (src/train.py, cfg 'auto': spec.mb = 64); the file name gives kimg = videos seen / 1000.
        "step": (kimg * 1000) // cfg.train.batch_size if kimg is not None else 0,
        **out,
        "source": {"official_snapshot": path.name, "sha256": sha256_of(path), "kimg": kimg,
                   "training_set_kwargs": _plain(kwargs) if isinstance(kwargs, dict) else None,
                   "notes": sorted(set(notes + dnotes))},
    }
    return ImportResult(checkpoint, sorted(set(notes + dnotes)))


def import_snapshot(path: str | Path, out: str | Path) -> ImportResult:
    """Convert and write the checkpoint atomically (digan.training.checkpoint.save_atomic)."""
    result = convert_snapshot(path)
    save_atomic(result.checkpoint, out)
    return result


def describe(result: ImportResult, out: str | Path) -> str:
    c = result.checkpoint
    g, d, src = c["config"]["generator"], c["config"]["discriminator"], c["source"]
    count = lambda k: sum(v.numel() for v in c[k].values())  # noqa: E731
    lines = [
        f"imported {src['official_snapshot']} (sha256 {src['sha256'][:16]}…, kimg {src['kimg']}) → {out}",
        f"  generator: {g['resolution']}², z {g['z_dim']}, w {g['w_dim']}, z_M {g['motion_z_dim']}, "
        f"{g['mapping_layers']} mapping layers, channels base {g['channel_base']} max {g['channel_max']}, "
        f"FMM rank {g['fmm_rank']}, input {g['input_resolution']}², embedding {g['embedding_size']}, "
        f"σxy {g['sigma_xy']:.6g}, σt {g['sigma_t']:.6g}, extra convs from {g['extra_conv_from']}, "
        f"classes {g['num_classes']} ({count('G_ema'):,} parameters; G and G_ema)",
        f"  discriminators: image + motion, channels base {d['channel_base']} max {d['channel_max']}, "
        f"mbstd group {d['mbstd_group']} × {d['mbstd_channels']} ({count('D'):,} parameters)",
        f"  step {c['step']} (kimg × 1000 / batch {c['config']['train']['batch_size']})",
    ]
    lines += [f"  note: {n}" for n in result.notes]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m digan.official", description=__doc__.split("\n\n")[0],
                                epilog="The pickle is read without executing any code it contains.")
    p.add_argument("snapshot", type=Path, help="official network-snapshot-*.pkl")
    p.add_argument("--out", type=Path, required=True, help="checkpoint to write (e.g. runs/official/checkpoint.pt)")
    args = p.parse_args(argv)
    try:
        result = import_snapshot(args.snapshot, args.out)
    except (OfficialSnapshotError, UnsafePickleError, FileNotFoundError) as e:
        print(f"error: {args.snapshot}: {e}", file=sys.stderr)
        return 2
    print(describe(result, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
