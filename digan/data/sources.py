"""Where the paper's four datasets come from, and the raw layout the preprocessing stage reads.

Each dataset is described by a ``DatasetSource``: archives of videos (``files``), the official
metadata/annotation files (``metadata``) and, instead of the archives, a directory the user already has
(``local_dir``). ``DEFAULT_SOURCES`` holds the paper's datasets with the source of every fact in a
comment; ``load_sources`` reads the ``datasets:`` section of params.yaml on top of them. The checksums
are those published (or, for a file pinned to a git commit, its digest at that commit); where none is
published the entry is ``None`` and ``digan.download`` records the digest on first download.

``RAW_LAYOUT`` is the contract with the preprocessing stage: what ``data/raw/<dataset>/`` holds once the
download stage has finished. ``kinetics_food_classes`` is the one place the Kinetics-food class rule lives.
"""
from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath
from typing import Any

from digan.config import ConfigError

DATASETS = ("ucf101", "taichi", "sky", "kinetics_food")

_HEX64 = re.compile(r"[0-9a-f]{64}")
_URL_SCHEMES = ("http", "https", "file")  # file:// lets a user point at an archive already on disk


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


RAW_LAYOUT: dict[str, RawLayout] = {
    # UCF101.rar unpacks to UCF-101/<ClassName>/v_<ClassName>_gXX_cYY.avi; the recognition split zip to
    # ucfTrainTestlist/ (classInd.txt "1 ApplyEyeMakeup", trainlistNN.txt "Class/v_….avi 1",
    # testlistNN.txt "Class/v_….avi"). Sources: crcv.ucf.edu UCF101 page; tensorflow/datasets
    # video/ucf101.py reads ucfTrainTestlist/trainlist01.txt from that zip.
    "ucf101": RawLayout(dirs=("UCF-101",),
                        metadata=("ucfTrainTestlist/classInd.txt", "ucfTrainTestlist/trainlist01.txt",
                                  "ucfTrainTestlist/testlist01.txt")),
    # videos/ holds either raw YouTube downloads <video_id>.<ext> (first-order-model's load_videos.py
    # saves <video_id>.mp4) or its cropped output train|test/<video_id>#<start:06d>#<end:06d>.mp4 (an
    # mp4 file, or with --format .png a folder of that name holding 0000000.png, …). Source:
    # AliaksandrSiarohin/first-order-model data/taichi-loading/load_videos.py.
    "taichi": RawLayout(dirs=("videos",), metadata=("taichi-metadata.csv",)),
    # sky_train|sky_test/<video_id>/<clip_no>/<video_id>_frames_<8 digits>.jpg. Source:
    # weixiong-ur/mdgan video_folder_test.py (comments give dir/rM7aPu9WV2Q/1/rM7aPu9WV2Q_frames_00086552.jpg)
    # and test.py (default --testf ../../sky_timelapse/sky_test).
    "sky": RawLayout(dirs=("sky_train", "sky_test"), metadata=()),
    # train|validate/[<label>/]<youtube_id>_<time_start:06d>_<time_end:06d>.mp4, annotations as published
    # (label,youtube_id,time_start,time_end,split). Sources: activitynet/ActivityNet
    # Crawler/Kinetics/download.py (naming, '%06d', per-label folders) and data/kinetics-600_val.csv
    # (columns); cvdfoundation/kinetics-dataset extracts to val/, hence the alias.
    "kinetics_food": RawLayout(dirs=("train", "validate"),
                               metadata=("annotations/train.csv", "annotations/validate.csv"),
                               aliases={"validate": ("val",)}),
}

# Paper Appendix A.2: TaiChi-HD videos excluded "due to the broken link". All 17 occur in
# first-order-model's taichi-metadata.csv (280 video ids), so 263 videos are expected.
TAICHI_EXCLUDED_IDS: frozenset[str] = frozenset({
    "8xSkbMUpegs", "RCiy2FYViEg", "iFMbu9-Mejc", "ceoe2fz648U", "6jHyn4z0KLk", "VMSqvTE90hk",
    "xmwGBXYofEE", "Dn0mNZmAh2k", "VhprHat04dk", "KYdyIdusD0g", "EaEZVfhn07o", "_L745tFFmCQ",
    "ytT4iU7h-A8", "5ujMzSyHO_8", "JdiIQg47Wc4", "aAwbJ9MO91I", "_XRyc2kiTlM",
})

