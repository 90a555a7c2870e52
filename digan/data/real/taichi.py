"""TaiChi-HD: its source, raw layout, layout check, clip listing and preprocessing rules.

Clips: first-order-model's cropped videos, or raw videos cut and cropped by its metadata (then resized
to its 256², ``FOMM_SIZE``); 16 frames at stride 4 as the official loader; one store ``all``; the
paper's 17 broken-link videos excluded.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

from digan.data.real.layout_report import LayoutReport, suffix
from digan.data.real.listing import Listing, Source, is_video, require
from digan.data.real.spec import DatasetSource, KnownCounts, RawLayout, RealDataset, RemoteFile, github_raw
from digan.data.video_io import VIDEO_SUFFIXES

# Videos come from YouTube ids (first-order-model's load_videos.py with youtube-dl): no URL to fetch,
# so local_dir is required. The metadata (video_id,start,end,bbox,fps,width,height,partition; 3,334
# chunks of 280 videos) is pinned to the commit that last changed it (8ddb93a, 2019-12-26); the
# sha256 is that git blob's digest.
SOURCE = DatasetSource(
    name="taichi",
    metadata=(RemoteFile(
        url=github_raw("AliaksandrSiarohin/first-order-model", "8ddb93aba4891328661e84d9d33971db5794835b",
                       "data/taichi-loading/taichi-metadata.csv"),
        name="taichi-metadata.csv",
        sha256="1f9dcf5af96c1eb7aceb9afdf796f81668a0f8d8fc58c910369dedaab04fe12f"),),
)

# videos/ holds either raw YouTube downloads <video_id>.<ext> (first-order-model's load_videos.py
# saves <video_id>.mp4) or its cropped output train|test/<video_id>#<start:06d>#<end:06d>.mp4 (an
# mp4 file, or with --format .png a folder of that name holding 0000000.png, …). Source:
# AliaksandrSiarohin/first-order-model data/taichi-loading/load_videos.py.
LAYOUT = RawLayout(dirs=("videos",), metadata=("taichi-metadata.csv",))

METADATA_COLUMNS = ("video_id", "start", "end", "bbox", "fps", "width", "height", "partition")

# Paper Appendix A.2: TaiChi-HD videos excluded "due to the broken link". All 17 occur in
# first-order-model's taichi-metadata.csv (280 video ids), so 263 videos are expected.
EXCLUDED_IDS: frozenset[str] = frozenset({
    "8xSkbMUpegs", "RCiy2FYViEg", "iFMbu9-Mejc", "ceoe2fz648U", "6jHyn4z0KLk", "VMSqvTE90hk",
    "xmwGBXYofEE", "Dn0mNZmAh2k", "VhprHat04dk", "KYdyIdusD0g", "EaEZVfhn07o", "_L745tFFmCQ",
    "ytT4iU7h-A8", "5ujMzSyHO_8", "JdiIQg47Wc4", "aAwbJ9MO91I", "_XRyc2kiTlM",
})

# The frame side of the official data preparation before the loader's resize_crop (digan.data.preprocess
# docstring): first-order-model data/taichi-loading/load_videos.py, --image_shape default.
FOMM_SIZE = 256

# What a plan sizes the store from before the videos exist (pipeline.plan): the chunk lengths (end − start, in
# the metadata's frames) of the taichi-metadata.csv pinned in SOURCE, without the excluded ids: 3,149 chunks
# (2,872 train, 277 test) of 128 to 1,024 frames, 985,047 frames in all. Binned by 64 frames (one stride-4 block
# of 16 frames), each bin at its mean length, so the 16- and 128-frame stride-4 clip counts come out exact
# (56,192 and 2,504). The videos come from local_dir: the download stage fetches only the metadata.
KNOWN = KnownCounts(lengths={
    "train": ((157, 1142), (220, 564), (285, 308), (348, 204), (413, 123), (479, 93), (545, 82), (604, 52),
              (668, 41), (735, 28), (804, 27), (854, 17), (928, 18), (988, 15), (1024, 158)),
    "test": ((153, 130), (218, 52), (283, 32), (348, 19), (420, 15), (471, 5), (540, 5), (614, 6), (721, 3),
             (810, 1), (862, 2), (924, 1), (1024, 6)),
})


def check(r: LayoutReport) -> None:
    """Which metadata video ids have a video (raw or cropped); the paper's excluded ids are not expected."""
    rows = r.read_csv("taichi-metadata.csv", METADATA_COLUMNS,
                      "first-order-model data/taichi-loading/taichi-metadata.csv")
    videos_dir = r.raw_dir / "videos"
    if not videos_dir.is_dir():
        r.problems.append("missing directory videos/ (set datasets.taichi.local_dir to your TaiChi videos)")
        return
    found: dict[str, str] = {}  # video id -> "raw" (<id>.<ext>) or "cropped" (<id>#<start>#<end>…)

    def visit(entry: os.DirEntry[str], descend: bool) -> None:
        if "#" in entry.name:
            found.setdefault(entry.name.split("#")[0], "cropped")
        elif entry.is_file() and suffix(entry.name) in VIDEO_SUFFIXES:
            found.setdefault(os.path.splitext(entry.name)[0], "raw")
        elif descend and entry.is_dir():  # first-order-model's train/ and test/
            for sub in os.scandir(entry.path):
                visit(sub, False)

    for entry in os.scandir(videos_dir):
        visit(entry, True)
    r.counts["formats"] = sorted(set(found.values()))
    if rows is None:
        return
    ids = list(dict.fromkeys(row["video_id"] for row in rows))
    expected = [i for i in ids if i not in EXCLUDED_IDS]
    r.missing["videos"] = [i for i in expected if i not in found]
    r.counts.update(metadata_chunks=len(rows), metadata_videos=len(ids),
                    excluded_by_paper=len(set(ids) & EXCLUDED_IDS), expected_videos=len(expected),
                    found_videos=len(expected) - len(r.missing["videos"]),
                    excluded_present=sorted(EXCLUDED_IDS & found.keys()),
                    not_in_metadata=sorted(found.keys() - set(ids)))
    if len(expected) == len(r.missing["videos"]):
        r.problems.append(f"none of the {len(expected)} metadata video ids has a video in {videos_dir}")


