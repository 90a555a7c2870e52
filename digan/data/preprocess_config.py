"""The preprocess stage's parameters: ``PreprocessConfig`` and the ``preprocess:`` section of params.yaml
(keys for every dataset, overridden per dataset under ``preprocess.<dataset>``).

Pydantic models, so that an unknown key, a loose type or an impossible value fails before any decoding
with one message naming the dotted key (``preprocess.sky.stride``); torch-free, so params validation can
import it.
"""
from __future__ import annotations

import re
from typing import Any

from pydantic import ConfigDict, Field, create_model, field_validator

from digan.data.real import DATASETS, SPECS
from digan.schema import ConfigError, Schema, parse

RESAMPLES = ("official", "ffmpeg")  # digan.data.preprocess docstring, "Resampling"


class PreprocessConfig(Schema):
    """Stage parameters; ``None`` takes the dataset's default from its module in ``digan.data.real``."""

    model_config = ConfigDict(frozen=True)

    resolution: int = Field(128, ge=1)
    frames: int = Field(16, ge=1)
    stride: int | None = Field(None, ge=1)
    step: int | None = Field(None, ge=1)  # None: official block rule; k: a window every k frames
    scale_flags: str | None = None  # swscale flags of the ffmpeg resampling and of every prescale
    resample: str = "official"  # or "ffmpeg" (digan.data.preprocess docstring, "Resampling")
    stores: tuple[str, ...] | None = Field(None, strict=False)  # not strict: YAML writes a list
    workers: int = 1

    @field_validator("scale_flags")
    @classmethod
    def _sws_flags(cls, flags: str | None) -> str | None:
        if flags is not None and not re.fullmatch(r"[a-z_+]+", flags):
            raise ValueError(f"{flags!r} is not an ffmpeg sws flag list")
        return flags

    @field_validator("resample")
    @classmethod
    def _known_resample(cls, resample: str) -> str:
        if resample not in RESAMPLES:
            raise ValueError(f"unknown resample {resample!r}; choose from {list(RESAMPLES)}")
        return resample

    def resolved(self, dataset: str) -> PreprocessConfig:
        """This config with ``dataset``'s defaults filled in; ``ValueError`` for a store it does not have."""
        spec = SPECS[dataset]
        cfg = self.model_copy(update={
            "stride": spec.stride if self.stride is None else self.stride,
            "scale_flags": spec.scale_flags if self.scale_flags is None else self.scale_flags,
            "stores": tuple(spec.stores) if self.stores is None else self.stores,
        })
        unknown = set(cfg.stores) - set(spec.stores)
        if unknown:
            raise ValueError(f"unknown stores {sorted(unknown)} of {dataset}; choose from {list(spec.stores)}")
        return cfg


PreprocessSection = create_model(
    "PreprocessSection", __base__=PreprocessConfig, __doc__="The ``preprocess:`` section of params.yaml.",
    **{name: (PreprocessConfig | None, None) for name in DATASETS},
)


def preprocess_config(params: dict[str, Any], dataset: str, default_workers: int = 1) -> PreprocessConfig:
    """``dataset``'s config from the ``preprocess`` section of ``params`` (the whole params.yaml mapping):
    ``default_workers``, then the keys set for every dataset, then those under ``preprocess.<dataset>``.
    Raises ``ConfigError`` naming the key."""
    section = parse(PreprocessSection, params.get("preprocess"), "preprocess")
    override = getattr(section, dataset) or PreprocessConfig()
    cfg = PreprocessConfig(**{"workers": default_workers,
                              **section.model_dump(include=section.model_fields_set - set(DATASETS)),
                              **override.model_dump(include=override.model_fields_set)})
    try:
        cfg.resolved(dataset)
    except ValueError as e:
        where = f"preprocess.{dataset}" if "stores" in override.model_fields_set else "preprocess"
        raise ConfigError(f"{where}.stores: {e}") from None
    return cfg
