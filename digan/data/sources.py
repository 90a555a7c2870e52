"""The ``datasets:`` section of params.yaml: what a user overrides of each dataset's source.

The default sources (URLs, checksums, and the public source of every fact in a comment) live in the
dataset modules of ``digan.data.real``. ``load_sources`` validates the section with pydantic models
(unknown keys, loose types and unusable values fail naming the dotted key, e.g.
``datasets.sky.files[0].url``) and puts every key a user set in place of the module's default. The
checksums are those published (or, for a file pinned to a git commit, its digest at that commit); where
none is published the entry is ``None`` and ``digan.download`` records the digest on first download.
"""
from __future__ import annotations

import re
import urllib.parse
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import create_model, field_validator

from digan.data.real import DATASETS, SPECS
from digan.data.real.spec import DatasetSource, RemoteFile
from digan.schema import SHA256_HEX, ConfigError, Schema, parse

_URL_SCHEMES = ("http", "https", "file")  # file:// lets a user point at an archive already on disk


def _relative(path: str) -> str:
    parts = PurePosixPath(path).parts
    if not path or PurePosixPath(path).is_absolute() or ".." in parts or "\\" in path:
        raise ValueError(f"must be a relative path without '..', got {path!r}")
    return path


class RemoteFileParams(Schema):
    """One entry of ``datasets.<dataset>.files`` or ``.metadata``: a ``RemoteFile`` that can be fetched
    and installed inside ``data/raw/<dataset>/``."""

    url: str
    name: str
    sha256: str | None = None
    extract_to: str | None = None

    @field_validator("url")
    @classmethod
    def _fetchable(cls, url: str) -> str:
        scheme = urllib.parse.urlsplit(url).scheme
        if scheme not in _URL_SCHEMES:
            raise ValueError(f"scheme must be one of {', '.join(_URL_SCHEMES)}, got {url!r}")
        if re.search(r"\s", url):
            raise ValueError(f"contains whitespace; percent-encode it (space = %20): {url!r}")
        return url

    @field_validator("sha256")
    @classmethod
    def _hex_digest(cls, sha256: str | None) -> str | None:
        if sha256 is not None and not SHA256_HEX.fullmatch(sha256):
            raise ValueError(f"must be 64 lower-case hex digits or null, got {sha256!r}")
        return sha256

    @field_validator("name", "extract_to")
    @classmethod
    def _inside_raw_dir(cls, path: str | None) -> str | None:
        return path if path in (None, ".") else _relative(path)


class SourceParams(Schema):
    """``datasets.<dataset>``: each key set replaces that part of the module's default source
    (``files: null`` means none)."""

    local_dir: str | None = None
    files: list[RemoteFileParams] | None = None
    metadata: list[RemoteFileParams] | None = None

    @field_validator("local_dir")
    @classmethod
    def _directory(cls, local_dir: str | None) -> str | None:
        if local_dir is not None and not local_dir.strip():
            raise ValueError("must be a directory path or null, got an empty string")
        return local_dir


DatasetsSection = create_model(
    "DatasetsSection", __base__=Schema, __doc__="The ``datasets:`` section of params.yaml.",
    **{name: (SourceParams | None, None) for name in DATASETS},
)


def _merged(source: DatasetSource, override: SourceParams | None) -> DatasetSource:
    """``source`` with every key ``override`` sets put in its place."""
    if override is None:
        return source
    changes: dict[str, Any] = {}
    for key in override.model_fields_set:
        value = getattr(override, key)
        changes[key] = value if key == "local_dir" else tuple(RemoteFile(**f.model_dump()) for f in value or ())
    return replace(source, **changes)


def _unique_names(source: DatasetSource) -> DatasetSource:
    """``source``, or a ``ConfigError`` when two of its files share a path in the download cache."""
    names: dict[str, str] = {}
    for group in ("files", "metadata"):
        for i, f in enumerate(getattr(source, group)):
            key = f"datasets.{source.name}.{group}[{i}]"
            if f.name in names:
                raise ConfigError(f"{key}.name: {f.name!r} is also the name of {names[f.name]}")
            names[f.name] = key
    return source


def check_obtainable(source: DatasetSource) -> None:
    """Fail when there is neither an archive to download nor a ``local_dir`` (TaiChi-HD and Sky by
    default), saying what to provide."""
    if source.local_dir is None and not source.files:
        prefix = f"datasets.{source.name}"
        raise ConfigError(f"{prefix}: no files to download and no local_dir; set {prefix}.local_dir to the "
                          f"directory holding the videos" + SPECS[source.name].local_hint)


def why_unavailable(source: DatasetSource) -> str | None:
    """Why ``source`` cannot be obtained (no archive and no ``local_dir``, or a ``local_dir`` that is not a
    directory), or None."""
    if source.local_dir is not None and not Path(source.local_dir).expanduser().is_dir():
        return f"datasets.{source.name}.local_dir: {source.local_dir} is not a directory"
    try:
        check_obtainable(source)
    except ConfigError as e:
        return str(e)
    return None


# What the pipeline suggests when datasets are missing (README "Real datasets" and "Profiles").
PARTIAL_DATA_HINT = ("Provide them (README, Real datasets), or with UCF-101 alone run its rows of the paper profile: "
                     "dvc exp run -S profile=paper_ucf101")


def require_available(sources: dict[str, DatasetSource], names: list[str], hint: str = PARTIAL_DATA_HINT) -> None:
    """One error naming every dataset of ``names`` that cannot be obtained, so a run with several missing
    datasets says so once, before any of them is fetched or any job submitted."""
    problems = [why for why in (why_unavailable(sources[n]) for n in names) if why is not None]
    if problems:
        raise ConfigError(f"{len(problems)} of the datasets to download cannot be obtained:\n  - "
                          + "\n  - ".join(problems) + (f"\n{hint}" if hint else ""))


def load_sources(params: dict[str, Any]) -> dict[str, DatasetSource]:
    """Every dataset's source from the ``datasets:`` section of ``params`` (the whole params.yaml
    mapping); a dataset or key left out takes its module's default. Raises ``ConfigError`` naming the key."""
    if not isinstance(params, dict):
        raise ConfigError(f"params: expected a mapping, got {params!r}")
    section = parse(DatasetsSection, params.get("datasets"), "datasets")
    return {name: _unique_names(_merged(SPECS[name].source, getattr(section, name))) for name in DATASETS}
