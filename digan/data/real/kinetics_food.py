"""Kinetics-food: its source, raw layout, layout check, clip listing and preprocessing rules.

Clips: the Kinetics-600 clips of the food classes (``food_classes``, the one place the class rule
lives), prepared at 128² with lanczos as the official ``prepare_data/preprocess.py`` (``PREPARED_SIZE``),
16 consecutive frames (stride 1), stores ``train`` and ``validate``.
"""
from __future__ import annotations

import csv
import os
import re
import urllib.parse
from collections.abc import Iterable
from pathlib import Path

from digan.data.real.layout_report import LayoutReport, suffix, walk_files
from digan.data.real.listing import Listing, Source, require, units_under
from digan.data.real.spec import DatasetSource, KnownCounts, RawLayout, RealDataset, RemoteFile, github_raw
from digan.data.video_io import VIDEO_SUFFIXES

# Paper Appendix A.2 (following Weissenborn et al. 2020): the food subset's keywords.
KEYWORDS: tuple[str, ...] = (
    "baking", "barbequing", "breading", "cooking", "cutting", "pancake", "vegetables", "meat", "cake",
    "sandwich", "pizza", "sushi", "tea", "peeling", "fruit", "eggs", "salad",
)


def food_classes(all_class_names: Iterable[str]) -> list[str]:
    """The Kinetics-food classes among ``all_class_names``, sorted.

    Rule: a class belongs to the subset when one of its words (maximal runs of letters, lower-cased)
    equals a keyword exactly. Whole words, not substrings, so "egg hunting" ("egg" ≠ "eggs"), "getting a
    haircut" ("haircut" ≠ "cutting") and "shaping bread dough" ("bread" ≠ "breading") stay out. On the
    600 Kinetics-600 class names this yields exactly the 29 classes whose videos the official DIGAN code
    downloads (sihyun-yu/digan prepare_data/train.txt and val.txt), "cutting nails" included.
    """
    keywords = set(KEYWORDS)
    return sorted({name for name in all_class_names if keywords & set(re.findall(r"[a-z]+", name.lower()))})


