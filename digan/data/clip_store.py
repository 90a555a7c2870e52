"""On-disk clip store shared by the synthetic and real video datasets.

Layout of a store directory:

* ``clips.npy``   uint8 [N, T, H, W, 3], opened with ``np.load(mmap_mode='r')``
  so training reads clips lazily instead of holding the dataset in RAM;
* ``manifest.csv`` one row per clip (``MANIFEST_COLUMNS``);
* ``meta.json``   dataset name, shapes, class names and format version.

A split store (UCF-101 ``train`` of ``all``) is an *index* over another store instead of a copy:
``indices.npy`` (int64 clip numbers of the base store) in place of ``clips.npy``, and ``meta.json``
names the base directory (``"base"``, relative). At paper scale a copy would add hundreds of GB.

Stores are built in a temporary sibling directory and renamed into place, so a
directory under the final name is always complete.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from digan.atomic import fsync_dir

FORMAT_VERSION = 1
MANIFEST_COLUMNS = (
    "clip_index", "dataset", "split", "class_index", "class_name",
    "source_video", "start_frame", "stride",
)
_INT_COLUMNS = ("clip_index", "class_index", "start_frame", "stride")
_META_KEYS = ("dataset", "num_clips", "frames", "height", "width", "class_names")
_CLIPS, _MANIFEST, _META, _INDICES = "clips.npy", "manifest.csv", "meta.json", "indices.npy"


class ClipStoreError(RuntimeError):
    """A directory is not a complete, consistent clip store."""


def clips_from_video(
    frames: np.ndarray, clip_len: int, stride: int = 1, step: int | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(start_frame, clip)`` windows of ``clip_len`` frames ``stride`` apart.

    A window starts every ``step`` frames (default ``clip_len * stride``, i.e.
    non-overlapping); a video shorter than one window yields nothing. Clips are
    views into ``frames``.
    """
    if clip_len < 1 or stride < 1:
        raise ValueError(f"clip_len and stride must be >= 1, got {clip_len}, {stride}")
    step = clip_len * stride if step is None else step
    if step < 1:
        raise ValueError(f"step must be >= 1, got {step}")
    span = (clip_len - 1) * stride + 1
    for start in range(0, len(frames) - span + 1, step):
        yield start, frames[start : start + span : stride]


def _npy_header(shape: tuple[int, ...]) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)),
              "fortran_order": False, "shape": shape}
    )
    return buf.getvalue()


def _check_row(row: Mapping[str, Any], dataset: str, class_names: list[str]) -> dict[str, Any]:
    row = dict(row)
    row.setdefault("dataset", dataset)
    expected = set(MANIFEST_COLUMNS) - {"clip_index"}
    if set(row) != expected:
        raise ValueError(
            f"manifest row keys {sorted(row)} must be exactly {sorted(expected)}"
        )
    if row["dataset"] != dataset:
        raise ValueError(f"row dataset {row['dataset']!r} != store dataset {dataset!r}")
    index = int(row["class_index"])
    if not 0 <= index < len(class_names) or class_names[index] != row["class_name"]:
        raise ValueError(
            f"class_index {index} / class_name {row['class_name']!r} do not match class_names"
        )
    return row