# Paper Appendix A.2 (following Weissenborn et al. 2020): the food subset's keywords.
KINETICS_FOOD_KEYWORDS: tuple[str, ...] = (
    "baking", "barbequing", "breading", "cooking", "cutting", "pancake", "vegetables", "meat", "cake",
    "sandwich", "pizza", "sushi", "tea", "peeling", "fruit", "eggs", "salad",
)


def kinetics_food_classes(all_class_names: Iterable[str]) -> list[str]:
    """The Kinetics-food classes among ``all_class_names``, sorted.

    Rule: a class belongs to the subset when one of its words (maximal runs of letters, lower-cased)
    equals a keyword exactly. Whole words, not substrings, so "egg hunting" ("egg" ≠ "eggs"), "getting a
    haircut" ("haircut" ≠ "cutting") and "shaping bread dough" ("bread" ≠ "breading") stay out. On the
    600 Kinetics-600 class names this yields exactly the 29 classes whose videos the official DIGAN code
    downloads (sihyun-yu/digan prepare_data/train.txt and val.txt), "cutting nails" included.
    """
    keywords = set(KINETICS_FOOD_KEYWORDS)
    return sorted({name for name in all_class_names if keywords & set(re.findall(r"[a-z]+", name.lower()))})


def _github_raw(repo: str, commit: str, path: str) -> str:
    return f"https://raw.githubusercontent.com/{repo}/{commit}/{path}"


# The 29 Kinetics-600 classes of sihyun-yu/digan prepare_data/{train,val}.txt (equal to
# kinetics_food_classes of the 600 class names): only used to name CVDF's per-class archives.
_KINETICS_FOOD_ARCHIVE_CLASSES = (
    "baking cookies", "barbequing", "breading or breadcrumbing", "chopping meat", "chopping vegetables",
    "cooking egg", "cooking on campfire", "cooking sausages (not on barbeque)", "cooking scallops",
    "cutting apple", "cutting nails", "cutting orange", "cutting pineapple", "cutting watermelon",
    "eating cake", "flipping pancake", "frying vegetables", "grinding meat", "making a cake",
    "making a sandwich", "making pizza", "making sushi", "making tea", "peeling apples", "peeling potatoes",
    "picking fruit", "preparing salad", "scrambling eggs", "separating eggs",
)


def _cvdf_kinetics600_archives() -> tuple[RemoteFile, ...]:
    """CVDF's per-class Kinetics-600 archives, as the official DIGAN code fetches them
    (https://s3.amazonaws.com/kinetics/600/{train,val}/<class>.tar.gz; spaces percent-encoded)."""
    files = []
    for cvdf_split, split in (("train", "train"), ("val", "validate")):
        for label in _KINETICS_FOOD_ARCHIVE_CLASSES:
            url = f"https://s3.amazonaws.com/kinetics/600/{cvdf_split}/{urllib.parse.quote(label)}.tar.gz"
            files.append(RemoteFile(url=url, name=f"{split}/{label}.tar.gz", extract_to=f"{split}/{label}"))
    return tuple(files)


