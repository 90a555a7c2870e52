"""What a dataset's lister returns to the preprocess stage (the decodable units of a raw dataset and its
class names), and the directory walks the listers share."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from digan.data.video_io import IMAGE_SUFFIXES, VIDEO_SUFFIXES


class PreprocessError(RuntimeError):
    """The raw dataset cannot give a usable clip store (missing layout, no clips at all)."""


@dataclass(frozen=True)
class Source:
    """One decodable unit: a video file, a folder of frame images, or a time window of a video.

    ``crop`` is ffmpeg crop ``(w, h, x, y)`` expressions; ``None`` is the centre square.
    ``window`` is ``(start, end)`` in seconds. ``prescale`` is the square side the official data
    preparation resizes the crop to before the loader's own resize (official resampling only).
    """

    path: str
    name: str
    partition: str
    class_index: int
    class_name: str
    crop: tuple[str, str, str, str] | None = None
    window: tuple[float, float] | None = None
    prescale: int | None = None


@dataclass
class Listing:
    """What a raw dataset directory holds, before decoding."""

    sources: list[Source]
    class_names: list[str]
    skipped: list[dict[str, str]] = field(default_factory=list)  # outcome, source, reason
    metadata_files: list[Path] = field(default_factory=list)


def is_video(path: Path) -> bool:
    """Whether ``path`` is a file with a video suffix."""
    return path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES


def image_files(directory: Path) -> list[Path]:
    """The frame images of a folder, sorted: the frame order of a frame-folder source."""
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def units_under(root: Path) -> list[Path]:
    """Video files and folders that directly hold frame images, in sorted order."""
    units = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        here = Path(dirpath)
        if any(Path(f).suffix.lower() in IMAGE_SUFFIXES for f in filenames):
            units.append(here)
        units.extend(here / f for f in sorted(filenames) if Path(f).suffix.lower() in VIDEO_SUFFIXES)
    return sorted(units)


def require(path: Path, what: str) -> Path:
    """``path``, or a ``PreprocessError`` naming ``what`` is missing."""
    if not path.exists():
        raise PreprocessError(f"{what} not found: {path}")
    return path
