"""Stage ``download@dataset``: make ``data/raw/<dataset>/`` hold the raw layout of ``digan.data.sources.RAW_LAYOUT``.

``python -m pipeline.download <dataset> [--params params.yaml] [--out data/raw]``

Either downloads the dataset's archives (resumable, sha256-verified, atomic: ``digan.download``) into a
cache beside the outputs (``<out>/.downloads/<dataset>/``, kept so a re-run or a changed source needs no
network) and unpacks them, or links the directories of a ``local_dir`` the user already has; the official
metadata files are fetched unless the local directory holds them. A layout check then writes
``report.json`` (counts, every missing item) and fails if an essential part is missing. ``.complete.json``
is written last, atomically: while it matches the source in params, a re-run does nothing.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tarfile
import urllib.error
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from tqdm import tqdm

from digan.atomic import atomic_write
from digan.config import ConfigError
from digan.data.sources import (DATASETS, RAW_LAYOUT, TAICHI_EXCLUDED_IDS, DatasetSource, RawLayout, RemoteFile,
                                check_obtainable, kinetics_food_classes, load_sources)
from digan.data.video_io import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from digan.download import ChecksumError, download

COMPLETE = ".complete.json"
REPORT = "report.json"
SHOW = 10  # missing items printed; report.json lists all of them

TAICHI_COLUMNS = ("video_id", "start", "end", "bbox", "fps", "width", "height", "partition")
KINETICS_COLUMNS = ("label", "youtube_id", "time_start", "time_end")
_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
RAR_INSTALL_HINT = ("RAR archives need bsdtar (libarchive) or unar on PATH. Install one: Debian/Ubuntu "
                    "'sudo apt-get install libarchive-tools' (or 'sudo apt-get install unar'); Fedora "
                    "'sudo dnf install bsdtar'; conda 'conda install -c conda-forge libarchive'; macOS ships bsdtar")


class StageError(RuntimeError):
    """The stage cannot finish; the message says what is missing or wrong."""


# --------------------------------------------------------------------------------------------- fetching


def _cached_digest(dest: Path, sha256: str | None) -> str:
    """The verified digest of a cached download: the published one, else the one ``digan.download``
    recorded in ``<dest>.sha256`` on first download (trust on first use)."""
    if sha256 is not None:
        return sha256
    return dest.with_name(dest.name + ".sha256").read_text().split()[0]


def fetch(remote: RemoteFile, cache: Path, raw_dir: Path, layout: RawLayout) -> dict[str, Any]:
    """Download ``remote`` into ``cache`` and install it under ``raw_dir``; return what was fetched."""
    dest = cache / remote.name
    try:
        download(remote.url, dest, remote.sha256)
    except (urllib.error.URLError, ConnectionError, TimeoutError) as err:
        raise StageError(f"could not fetch {remote.url}: {err}. A partial file is kept as {dest}.part and the "
                         f"next run resumes it") from err
    if remote.extract_to is None:
        target = raw_dir / remote.name
        with open(dest, "rb") as src, atomic_write(target) as dst:
            shutil.copyfileobj(src, dst)
    else:
        unpack(dest, raw_dir, remote.extract_to, layout)
    return {"url": remote.url, "name": remote.name, "sha256": _cached_digest(dest, remote.sha256),
            "extract_to": remote.extract_to}


# ------------------------------------------------------------------------------------------- unpacking


def _inside(root: Path, member: str, archive: Path) -> None:
    """Refuse an archive member that would land outside ``root`` (absolute path or '..')."""
    target = (root / member).resolve()
    if not target.is_relative_to(root.resolve()):
        raise StageError(f"{archive.name}: member {member!r} would be written outside {root}; refusing the archive")


def _extract_zip(archive: Path, dest: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        members = zf.infolist()
        for m in members:
            _inside(dest, m.filename, archive)
        for m in tqdm(members, desc=f"unpack {archive.name}", unit="file", file=sys.stderr):
            zf.extract(m, dest)


def _extract_tar(archive: Path, dest: Path) -> None:
    with tarfile.open(archive) as tf:
        members = tf.getmembers()
        for m in members:
            _inside(dest, m.name, archive)
        for m in tqdm(members, desc=f"unpack {archive.name}", unit="file", file=sys.stderr):
            tf.extract(m, dest, filter="data")  # also refuses links that point outside dest


def rar_command(archive: Path, dest: Path) -> list[str]:
    """The command that unpacks a RAR archive into ``dest`` with whichever supported tool is on PATH."""
    if shutil.which("bsdtar"):
        return ["bsdtar", "-x", "-f", str(archive), "-C", str(dest)]
    if shutil.which("unar"):
        return ["unar", "-q", "-f", "-D", "-o", str(dest), str(archive)]
    raise StageError(f"cannot unpack {archive.name}: {RAR_INSTALL_HINT}")


def _extract_rar(archive: Path, dest: Path) -> None:
    cmd = rar_command(archive, dest)
    print(f"unpacking {archive.name} ({archive.stat().st_size / 2**30:.1f} GiB) with {cmd[0]}; this can take "
          f"several minutes", file=sys.stderr)
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise StageError(f"{cmd[0]} failed on {archive} (exit {result.returncode}): {result.stderr.strip()[-2000:]}")
    for path in dest.rglob("*"):  # both tools refuse '..'; also refuse links leading out of dest
        if path.is_symlink() and not path.resolve().is_relative_to(dest.resolve()):
            raise StageError(f"{archive.name}: {path.relative_to(dest)} links outside the archive; refusing it")


def _extractor(archive: Path) -> Callable[[Path, Path], None]:
    name = archive.name.lower()
    if name.endswith(".zip"):
        return _extract_zip
    if name.endswith(_TAR_SUFFIXES):
        return _extract_tar
    if name.endswith(".rar"):
        return _extract_rar
    raise StageError(f"cannot tell the archive type of {archive.name} from its name; name it *.zip, *.rar "
                     f"or one of {', '.join('*' + s for s in _TAR_SUFFIXES)}")


def _remove(path: Path) -> None:
    """Delete what the stage itself put at ``path`` (a link is removed, never followed)."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def _find(root: Path, name: str, depth: int = 3) -> Path | None:
    """The shallowest entry called ``name`` under ``root`` (archives often wrap their content in a folder)."""
    level = [root]
    for _ in range(depth):
        for d in level:
            if (d / name).exists():
                return d / name
        level = sorted(p for d in level for p in d.iterdir() if p.is_dir() and not p.is_symlink())
    return None