def summary(r: LayoutReport) -> list[str]:
    """How many of the expected videos are present, saying the excluded ones are not expected."""
    if "expected_videos" not in r.counts:
        return []
    return [f"taichi: {r.counts['found_videos']} of {r.counts['expected_videos']} videos present "
            f"({r.counts['excluded_by_paper']} excluded by the paper are not expected)"]


def list_sources(raw: Path) -> Listing:
    """first-order-model's cropped ``train/`` ``test/`` output if present, else raw videos + metadata.

    The cropped output may sit under ``videos/`` (the download stage's layout) or beside it.
    """
    listing = Listing([], ["taichi"])
    cropped = [d / p for d in (raw / "videos", raw) for p in ("train", "test") if (d / p).is_dir()]
    if cropped:
        for part_dir in cropped:
            for unit in sorted(p for p in part_dir.iterdir() if is_video(p) or p.is_dir()):
                name = unit.relative_to(raw).as_posix()
                video_id = unit.name.split("#")[0]
                if video_id in EXCLUDED_IDS:
                    listing.skipped.append({"outcome": "excluded", "source": name, "reason": "paper Appendix A.2"})
                else:
                    listing.sources.append(Source(str(unit), name, part_dir.name, 0, "taichi"))
        return listing
    metadata = require(raw / "taichi-metadata.csv", "TaiChi metadata (first-order-model taichi-metadata.csv)")
    videos = require(raw / "videos", "TaiChi video directory")
    listing.metadata_files.append(metadata)
    by_id: dict[str, Path] = {}
    for p in sorted(videos.iterdir()):
        if is_video(p):
            by_id.setdefault(p.stem, p)
    with open(metadata, newline="") as fh:
        for row in csv.DictReader(fh):
            video_id, start, end = row["video_id"], int(row["start"]), int(row["end"])
            name = f"videos/{video_id}#{start:06d}#{end:06d}"
            if video_id in EXCLUDED_IDS:
                listing.skipped.append({"outcome": "excluded", "source": name, "reason": "paper Appendix A.2"})
                continue
            path = by_id.get(video_id)
            if path is None:
                listing.skipped.append({"outcome": "missing", "source": name, "reason": "no downloaded video"})
                continue
            # first-order-model keeps frame i when start <= i * fps_ref / fps < end and scales the
            # bbox (in the reference width × height) to the actual frame size; half-frame margins
            # keep exact boundaries away from timestamp rounding.
            fps, width, height = float(row["fps"]), float(row["width"]), float(row["height"])
            left, top, right, bottom = (int(v) for v in row["bbox"].split("-"))
            x, y = f"trunc({left}*iw/{width})", f"trunc({top}*ih/{height})"
            w, h = f"trunc({right}*iw/{width})-{x}", f"trunc({bottom}*ih/{height})-{y}"
            listing.sources.append(Source(str(path), name, row["partition"], 0, "taichi", crop=(w, h, x, y),
                                          window=((start - 0.5) / fps, (end - 0.5) / fps),
                                          prescale=FOMM_SIZE))
    return listing


DATASET = RealDataset(
    source=SOURCE, layout=LAYOUT, check=check, list_sources=list_sources, summary=summary, stride=4,
    scale_flags="bilinear", stores={"all": ("train", "test")}, known=KNOWN,
    local_hint=" (raw YouTube downloads <video_id>.mp4, or first-order-model's cropped train/ and test/)",
)
