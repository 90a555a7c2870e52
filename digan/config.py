"""Typed configuration for models and training.

One schema for every entry point: a YAML file plus ``section.key=value`` overrides is parsed into
nested dataclasses, and unknown keys, wrong types and impossible values fail with one message that
names the key before any work starts.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from digan.schema import ConfigError  # one error type for every configuration, pydantic-checked or not


@dataclass
class GeneratorConfig:
    """INR-GAN generator with DIGAN's motion branch (paper §3.2, Appendix A.1)."""

    resolution: int = 128
    z_dim: int = 512  # content latent z_I
    w_dim: int = 512
    motion_z_dim: int = 512  # motion latent z_M
    mapping_layers: int = 2
    channel_base: int = 32768
    channel_max: int = 512
    fmm_rank: int = 10
    input_resolution: int = 32  # blocks up to this size run at this size (official code)
    embedding_size: int = 128  # Fourier features per resolution before sin/cos
    sigma_xy: float = math.sqrt(10.0)
    sigma_t: float = 0.25
    extra_conv_from: int = 128  # one extra FMM layer in blocks at >= this resolution
    motion_latent: bool = True  # Table 5: z_M on/off
    motion_mlp: bool = True  # Table 5: f_M on/off
    motion_mlp_bias: bool = True  # f_M biases as the official code; false: the paper's "no bias" (linear in t)
    content_latent: bool = True  # Table 7: motion generator conditioned on z_I
    num_classes: int = 0  # Table 8: class-conditional when > 0
    motion: bool = True  # False: INR-GAN image generator (Table 6 baseline), trained with the image D only


@dataclass
class DiscriminatorConfig:
    """StyleGAN2 residual discriminator, used for both the image (3 ch) and motion (7 ch) D."""

    channel_base: int = 32768
    channel_max: int = 512
    mbstd_group: int = 4
    mbstd_channels: int = 1
    # Class-label mapping of the conditional D: StyleGAN2's MappingNetwork default of 8 layers, which
    # the official D keeps (its mapping_kwargs are empty, src/training/networks.py ImageDiscriminator).
    mapping_layers: int = 8


@dataclass
class DataConfig:
    path: str = "data/synthetic/clips"  # a clip store directory (digan.data.clip_store)
    split: str = "train"  # manifest split to train on; "all" uses every clip
    xflip: bool = True
    synthetic: bool = False  # build the embedded synthetic dataset at ``path`` if it is missing
    synthetic_seed: int = 0
    synthetic_videos_per_class: int = 16


@dataclass
class TrainConfig:
    """Optimisation as in the official configuration (StyleGAN2-ADA 'auto', Appendix A.1)."""

    batch_size: int = 64
    steps: int = 390625  # 25,000 kimg at batch 64
    lr: float = 0.0025
    betas: tuple[float, float] = (0.0, 0.99)
    r1_gamma: float = 1.0
    d_reg_interval: int = 16
    g_reg_interval: int = 4  # only scales G's Adam as StyleGAN2-ADA does; no path-length term
    ema_kimg: float = 20.0
    ema_rampup: float = 0.05
    diffaug: str = "color,translation"
    delta_t_rule: str = "abs"  # "abs" as the official code, "ordered" as the paper's Δt histogram
    seed: int = 0
    checkpoint_every: int = 500
    sample_every: int = 500
    snapshot_every: int = 0  # > 0: keep the EMA generator every this many steps (FVD over iterations)
    log_every: int = 10
    num_threads: int = 0  # 0: leave torch's default