def unpack(archive: Path, raw_dir: Path, extract_to: str, layout: RawLayout) -> None:
    """Unpack into a staging folder, then move into place: for ``extract_to="."`` every raw-layout entry
    the archive holds (at any depth up to 3, so a wrapper folder is fine); otherwise its whole content
    becomes ``raw_dir/extract_to``."""
    extract = _extractor(archive)
    staging = raw_dir / ".staging" / archive.name
    _remove(staging)
    staging.mkdir(parents=True)
    extract(archive, staging)
    if extract_to != ".":
        target = raw_dir / extract_to
        _remove(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging, target)
        return
    moved = []
    for name in layout.top_level():
        for candidate in (name, *layout.aliases.get(name, ())):
            found = _find(staging, candidate)
            if found is not None:
                _remove(raw_dir / name)
                os.replace(found, raw_dir / name)
                moved.append(name)
                break
    if not moved:
        top = sorted(p.name for p in staging.iterdir())
        raise StageError(f"{archive.name} holds none of {', '.join(layout.top_level())}; its top level holds "
                         f"{top[:SHOW]}")
    _remove(staging)


# ----------------------------------------------------------------------------------------- local_dir


def _link(link: Path, target: Path) -> None:
    """Point ``link`` at ``target`` (replacing an earlier link atomically; never a real directory)."""
    if link.exists() and not link.is_symlink() and link.is_dir():
        raise StageError(f"{link} is a directory from an earlier download; remove it to use local_dir instead")
    tmp = link.with_name(f".{link.name}.link.tmp")
    _remove(tmp)
    os.symlink(target, tmp)
    os.replace(tmp, link)


