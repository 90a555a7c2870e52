"""What a dataset module declares: where the dataset comes from, what ``data/raw/<dataset>/`` holds once
downloaded, how that layout is checked and listed, and the rules its clips are cut by.

Each of ``ucf101``, ``taichi``, ``sky`` and ``kinetics_food`` fills one ``RealDataset``; the types are
shared so the download and preprocess stages treat every dataset alike.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from digan.data.real.layout_report import LayoutReport
from digan.data.real.listing import Listing


@dataclass(frozen=True)
class RemoteFile:
    """One file to fetch. ``name`` is its path in the dataset's download cache; an archive is unpacked
    into ``extract_to`` (relative to ``data/raw/<dataset>/``, "." for the root); a file with
    ``extract_to=None`` is copied to ``data/raw/<dataset>/<name>`` as is."""

    url: str
    name: str
    sha256: str | None = None
    extract_to: str | None = None


@dataclass(frozen=True)
class DatasetSource:
    """How to obtain one dataset: ``files`` (skipped when ``local_dir`` is set) and ``metadata``
    (fetched unless ``local_dir`` already holds every metadata path of the raw layout)."""

    name: str
    files: tuple[RemoteFile, ...] = ()
    metadata: tuple[RemoteFile, ...] = ()
    local_dir: str | None = None


@dataclass(frozen=True)
class RawLayout:
    """What ``data/raw/<dataset>/`` holds: top-level directories of videos, metadata files (relative
    paths), and other names a user's ``local_dir`` may use for a directory (e.g. ``val`` for ``validate``)."""

    dirs: tuple[str, ...]
    metadata: tuple[str, ...]
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def top_level(self) -> tuple[str, ...]:
        """Every first path component the layout needs, directories first."""
        names = list(self.dirs)
        for path in self.metadata:
            head = PurePosixPath(path).parts[0]
            if head not in names:
                names.append(head)
        return tuple(names)


@dataclass(frozen=True)
class KnownCounts:
    """What is published about a dataset before it is downloaded, so that ``python -m pipeline.plan`` can
    size its clip stores without the data: per partition, a histogram of source-video lengths
    ``((frames, videos), ...)`` (one bin at the mean length where only a mean is published), and the bytes
    the download stage writes (archives kept in its cache plus their unpacked copy; None when the videos
    come from ``local_dir``). Each module cites where its numbers come from."""

    lengths: dict[str, tuple[tuple[int, int], ...]]
    download_bytes: int | None = None


def no_summary(report: LayoutReport) -> list[str]:
    """The summary of a dataset whose layout report needs no line beyond its missing items."""
    return []


@dataclass(frozen=True)
class RealDataset:
    """Everything the code knows about one dataset, so that adding or changing one touches one module.

    ``check`` fills a layout report of ``data/raw/<name>/`` (download stage); ``summary`` gives the lines
    it prints about that report besides the missing items; ``list_sources`` lists the decodable units
    (preprocess stage); ``stride``, ``scale_flags`` and ``stores`` (store name → partitions it holds) are
    the preprocessing defaults; ``known`` the published counts a plan sizes the stores from;
    ``local_hint`` says what ``local_dir`` must hold when there is nothing to download.
    """

    source: DatasetSource
    layout: RawLayout
    check: Callable[[LayoutReport], None]
    list_sources: Callable[[Path], Listing]
    stride: int
    scale_flags: str
    stores: dict[str, tuple[str, ...]]
    known: KnownCounts
    summary: Callable[[LayoutReport], list[str]] = no_summary
    local_hint: str = ""

    @property
    def name(self) -> str:
        """The dataset's key in params.yaml (``datasets.<name>``, ``download``, ``clip_sets.*.dataset``)."""
        return self.source.name


def github_raw(repo: str, commit: str, path: str) -> str:
    """The URL of ``path`` at ``commit`` of a GitHub repository: a pinned, immutable metadata file."""
    return f"https://raw.githubusercontent.com/{repo}/{commit}/{path}"