DEFAULT_SOURCES: dict[str, DatasetSource] = {
    # https://www.crcv.ucf.edu/data/UCF101.php links both files. UCF publishes no checksums; the split
    # zip's sha256 (113,943 bytes) is the one tensorflow/datasets pins in url_checksums/ucf101.txt.
    # UCF101.rar is RAR4: unpacked with bsdtar (libarchive-tools) or unar.
    "ucf101": DatasetSource(
        name="ucf101",
        files=(RemoteFile(url="https://www.crcv.ucf.edu/data/UCF101/UCF101.rar", name="UCF101.rar",
                          sha256=None, extract_to="."),),
        metadata=(RemoteFile(
            url="https://www.crcv.ucf.edu/data/UCF101/UCF101TrainTestSplits-RecognitionTask.zip",
            name="UCF101TrainTestSplits-RecognitionTask.zip",
            sha256="5c0d1a53b8ed364a2ac830a73f405e51bece7d98ce1254fd19ed4a36b224bd27", extract_to="."),),
    ),
    # Videos come from YouTube ids (first-order-model's load_videos.py with youtube-dl): no URL to fetch,
    # so local_dir is required. The metadata (video_id,start,end,bbox,fps,width,height,partition; 3,334
    # chunks of 280 videos) is pinned to the commit that last changed it (8ddb93a, 2019-12-26); the
    # sha256 is that git blob's digest.
    "taichi": DatasetSource(
        name="taichi",
        metadata=(RemoteFile(
            url=_github_raw("AliaksandrSiarohin/first-order-model", "8ddb93aba4891328661e84d9d33971db5794835b",
                            "data/taichi-loading/taichi-metadata.csv"),
            name="taichi-metadata.csv",
            sha256="1f9dcf5af96c1eb7aceb9afdf796f81668a0f8d8fc58c910369dedaab04fe12f"),),
    ),
    # weixiong-ur/mdgan's README links the dataset only on Google Drive
    # (https://drive.google.com/open?id=1xWLiU-MBGN7MrsFHQm4_yXmfHBsMbJQo), which plain HTTP cannot
    # fetch (interstitial confirmation page): give local_dir (holding sky_train/ and sky_test/) or the
    # downloaded archive as a file:// URL with extract_to ".".
    "sky": DatasetSource(name="sky"),
    # Videos: CVDF's per-class archives, exactly the 29 x 2 the official DIGAN code downloads (no
    # checksums published). Annotations: ActivityNet's copy of the official Kinetics-600 CSVs, pinned to
    # commit 82304fa; the val CSV's sha256 is that git blob's digest, the train CSV (over 4 MiB) could not
    # be read here, so it is recorded on first download.
    "kinetics_food": DatasetSource(
        name="kinetics_food",
        files=_cvdf_kinetics600_archives(),
        metadata=(
            RemoteFile(url=_github_raw("activitynet/ActivityNet", "82304fa9f4a7219421df13dae6347a445c4cf5bc",
                                       "Crawler/Kinetics/data/kinetics-600_train.csv"),
                       name="annotations/train.csv", sha256=None),
            RemoteFile(url=_github_raw("activitynet/ActivityNet", "82304fa9f4a7219421df13dae6347a445c4cf5bc",
                                       "Crawler/Kinetics/data/kinetics-600_val.csv"),
                       name="annotations/validate.csv",
                       sha256="3d596163bd75ac810e48c69662ce35ddd6737d44d351780f9533e11317a58d7a"),
        ),
    ),
}


def _check_relative(path: str, key: str) -> None:
    parts = PurePosixPath(path).parts
    if not path or PurePosixPath(path).is_absolute() or ".." in parts or "\\" in path:
        raise ConfigError(f"{key}: must be a relative path without '..', got {path!r}")


def validate_source(source: DatasetSource) -> DatasetSource:
    """Reject a source that cannot work, naming the key (``datasets.<name>.files[i].url`` …)."""
    prefix = f"datasets.{source.name}"
    if source.name not in DATASETS:
        raise ConfigError(f"{prefix}: unknown dataset (known: {', '.join(DATASETS)})")
    if source.local_dir is not None and not source.local_dir.strip():
        raise ConfigError(f"{prefix}.local_dir: must be a directory path or null, got an empty string")
    names: dict[str, str] = {}
    for group in ("files", "metadata"):
        for i, f in enumerate(getattr(source, group)):
            key = f"{prefix}.{group}[{i}]"
            scheme = urllib.parse.urlsplit(f.url).scheme
            if scheme not in _URL_SCHEMES:
                raise ConfigError(f"{key}.url: scheme must be one of {', '.join(_URL_SCHEMES)}, got {f.url!r}")
            if re.search(r"\s", f.url):
                raise ConfigError(f"{key}.url: contains whitespace; percent-encode it (space = %20): {f.url!r}")
            if f.sha256 is not None and not _HEX64.fullmatch(f.sha256):
                raise ConfigError(f"{key}.sha256: must be 64 lower-case hex digits or null, got {f.sha256!r}")
            _check_relative(f.name, f"{key}.name")
            if f.extract_to is not None and f.extract_to != ".":
                _check_relative(f.extract_to, f"{key}.extract_to")
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
                          f"directory holding the videos" + _LOCAL_HINTS.get(source.name, ""))