def link_local(source: DatasetSource, raw_dir: Path) -> bool:
    """Link the layout's directories (and metadata found there) from ``source.local_dir`` into
    ``raw_dir``; return whether the local directory supplied every metadata file."""
    layout = RAW_LAYOUT[source.name]
    local = Path(source.local_dir).expanduser().resolve()  # type: ignore[arg-type] (callers check it)
    if not local.is_dir():
        raise StageError(f"datasets.{source.name}.local_dir: {local} is not a directory")
    absent = []
    for name in layout.dirs:
        candidates = [local / n for n in (name, *layout.aliases.get(name, ()))]
        found = next((c for c in candidates if c.is_dir()), None)
        if found is None and len(layout.dirs) == 1:
            found = local  # local_dir is that directory itself (e.g. the folder of TaiChi videos)
        if found is None:
            absent.append(f"{name}/ (looked for {' or '.join(str(c) for c in candidates)})")
        else:
            _link(raw_dir / name, found)
    if absent:
        raise StageError(f"datasets.{source.name}.local_dir {local} lacks {'; '.join(absent)}")
    supplied = True
    for head in layout.top_level()[len(layout.dirs):]:
        paths = [m for m in layout.metadata if m.split("/")[0] == head]
        if all((local / m).is_file() for m in paths):
            _link(raw_dir / head, local / head)
        else:
            supplied = False
    return supplied


# ------------------------------------------------------------------------------------ layout checks


class Report:
    """Counts, missing items (complete lists) and problems (essential parts missing) of one layout check."""

    def __init__(self, dataset: str, raw_dir: Path) -> None:
        self.dataset, self.raw_dir = dataset, raw_dir
        self.counts: dict[str, Any] = {}
        self.missing: dict[str, list[str]] = {}
        self.problems: list[str] = []

    def read_csv(self, rel: str, columns: tuple[str, ...], origin: str) -> list[dict[str, str]] | None:
        path = self.raw_dir / rel
        if not path.is_file():
            self.problems.append(f"missing metadata file {rel} ({origin})")
            return None
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            lacking = [c for c in columns if c not in (reader.fieldnames or [])]
            if lacking:
                self.problems.append(f"{rel} lacks column(s) {', '.join(lacking)}; its header is {reader.fieldnames}")
                return None
            return list(reader)

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "ok": not self.problems, "problems": self.problems, "counts": self.counts,
                "missing": self.missing}


def _suffix(name: str) -> str:
    return os.path.splitext(name)[1].lower()


def _walk_files(root: Path) -> list[Path]:
    return [Path(d) / f for d, _, files in os.walk(root, followlinks=True) for f in files]


def check_ucf101(r: Report) -> None:
    videos_dir = r.raw_dir / "UCF-101"
    if not videos_dir.is_dir():
        r.problems.append("missing directory UCF-101/ (from UCF101.rar)")
        return
    videos = {p.relative_to(videos_dir).as_posix().lower() for p in _walk_files(videos_dir)
              if _suffix(p.name) == ".avi"}
    class_dirs = {p.name.lower() for p in videos_dir.iterdir() if p.is_dir()}
    r.counts.update(classes=len(class_dirs), videos=len(videos))
    if not videos:
        r.problems.append("UCF-101/ holds no .avi videos")
    origin = "from UCF101TrainTestSplits-RecognitionTask.zip"
    lists: dict[str, list[str]] = {}
    for rel in RAW_LAYOUT["ucf101"].metadata:
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


