"""Sky Time-lapse: its source, raw layout, layout check, clip listing and preprocessing rules.

Clips: MDGAN's ``sky_train`` / ``sky_test`` frame folders, each clip folder one video, 16 consecutive
frames (stride 1), stores ``train`` and ``test``.
"""
from __future__ import annotations

import os
from pathlib import Path

from digan.data.real.layout_report import LayoutReport, suffix
from digan.data.real.listing import Listing, Source, require, units_under
from digan.data.real.spec import DatasetSource, KnownCounts, RawLayout, RealDataset
from digan.data.video_io import IMAGE_SUFFIXES

# weixiong-ur/mdgan's README links the dataset only on Google Drive
# (https://drive.google.com/open?id=1xWLiU-MBGN7MrsFHQm4_yXmfHBsMbJQo), which plain HTTP cannot
# fetch (interstitial confirmation page): give local_dir (holding sky_train/ and sky_test/) or the
# downloaded archive as a file:// URL with extract_to ".".
SOURCE = DatasetSource(name="sky")

# sky_train|sky_test/<video_id>/<clip_no>/<video_id>_frames_<8 digits>.jpg. Source:
# weixiong-ur/mdgan video_folder_test.py (comments give dir/rM7aPu9WV2Q/1/rM7aPu9WV2Q_frames_00086552.jpg)
# and test.py (default --testf ../../sky_timelapse/sky_test).
LAYOUT = RawLayout(dirs=("sky_train", "sky_test"), metadata=())

# What a plan sizes the stores from before the data exists (pipeline.plan). Xiong et al. 2018 (MDGAN, CVPR), §4.1:
# the 5,000 time-lapse videos (the paper's App. A.2 count) are cut into 35,392 training and 2,815 test clips of
# 32 frames; each clip is taken as one clip folder of this layout. The data comes from local_dir.
KNOWN = KnownCounts(lengths={"train": ((32, 35392),), "test": ((32, 2815),)})


def check(r: LayoutReport) -> None:
    """Count videos, clip folders and frames per split; list the videos without a single frame."""
    for split in LAYOUT.dirs:
        root = r.raw_dir / split
        if not root.is_dir():
            r.problems.append(f"missing directory {split}/ (from the sky_timelapse dataset of weixiong-ur/mdgan)")
            continue
        clips: dict[str, int] = {}
        for d, _, files in os.walk(root, followlinks=True):
            frames = sum(suffix(f) in IMAGE_SUFFIXES for f in files)
            if frames:
                clips[Path(d).relative_to(root).as_posix()] = frames
        videos = sorted(p.name for p in root.iterdir() if p.is_dir())
        with_frames = {c.split("/")[0] for c in clips}
        r.counts[split] = {"videos": len(videos), "clips": len(clips), "frames": sum(clips.values())}
        r.missing[f"{split}_videos_without_frames"] = [v for v in videos if v not in with_frames]
        if not clips:
            r.problems.append(f"{split}/ holds no image frames (expected <video>/<clip>/<frame>.jpg)")


def list_sources(raw: Path) -> Listing:
    """MDGAN layout: ``sky_{train,test}/<video>/<clip>/*.jpg``; each clip folder is one video."""
    listing = Listing([], ["sky"])
    for partition in ("train", "test"):
        root = require(raw / f"sky_{partition}", "Sky Time-lapse split directory")
        for unit in units_under(root):
            listing.sources.append(Source(str(unit), unit.relative_to(raw).as_posix(), partition, 0, "sky"))
    return listing


DATASET = RealDataset(
    source=SOURCE, layout=LAYOUT, check=check, list_sources=list_sources, stride=1, scale_flags="bilinear",
    stores={"train": ("train",), "test": ("test",)}, known=KNOWN,
    local_hint=(" (the unpacked sky_timelapse folder with sky_train/ and sky_test/; the dataset is on Google Drive: "
                "https://drive.google.com/open?id=1xWLiU-MBGN7MrsFHQm4_yXmfHBsMbJQo), or add its archive to "
                "datasets.sky.files as {url: file:///path/to/archive.zip, name: sky_timelapse.zip, extract_to: .}"),
)