_LOCAL_HINTS = {
    "taichi": " (raw YouTube downloads <video_id>.mp4, or first-order-model's cropped train/ and test/)",
    "sky": (" (the unpacked sky_timelapse folder with sky_train/ and sky_test/; the dataset is on Google Drive: "
            "https://drive.google.com/open?id=1xWLiU-MBGN7MrsFHQm4_yXmfHBsMbJQo), or add its archive to "
            "datasets.sky.files as {url: file:///path/to/archive.zip, name: sky_timelapse.zip, extract_to: .}"),
}

_FILE_KEYS = {"url": str, "name": str, "sha256": (str, type(None)), "extract_to": (str, type(None))}
_SOURCE_KEYS = ("local_dir", "files", "metadata")


def _remote_file(data: Any, key: str) -> RemoteFile:
    if not isinstance(data, dict):
        raise ConfigError(f"{key}: expected a mapping with url, name, sha256, extract_to; got {data!r}")
    unknown = sorted(set(data) - set(_FILE_KEYS))
    if unknown:
        raise ConfigError(f"unknown key {key}.{unknown[0]} (known: {', '.join(_FILE_KEYS)})")
    for name in ("url", "name"):
        if name not in data:
            raise ConfigError(f"{key}.{name}: required")
    for name, types in _FILE_KEYS.items():
        if name in data and not isinstance(data[name], types):
            expected = "a string or null" if name in ("sha256", "extract_to") else "a string"
            raise ConfigError(f"{key}.{name}: expected {expected}, got {data[name]!r}")
    return RemoteFile(url=data["url"], name=data["name"], sha256=data.get("sha256"),
                      extract_to=data.get("extract_to"))


def _source(name: str, data: Any) -> DatasetSource:
    prefix = f"datasets.{name}"
    if data is None:
        return DEFAULT_SOURCES[name]
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix}: expected a mapping with {', '.join(_SOURCE_KEYS)}; got {data!r}")
    unknown = sorted(set(data) - set(_SOURCE_KEYS))
    if unknown:
        raise ConfigError(f"unknown key {prefix}.{unknown[0]} (known: {', '.join(_SOURCE_KEYS)})")
    source = DEFAULT_SOURCES[name]
    if "local_dir" in data:
        if not isinstance(data["local_dir"], (str, type(None))):
            raise ConfigError(f"{prefix}.local_dir: expected a directory path or null, got {data['local_dir']!r}")
        source = replace(source, local_dir=data["local_dir"])
    for group in ("files", "metadata"):
        if group in data:
            items = data[group] if data[group] is not None else []
            if not isinstance(items, list):
                raise ConfigError(f"{prefix}.{group}: expected a list, got {items!r}")
            source = replace(source, **{group: tuple(_remote_file(item, f"{prefix}.{group}[{i}]")
                                                     for i, item in enumerate(items))})
    return source


def load_sources(params: dict[str, Any]) -> dict[str, DatasetSource]:
    """Every dataset's source from the ``datasets:`` section of ``params`` (the whole params.yaml
    mapping); a dataset or key left out takes ``DEFAULT_SOURCES``. Raises ``ConfigError`` naming the key."""
    if not isinstance(params, dict):
        raise ConfigError(f"params: expected a mapping, got {params!r}")
    section = params.get("datasets") or {}
    if not isinstance(section, dict):
        raise ConfigError(f"datasets: expected a mapping of dataset name to source, got {section!r}")
    unknown = sorted(set(section) - set(DATASETS))
    if unknown:
        raise ConfigError(f"unknown key datasets.{unknown[0]} (known: {', '.join(DATASETS)})")
    return {name: validate_source(_source(name, section.get(name))) for name in DATASETS}