def check_taichi(r: Report) -> None:
    rows = r.read_csv("taichi-metadata.csv", TAICHI_COLUMNS,
                      "first-order-model data/taichi-loading/taichi-metadata.csv")
    videos_dir = r.raw_dir / "videos"
    if not videos_dir.is_dir():
        r.problems.append("missing directory videos/ (set datasets.taichi.local_dir to your TaiChi videos)")
        return
    found: dict[str, str] = {}  # video id -> "raw" (<id>.<ext>) or "cropped" (<id>#<start>#<end>…)

    def visit(entry: os.DirEntry[str], descend: bool) -> None:
        if "#" in entry.name:
            found.setdefault(entry.name.split("#")[0], "cropped")
        elif entry.is_file() and _suffix(entry.name) in VIDEO_SUFFIXES:
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
    expected = [i for i in ids if i not in TAICHI_EXCLUDED_IDS]
    r.missing["videos"] = [i for i in expected if i not in found]
    r.counts.update(metadata_chunks=len(rows), metadata_videos=len(ids),
                    excluded_by_paper=len(set(ids) & TAICHI_EXCLUDED_IDS), expected_videos=len(expected),
                    found_videos=len(expected) - len(r.missing["videos"]),
                    excluded_present=sorted(TAICHI_EXCLUDED_IDS & found.keys()),
                    not_in_metadata=sorted(found.keys() - set(ids)))
    if len(expected) == len(r.missing["videos"]):
        r.problems.append(f"none of the {len(expected)} metadata video ids has a video in {videos_dir}")


def check_sky(r: Report) -> None:
    for split in RAW_LAYOUT["sky"].dirs:
        root = r.raw_dir / split
        if not root.is_dir():
            r.problems.append(f"missing directory {split}/ (from the sky_timelapse dataset of weixiong-ur/mdgan)")
            continue
        clips: dict[str, int] = {}
        for d, _, files in os.walk(root, followlinks=True):
            frames = sum(_suffix(f) in IMAGE_SUFFIXES for f in files)
            if frames:
                clips[Path(d).relative_to(root).as_posix()] = frames
        videos = sorted(p.name for p in root.iterdir() if p.is_dir())
        with_frames = {c.split("/")[0] for c in clips}
        r.counts[split] = {"videos": len(videos), "clips": len(clips), "frames": sum(clips.values())}
        r.missing[f"{split}_videos_without_frames"] = [v for v in videos if v not in with_frames]
        if not clips:
            r.problems.append(f"{split}/ holds no image frames (expected <video>/<clip>/<frame>.jpg)")


def _clip_name(row: dict[str, str]) -> str:
    return f"{row['youtube_id']}_{int(float(row['time_start'])):06d}_{int(float(row['time_end'])):06d}"


def check_kinetics_food(r: Report) -> None:
    origin = "official Kinetics-600 annotations"
    tables = {split: r.read_csv(f"annotations/{split}.csv", KINETICS_COLUMNS, origin)
              for split in ("train", "validate")}
    labels = {row["label"] for rows in tables.values() if rows for row in rows}
    food = kinetics_food_classes(labels)
    r.counts["food_classes"] = food
    if labels and not food:
        r.problems.append("no annotation label matches the Kinetics-food keywords")
    for split, rows in tables.items():
        root = r.raw_dir / split
        if not root.is_dir():
            r.problems.append(f"missing directory {split}/ (Kinetics-600 clips)")
            continue
        stems = {os.path.splitext(p.name)[0] for p in _walk_files(root) if _suffix(p.name) in VIDEO_SUFFIXES}
        ids = {s[:11] for s in stems}  # YouTube ids are 11 characters: also match clips trimmed differently
        if rows is None:
            continue
        wanted = [row for row in rows if row["label"] in food]
        try:
            absent = [row for row in wanted if _clip_name(row) not in stems and row["youtube_id"] not in ids]
        except ValueError as err:
            r.problems.append(f"annotations/{split}.csv: a time_start/time_end is not a number ({err})")
            continue
        r.missing[f"{split}_clips"] = [_clip_name(row) for row in absent]
        per_class = {c: {"expected": 0, "missing": 0} for c in food}
        for row in wanted:
            per_class[row["label"]]["expected"] += 1
        for row in absent:
            per_class[row["label"]]["missing"] += 1
        r.counts[split] = {"expected_clips": len(wanted), "found_clips": len(wanted) - len(absent),
                           "video_files": len(stems), "per_class": per_class}
        if wanted and len(absent) == len(wanted):
            r.problems.append(f"none of the {len(wanted)} food clips of annotations/{split}.csv is in {split}/")


CHECKS: dict[str, Callable[[Report], None]] = {
    "ucf101": check_ucf101, "taichi": check_taichi, "sky": check_sky, "kinetics_food": check_kinetics_food,
}