def write_clip_store(
    out_dir: str | os.PathLike[str],
    clips: Iterable[tuple[np.ndarray, Mapping[str, Any]]],
    *,
    dataset: str,
    frames: int,
    height: int,
    width: int,
    class_names: list[str],
    params: Mapping[str, Any] | None = None,
) -> Path:
    """Stream ``(clip, manifest_row)`` pairs into a new store at ``out_dir``.

    Rows carry every manifest column except ``clip_index`` (``dataset`` may be
    omitted). Clips are appended to ``clips.npy`` as they arrive, so memory is
    bounded by one clip; the npy header is rewritten with the final count,
    relying on numpy reserving header space for the first axis to grow.
    ``params`` (JSON-serialisable) is stored in ``meta.json`` so callers can
    detect whether an existing store was built with the same settings. An
    existing store at ``out_dir`` is replaced only once the new one is complete.
    """
    out_dir = Path(out_dir)
    clip_shape = (frames, height, width, 3)
    with _building(out_dir) as tmp_dir:
        num_clips = 0
        with open(tmp_dir / _CLIPS, "wb") as data_fh, open(
            tmp_dir / _MANIFEST, "w", newline=""
        ) as csv_fh:
            header = _npy_header((0, *clip_shape))
            data_fh.write(header)
            writer = csv.DictWriter(csv_fh, fieldnames=MANIFEST_COLUMNS)
            writer.writeheader()
            for clip, row in clips:
                clip = np.asarray(clip)
                if clip.dtype != np.uint8 or clip.shape != clip_shape:
                    raise ValueError(
                        f"clip {num_clips} is {clip.dtype}{list(clip.shape)}, "
                        f"expected uint8{list(clip_shape)}"
                    )
                row = _check_row(row, dataset, class_names)
                data_fh.write(np.ascontiguousarray(clip).tobytes())
                writer.writerow({"clip_index": num_clips, **row})
                num_clips += 1
            if num_clips == 0:
                raise ValueError(f"no clips to write to {out_dir}")
            final_header = _npy_header((num_clips, *clip_shape))
            if len(final_header) != len(header):
                raise ClipStoreError(f"{num_clips} clips exceed the reserved npy header space")
            data_fh.seek(0)
            data_fh.write(final_header)
            for fh in (data_fh, csv_fh):
                fh.flush()
                os.fsync(fh.fileno())

        meta = {
            "format_version": FORMAT_VERSION,
            "dataset": dataset,
            "num_clips": num_clips,
            "frames": frames,
            "height": height,
            "width": width,
            "class_names": list(class_names),
        }
        if params is not None:
            meta["params"] = dict(params)
        with open(tmp_dir / _META, "w") as fh:
            json.dump(meta, fh, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
    return out_dir


@contextmanager
def _building(out_dir: Path) -> Iterator[Path]:
    """A temporary sibling of ``out_dir`` to build a store in: fsynced and renamed into place when the block
    succeeds, removed when it fails, so a directory under the final name is always complete."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.tmp-"))
    try:
        yield tmp_dir
        fsync_dir(tmp_dir)
        _install(tmp_dir, out_dir)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise


def _install(tmp_dir: Path, out_dir: Path) -> None:
    """Rename the finished store into place, moving any old store aside first.

    rename(2) cannot replace a non-empty directory, so an existing store is
    renamed away and deleted only after the new one holds the final name.
    """
    old_dir = None
    if out_dir.exists():
        old_dir = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.old-"))
        os.replace(out_dir, old_dir)
    os.replace(tmp_dir, out_dir)
    fsync_dir(out_dir.parent)
    if old_dir is not None:
        shutil.rmtree(old_dir)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_index_store(out_dir: str | os.PathLike[str], base_dir: str | os.PathLike[str], indices: Sequence[int], *,
                      params: Mapping[str, Any] | None = None) -> Path:
    """A store at ``out_dir`` holding clips ``indices`` of the store at ``base_dir`` without copying them
    (the module docstring); it is installed atomically, as :func:`write_clip_store`'s stores."""
    out_dir, base = Path(out_dir), ClipStore(base_dir)
    rows = np.asarray(indices, dtype=np.int64)
    if rows.size == 0:
        raise ValueError(f"no clips to index in {out_dir}")
    if rows.min() < 0 or rows.max() >= len(base):
        raise ValueError(f"indices outside the {len(base)} clips of {base.path}")
    manifest = [base.manifest[int(i)] for i in rows]
    while base.base is not None:  # an index over an index points at the store holding the clips
        rows, base = base._rows[rows], base.base
    with _building(out_dir) as tmp_dir:
        np.save(tmp_dir / _INDICES, rows)
        with open(tmp_dir / _MANIFEST, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=MANIFEST_COLUMNS)
            writer.writeheader()
            for n, row in enumerate(manifest):
                writer.writerow({**row, "clip_index": n})
        meta = {**{k: base.meta[k] for k in ("format_version", "dataset", "frames", "height", "width",
                                              "class_names")},
                "num_clips": int(rows.size), "base": os.path.relpath(base.path.resolve(), out_dir.resolve()),
                "base_meta_sha256": _sha256(base.path / _META)}
        if params is not None:
            meta["params"] = dict(params)
        (tmp_dir / _META).write_text(json.dumps(meta, indent=2))
        for name in (_INDICES, _MANIFEST, _META):
            with open(tmp_dir / name, "rb+") as fh:
                os.fsync(fh.fileno())
    return out_dir


class ClipStore:
    """Read-only random access to a clip store (memory-mapped clips), or to an index over one."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not (self.path / _META).is_file():
            raise ClipStoreError(f"{self.path} is not a complete clip store (missing {_META})")
        with open(self.path / _META) as fh:
            self.meta: dict[str, Any] = json.load(fh)
        data = _INDICES if "base" in self.meta else _CLIPS
        missing = [n for n in (_MANIFEST, data) if not (self.path / n).is_file()]
        if missing:
            raise ClipStoreError(
                f"{self.path} is not a complete clip store (missing {', '.join(missing)})"
            )
        # An index store reads its clips from the base store, through its clip numbers.
        self.base = ClipStore(self.path / self.meta["base"]) if "base" in self.meta else None
        self._rows = np.load(self.path / _INDICES) if self.base is not None else None
        if self.base is not None and _sha256(self.base.path / _META) != self.meta.get("base_meta_sha256"):
            raise ClipStoreError(f"{self.path}: its base store {self.base.path} was rebuilt since this index "
                                 "was written; build both again")
        if self.meta.get("format_version") != FORMAT_VERSION:
            raise ClipStoreError(
                f"{self.path}: unsupported format_version {self.meta.get('format_version')!r}"
            )
        missing_keys = set(_META_KEYS) - set(self.meta)
        if missing_keys:
            raise ClipStoreError(f"{self.path}: meta.json lacks {sorted(missing_keys)}")
        with open(self.path / _MANIFEST, newline="") as fh:
            reader = csv.DictReader(fh)
            if tuple(reader.fieldnames or ()) != MANIFEST_COLUMNS:
                raise ClipStoreError(f"{self.path}: manifest columns {reader.fieldnames}")
            self.manifest: list[dict[str, Any]] = [
                {k: int(v) if k in _INT_COLUMNS else v for k, v in row.items()} for row in reader
            ]
        self._clips: np.ndarray | None = None
        shape = (len(self._rows), *self.base.frames_shape) if self.base is not None else self._array().shape
        expected = (self.meta["num_clips"], *self.frames_shape)
        if shape != expected or len(self.manifest) != shape[0]:
            raise ClipStoreError(
                f"{self.path}: {data} shape {shape}, manifest rows {len(self.manifest)}, "
                f"meta expects {expected}"
            )
        self.labels = np.array([r["class_index"] for r in self.manifest], dtype=np.int64)
        self.splits = np.array([r["split"] for r in self.manifest])

    @property
    def data_files(self) -> list[Path]:
        """Every file the clips are read from (an index store's own files and its base's)."""
        own = [self.path / n for n in (_META, _MANIFEST, _INDICES if self.base is not None else _CLIPS)]
        return own + (self.base.data_files if self.base is not None else [])

    def _row(self, index: int) -> int:
        """The clip's number in the array that holds it."""
        return int(self._rows[index]) if self._rows is not None else index

    def _array(self) -> np.ndarray:
        if self.base is not None:
            return self.base._array()
        # Opened lazily so that a pickled store (e.g. sent to DataLoader
        # workers) reopens its own memmap instead of copying the clip data.
        if self._clips is None:
            try:
                self._clips = np.load(self.path / _CLIPS, mmap_mode="r")
            except ValueError as err:
                raise ClipStoreError(f"{self.path}: unreadable clips.npy ({err})") from err
        return self._clips

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_clips": None}

    @property
    def class_names(self) -> list[str]:
        return list(self.meta["class_names"])

    @property
    def frames(self) -> int:
        return int(self.meta["frames"])

    @property
    def resolution(self) -> tuple[int, int]:
        """``(height, width)`` of every clip."""
        return int(self.meta["height"]), int(self.meta["width"])

    @property
    def frames_shape(self) -> tuple[int, int, int, int]:
        """Shape ``(T, H, W, 3)`` of one clip."""
        return (self.frames, *self.resolution, 3)

    def split_indices(self, split: str) -> np.ndarray:
        """Clip indices belonging to ``split`` (e.g. ``'train'`` or ``'test'``)."""
        return np.flatnonzero(self.splits == split)

    def __len__(self) -> int:
        return len(self.manifest)

    def __getitem__(self, index: int) -> np.ndarray:
        """Clip ``index`` as a writable [T, H, W, 3] uint8 copy (safe for torch)."""
        return np.array(self._array()[self._row(index)])

    def frames_at(self, index: int, frame_indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Selected frames [K, H, W, 3] of clip ``index``, reading only those from disk.

        Frame-pair discriminators need 2 of T frames; fancy-indexing the memmap
        avoids paging in the whole clip.
        """
        return np.array(self._array()[self._row(index), np.asarray(frame_indices, dtype=np.int64)])