# The 29 Kinetics-600 classes of sihyun-yu/digan prepare_data/{train,val}.txt (equal to
# food_classes of the 600 class names): only used to name CVDF's per-class archives.
_ARCHIVE_CLASSES = (
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
        for label in _ARCHIVE_CLASSES:
            url = f"https://s3.amazonaws.com/kinetics/600/{cvdf_split}/{urllib.parse.quote(label)}.tar.gz"
            files.append(RemoteFile(url=url, name=f"{split}/{label}.tar.gz", extract_to=f"{split}/{label}"))
    return tuple(files)


# Videos: CVDF's per-class archives, exactly the 29 x 2 the official DIGAN code downloads (no
# checksums published). Annotations: ActivityNet's copy of the official Kinetics-600 CSVs, pinned to
# commit 82304fa; the val CSV's sha256 is that git blob's digest, the train CSV (over 4 MiB) could not
# be read here, so it is recorded on first download.
SOURCE = DatasetSource(
    name="kinetics_food",
    files=_cvdf_kinetics600_archives(),
    metadata=(
        RemoteFile(url=github_raw("activitynet/ActivityNet", "82304fa9f4a7219421df13dae6347a445c4cf5bc",
                                  "Crawler/Kinetics/data/kinetics-600_train.csv"),
                   name="annotations/train.csv", sha256=None),
        RemoteFile(url=github_raw("activitynet/ActivityNet", "82304fa9f4a7219421df13dae6347a445c4cf5bc",
                                  "Crawler/Kinetics/data/kinetics-600_val.csv"),
                   name="annotations/validate.csv",
                   sha256="3d596163bd75ac810e48c69662ce35ddd6737d44d351780f9533e11317a58d7a"),
    ),
)

# train|validate/[<label>/]<youtube_id>_<time_start:06d>_<time_end:06d>.mp4, annotations as published
# (label,youtube_id,time_start,time_end,split). Sources: activitynet/ActivityNet
# Crawler/Kinetics/download.py (naming, '%06d', per-label folders) and data/kinetics-600_val.csv
# (columns); cvdfoundation/kinetics-dataset extracts to val/, hence the alias.
LAYOUT = RawLayout(dirs=("train", "validate"), metadata=("annotations/train.csv", "annotations/validate.csv"),
                   aliases={"validate": ("val",)})

ANNOTATION_COLUMNS = ("label", "youtube_id", "time_start", "time_end")

# The frame side of the official data preparation before the loader's resize_crop (digan.data.preprocess
# docstring): sihyun-yu/digan prepare_data/preprocess.py, center_crop.
PREPARED_SIZE = 128

# What a plan sizes the stores from before the download (pipeline.plan). Carreira et al. 2018, "A Short Note about
# Kinetics-600" (arXiv:1808.01340): 392,622 train and 30,001 validation clips of 10 s over 600 classes (with the
# 72,924 test clips the 495,547 of the paper's App. A.2); the 29 food classes are taken at the mean class size
# (18,977 train, 1,450 validate), each clip 10 s at 30 fps (an assumption: YouTube rates vary). CVDF's archives
# average 648 GB per 427,549 train and 43 GB per 29,793 validation videos (FiftyOne's Kinetics-600 page), kept
# in the download cache beside their unpacked copy.
_FOOD_SHARE = len(_ARCHIVE_CLASSES) / 600
KNOWN = KnownCounts(lengths={"train": ((300, round(392_622 * _FOOD_SHARE)),),
                             "validate": ((300, round(30_001 * _FOOD_SHARE)),)},
                    download_bytes=2 * round((648e9 + 43e9) * _FOOD_SHARE))


def clip_name(row: dict[str, str]) -> str:
    """An annotation row's clip file stem, ``<youtube_id>_<time_start:06d>_<time_end:06d>``."""
    return f"{row['youtube_id']}_{int(float(row['time_start'])):06d}_{int(float(row['time_end'])):06d}"


def check(r: LayoutReport) -> None:
    """The food classes of the annotations, and per split which of their clips are missing."""
    origin = "official Kinetics-600 annotations"
    tables = {split: r.read_csv(f"annotations/{split}.csv", ANNOTATION_COLUMNS, origin)
              for split in ("train", "validate")}
    labels = {row["label"] for rows in tables.values() if rows for row in rows}
    food = food_classes(labels)
    r.counts["food_classes"] = food
    if labels and not food:
        r.problems.append("no annotation label matches the Kinetics-food keywords")
    for split, rows in tables.items():
        root = r.raw_dir / split
        if not root.is_dir():
            r.problems.append(f"missing directory {split}/ (Kinetics-600 clips)")
            continue
        stems = {os.path.splitext(p.name)[0] for p in walk_files(root) if suffix(p.name) in VIDEO_SUFFIXES}
        ids = {s[:11] for s in stems}  # YouTube ids are 11 characters: also match clips trimmed differently
        if rows is None:
            continue
        wanted = [row for row in rows if row["label"] in food]
        try:
            absent = [row for row in wanted if clip_name(row) not in stems and row["youtube_id"] not in ids]
        except ValueError as err:
            r.problems.append(f"annotations/{split}.csv: a time_start/time_end is not a number ({err})")
            continue
        r.missing[f"{split}_clips"] = [clip_name(row) for row in absent]
        per_class = {c: {"expected": 0, "missing": 0} for c in food}
        for row in wanted:
            per_class[row["label"]]["expected"] += 1
        for row in absent:
            per_class[row["label"]]["missing"] += 1
        r.counts[split] = {"expected_clips": len(wanted), "found_clips": len(wanted) - len(absent),
                           "video_files": len(stems), "per_class": per_class}
        if wanted and len(absent) == len(wanted):
            r.problems.append(f"none of the {len(wanted)} food clips of annotations/{split}.csv is in {split}/")


def summary(r: LayoutReport) -> list[str]:
    """The food classes found in the annotations."""
    if not r.counts.get("food_classes"):
        return []
    return [f"kinetics_food: {len(r.counts['food_classes'])} food classes: {', '.join(r.counts['food_classes'])}"]


def list_sources(raw: Path) -> Listing:
    """Food-class rows of the Kinetics-600 annotations matched to ``<id>_<start>_<end>.mp4`` clips.

    Classes are ``food_classes`` of every annotated label (the official 29), so train and
    validate stores share one class index.
    """
    rows = {}
    for partition in ("train", "validate"):
        with open(require(raw / "annotations" / f"{partition}.csv", "Kinetics annotations"), newline="") as fh:
            rows[partition] = list(csv.DictReader(fh))
    class_names = food_classes({r["label"] for part in rows.values() for r in part})
    food = {name: i for i, name in enumerate(class_names)}
    listing = Listing([], class_names, metadata_files=[raw / "annotations" / f"{p}.csv" for p in rows])
    for partition, part_rows in rows.items():  # CVDF extracts to val/: the layout's alias of validate/
        files = {p.stem: p for name in (partition, *LAYOUT.aliases.get(partition, ())) if (raw / name).is_dir()
                 for p in units_under(raw / name) if p.is_file()}
        for row in part_rows:
            ci = food.get(row["label"])
            if ci is None:
                continue
            stem = clip_name(row)
            path = files.get(stem)
            if path is None:
                listing.skipped.append({"outcome": "missing", "source": f"{partition}/{stem}.mp4",
                                        "reason": "annotated but not downloaded"})
                continue
            listing.sources.append(Source(str(path), path.relative_to(raw).as_posix(), partition, ci, row["label"],
                                          prescale=PREPARED_SIZE))
    return listing


DATASET = RealDataset(
    source=SOURCE, layout=LAYOUT, check=check, list_sources=list_sources, summary=summary, stride=1,
    scale_flags="lanczos", stores={"train": ("train",), "validate": ("validate",)}, known=KNOWN,
)
