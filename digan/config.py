"""Typed configuration for models and training.

One schema for every entry point: a YAML file plus ``section.key=value`` overrides is parsed into
nested pydantic models (:mod:`digan.schema`: unknown keys and loose types are errors), and wrong types
and impossible values fail with one message that names the key before any work starts. Rules on one
field are declared on it; the few that relate two fields are :func:`validate`.
"""
from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, Field, field_validator

from digan.schema import ConfigError, Schema, parse

__all__ = ["Config", "ConfigError", "DataConfig", "DiscriminatorConfig", "GeneratorConfig", "TrainConfig",
           "apply_override", "config_from_dict", "load_config", "parse_override", "set_nested", "validate"]


def _power_of_two(value: int) -> int:
    if value & (value - 1):
        raise ValueError(f"must be a power of two, got {value}")
    return value


PowerOfTwo = AfterValidator(_power_of_two)
Positive = Annotated[int, Field(gt=0)]
AtLeastOne = Annotated[int, Field(ge=1)]


class GeneratorConfig(Schema):
    """INR-GAN generator with DIGAN's motion branch (paper §3.2, Appendix A.1)."""

    resolution: Annotated[int, Field(ge=8), PowerOfTwo] = 128
    z_dim: Positive = 512  # content latent z_I
    w_dim: Positive = 512
    motion_z_dim: Positive = 512  # motion latent z_M
    mapping_layers: Positive = 2
    channel_base: Positive = 32768
    channel_max: Positive = 512
    fmm_rank: Positive = 10
    # blocks up to this size run at this size (official code)
    input_resolution: Annotated[int, Field(ge=4), PowerOfTwo] = 32
    embedding_size: Positive = 128  # Fourier features per resolution before sin/cos
    sigma_xy: float = Field(math.sqrt(10.0), gt=0)
    sigma_t: float = Field(0.25, gt=0, description="paper: 0.25; 0.5 for 128 frames")
    extra_conv_from: int = 128  # one extra FMM layer in blocks at >= this resolution
    motion_latent: bool = True  # Table 5: z_M on/off
    motion_mlp: bool = True  # Table 5: f_M on/off
    motion_mlp_bias: bool = True  # f_M biases as the official code; false: the paper's "no bias" (linear in t)
    content_latent: bool = True  # Table 7: motion generator conditioned on z_I
    num_classes: int = Field(0, ge=0)  # Table 8: class-conditional when > 0
    motion: bool = True  # False: INR-GAN image generator (Table 6 baseline), trained with the image D only


class DiscriminatorConfig(Schema):
    """StyleGAN2 residual discriminator, used for both the image (3 ch) and motion (7 ch) D."""

    channel_base: Positive = 32768
    channel_max: Positive = 512
    mbstd_group: AtLeastOne = 4
    mbstd_channels: int = 1
    # Class-label mapping of the conditional D: StyleGAN2's MappingNetwork default of 8 layers, which
    # the official D keeps (its mapping_kwargs are empty, src/training/networks.py ImageDiscriminator).
    mapping_layers: AtLeastOne = 8


class DataConfig(Schema):
    path: str = "data/synthetic/clips"  # a clip store directory (digan.data.clip_store)
    split: str = "train"  # manifest split to train on; "all" uses every clip
    xflip: bool = True
    synthetic: bool = False  # build the embedded synthetic dataset at ``path`` if it is missing
    synthetic_seed: int = 0
    synthetic_videos_per_class: AtLeastOne = 16


Augmentation = Literal["color", "translation"]  # DIGAN's DiffAug policy: no cutout
Beta = Annotated[float, Field(ge=0, lt=1)]


class TrainConfig(Schema):
    """Optimisation as in the official configuration (StyleGAN2-ADA 'auto', Appendix A.1)."""

    batch_size: AtLeastOne = 64
    steps: int = Field(390625, ge=0)  # 25,000 kimg at batch 64
    lr: float = Field(0.0025, gt=0)
    betas: tuple[Beta, Beta] = (0.0, 0.99)
    r1_gamma: float = Field(1.0, ge=0)
    d_reg_interval: AtLeastOne = 16
    g_reg_interval: AtLeastOne = 4  # only scales G's Adam as StyleGAN2-ADA does; no path-length term
    ema_kimg: float = Field(20.0, ge=0)
    ema_rampup: float = Field(0.05, ge=0)
    diffaug: list[Augmentation] = ["color", "translation"]
    delta_t_rule: Literal["abs", "ordered"] = "abs"  # "abs" as the official code, "ordered" as the paper's Δt histogram
    seed: int = 0
    checkpoint_every: AtLeastOne = 500
    sample_every: AtLeastOne = 500
    snapshot_every: int = Field(0, ge=0)  # > 0: keep the EMA generator every this many steps (FVD over iterations)
    log_every: AtLeastOne = 10
    num_threads: int = Field(0, ge=0)  # 0: leave torch's default

    @field_validator("betas", mode="before")
    @classmethod
    def _betas_from_list(cls, value: Any) -> Any:
        """YAML and checkpoints store the pair as a list."""
        return tuple(value) if isinstance(value, list) else value


class Config(Schema):
    generator: GeneratorConfig = Field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = Field(default_factory=DiscriminatorConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()


def _check(cond: bool, key: str, why: str) -> None:
    if not cond:
        raise ConfigError(f"{key}: {why}")


def validate(cfg: Config) -> Config:
    """The rules that relate two fields, with a message naming the key."""
    g, d, t = cfg.generator, cfg.discriminator, cfg.train
    _check(g.input_resolution <= g.resolution, "generator.input_resolution",
           f"must not exceed generator.resolution ({g.resolution})")
    _check(not g.motion or g.motion_latent or g.content_latent, "generator.motion_latent",
           "motion_latent and content_latent cannot both be off: the motion generator needs an input")
    _check(t.batch_size % d.mbstd_group == 0 or t.batch_size < d.mbstd_group, "train.batch_size",
           f"must be a multiple of discriminator.mbstd_group ({d.mbstd_group})")
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
    return validate(parse(Config, data))