@dataclass
class Config:
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    origin = typing.get_origin(annotation)
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true/false, got {value!r}")
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if annotation is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    if origin is tuple:
        args = typing.get_args(annotation)
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise ConfigError(f"{key}: expected a list of {len(args)} values, got {value!r}")
        return tuple(_coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    raise ConfigError(f"{key}: unsupported type {annotation}")  # pragma: no cover - schema bug


def _build(cls: type, data: dict[str, Any], prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"unknown key {prefix}{unknown[0]} (known: {', '.join(sorted(names))})")
    kwargs = {}
    for name, value in data.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            kwargs[name] = _build(hint, value, f"{prefix}{name}.")
        else:
            kwargs[name] = _coerce(value, hint, f"{prefix}{name}")
    return cls(**kwargs)


def _check(cond: bool, key: str, why: str) -> None:
    if not cond:
        raise ConfigError(f"{key}: {why}")


def validate(cfg: Config) -> Config:
    """Reject impossible values with a message naming the key."""
    g, d, t = cfg.generator, cfg.discriminator, cfg.train
    _check(g.resolution >= 8 and g.resolution & (g.resolution - 1) == 0, "generator.resolution",
           f"must be a power of two >= 8, got {g.resolution}")
    _check(g.input_resolution >= 4 and g.input_resolution & (g.input_resolution - 1) == 0,
           "generator.input_resolution", f"must be a power of two >= 4, got {g.input_resolution}")
    _check(g.input_resolution <= g.resolution, "generator.input_resolution",
           f"must not exceed generator.resolution ({g.resolution})")
    for key in ("z_dim", "w_dim", "motion_z_dim", "mapping_layers", "channel_base", "channel_max",
                "fmm_rank", "embedding_size"):
        _check(getattr(g, key) > 0, f"generator.{key}", "must be positive")
    _check(g.sigma_xy > 0, "generator.sigma_xy", "must be positive")
    _check(g.sigma_t > 0, "generator.sigma_t", "must be positive (paper: 0.25; 0.5 for 128 frames)")
    _check(not g.motion or g.motion_latent or g.content_latent, "generator.motion_latent",
           "motion_latent and content_latent cannot both be off: the motion generator needs an input")
    _check(g.num_classes >= 0, "generator.num_classes", "must be >= 0")
    _check(d.mbstd_group >= 1, "discriminator.mbstd_group", "must be >= 1")
    _check(d.mapping_layers >= 1, "discriminator.mapping_layers", "must be >= 1")
    _check(d.channel_base > 0 and d.channel_max > 0, "discriminator.channel_base", "must be positive")
    _check(t.batch_size >= 1, "train.batch_size", "must be >= 1")
    _check(t.batch_size % d.mbstd_group == 0 or t.batch_size < d.mbstd_group, "train.batch_size",
           f"must be a multiple of discriminator.mbstd_group ({d.mbstd_group})")
    _check(t.steps >= 0, "train.steps", "must be >= 0")
    _check(t.lr > 0, "train.lr", "must be positive")
    _check(all(0 <= b < 1 for b in t.betas), "train.betas", "must lie in [0, 1)")
    _check(t.r1_gamma >= 0, "train.r1_gamma", "must be >= 0")
    _check(t.d_reg_interval >= 1 and t.g_reg_interval >= 1, "train.d_reg_interval", "must be >= 1")
    _check(t.ema_kimg >= 0 and t.ema_rampup >= 0, "train.ema_kimg", "must be >= 0")
    allowed = {"color", "translation"}
    policy = [p for p in t.diffaug.split(",") if p]
    _check(set(policy) <= allowed, "train.diffaug",
           f"unknown augmentation {sorted(set(policy) - allowed)}; DIGAN uses color,translation (no cutout)")
    _check(t.delta_t_rule in ("abs", "ordered"), "train.delta_t_rule",
           f"must be 'abs' (official code) or 'ordered' (paper's histogram), got {t.delta_t_rule!r}")
    _check(cfg.data.synthetic_videos_per_class >= 1, "data.synthetic_videos_per_class", "must be >= 1")
    for key in ("checkpoint_every", "sample_every", "log_every"):
        _check(getattr(t, key) >= 1, f"train.{key}", "must be >= 1")
    _check(t.num_threads >= 0, "train.num_threads", "must be >= 0")
    _check(t.snapshot_every >= 0, "train.snapshot_every", "must be >= 0 (0: no snapshots)")
    return cfg


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``a.b=value``; the value is read as YAML so numbers, booleans and lists work."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like section.key=value")
    key, raw = text.split("=", 1)
    return key.strip().split("."), yaml.safe_load(raw)


def set_nested(data: dict[str, Any], keys: list[str], value: Any, what: str) -> None:
    """``data[k0][k1]... = value``, creating sections on the way; ``what`` names the setting in errors."""
    node = data
    for k in keys[:-1]:
        node = node.setdefault(k, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{what}: {k} is not a section")
    node[keys[-1]] = value


def apply_override(data: dict[str, Any], text: str) -> None:
    """Apply one ``a.b=value`` override to a nested mapping in place."""
    keys, value = parse_override(text)
    set_nested(data, keys, value, f"override {text!r}")


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read a YAML file (missing keys take the paper defaults), apply overrides, validate."""
    data = (yaml.safe_load(Path(path).read_text()) or {}) if path is not None else {}
    return config_from_dict(data, overrides)


def config_from_dict(data: dict[str, Any], overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """A validated config from a mapping (e.g. one stored in a checkpoint, where tuples come back as
    lists) plus ``a.b=value`` overrides, applied to a copy so ``data`` is left as it is."""
    if overrides:
        data = copy.deepcopy(data)
        for text in overrides:
            apply_override(data, text)
    return validate(_build(Config, data, ""))