def check_layout(dataset: str, raw_dir: Path) -> Report:
    """Run the dataset's layout check and write ``report.json``."""
    report = Report(dataset, raw_dir)
    CHECKS[dataset](report)
    with atomic_write(raw_dir / REPORT) as f:
        f.write(json.dumps(report.to_dict(), indent=2).encode())
    return report


def _summarise(report: Report) -> None:
    for key, items in report.missing.items():
        if items:
            shown = ", ".join(items[:SHOW]) + (", …" if len(items) > SHOW else "")
            print(f"{report.dataset}: {len(items)} {key} missing: {shown} (full list: {report.raw_dir / REPORT}, "
                  f"missing.{key})", file=sys.stderr)
    if report.dataset == "taichi" and "expected_videos" in report.counts:
        print(f"taichi: {report.counts['found_videos']} of {report.counts['expected_videos']} videos present "
              f"({report.counts['excluded_by_paper']} excluded by the paper are not expected)", file=sys.stderr)
    if report.dataset == "kinetics_food" and report.counts.get("food_classes"):
        print(f"kinetics_food: {len(report.counts['food_classes'])} food classes: "
              f"{', '.join(report.counts['food_classes'])}", file=sys.stderr)


# ---------------------------------------------------------------------------------------------- stage


def _as_json(source: DatasetSource) -> dict[str, Any]:
    return json.loads(json.dumps(dataclasses.asdict(source)))


def run(source: DatasetSource, out: Path, downloads: Path) -> Report | None:
    """Fetch or link ``source`` into ``out/<name>``; None when it was already complete."""
    raw_dir = out / source.name
    complete = raw_dir / COMPLETE
    if complete.is_file() and json.loads(complete.read_text()).get("source") == _as_json(source):
        print(f"{source.name}: {raw_dir} is complete ({COMPLETE} matches the source in params); nothing to do",
              file=sys.stderr)
        return None
    check_obtainable(source)
    raw_dir.mkdir(parents=True, exist_ok=True)
    complete.unlink(missing_ok=True)
    layout = RAW_LAYOUT[source.name]
    cache = downloads / source.name
    fetched = []
    if source.local_dir is not None:
        pending = [] if link_local(source, raw_dir) else list(source.metadata)
    else:
        for name in layout.top_level():  # links from an earlier local_dir run: never unpack into the user's folders
            if (raw_dir / name).is_symlink():
                (raw_dir / name).unlink()
        pending = [*source.files, *source.metadata]
    for i, remote in enumerate(pending, 1):
        print(f"{source.name}: [{i}/{len(pending)}] {remote.url}", file=sys.stderr)
        fetched.append(fetch(remote, cache, raw_dir, layout))
    _remove(raw_dir / ".staging")
    report = check_layout(source.name, raw_dir)
    _summarise(report)
    if report.problems:
        raise StageError(f"{source.name}: essential parts are missing (see {raw_dir / REPORT}):\n  - "
                         + "\n  - ".join(report.problems))
    record = {"dataset": source.name, "source": _as_json(source), "fetched": fetched,
              "local_dir": str(Path(source.local_dir).expanduser().resolve()) if source.local_dir else None,
              "report": REPORT}
    with atomic_write(complete) as f:
        f.write(json.dumps(record, indent=2).encode())
    return report


def read_params(path: Path) -> dict[str, Any]:
    """params.yaml as a mapping; an absent file means every dataset takes its default source."""
    if not path.is_file():
        print(f"{path} not found: using the default dataset sources", file=sys.stderr)
        return {}
    return yaml.safe_load(path.read_text()) or {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.download", description=__doc__.split("\n")[0])
    parser.add_argument("dataset", choices=DATASETS)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--out", type=Path, default=Path("data/raw"))
    parser.add_argument("--downloads", type=Path, default=None,
                        help="download cache (default: <out>/.downloads); kept so re-runs need no network")
    args = parser.parse_args(argv)
    try:
        source = load_sources(read_params(args.params))[args.dataset]
        run(source, args.out, args.downloads or args.out / ".downloads")
    except (ConfigError, StageError, ChecksumError) as err:
        print(f"download {args.dataset}: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
