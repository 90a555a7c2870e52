"""Real datasets (UCF-101, TaiChi-HD, Sky Time-lapse, Kinetics-food) → clip stores.

What differs per dataset (its listing of source videos, stride, stores, scale flags and prescale) lives
in its module of ``digan.data.real``; this module decodes, resamples, cuts and stores, alike for all.

Every source video is decoded by one single-threaded ffmpeg process (one per worker) that writes
rgb24 frames to a temporary raw file; the worker resamples them to R×R into another raw file (see
Resampling), the parent maps that file and the store writer copies each clip once, so no pixel data
is piped, pickled or stacked in the parent. Clips then follow the
official DIGAN dataset code (sihyun-yu/digan ``src/training/dataset.py``,
``make_imageclip_dataset``): each video is cut into non-overlapping blocks of ``frames × stride``
frames and every block gives ``stride`` clips, one per phase. With stride 1 that is
non-overlapping runs of 16 consecutive frames (Sky, Kinetics-food); with TaiChi's stride 4 a
64-frame block gives the 4 interleaved clips starting at block offsets 0, 1, 2, 3.
UCF-101 deviates: the official code samples every 16-frame window (torchvision ``VideoClips``,
``frames_between_clips=1``), which would store each frame 16 times (~2 TB at 128²); we store
the non-overlapping clips by default and ``step=1`` restores every window.

Frames are passed through as decoded (``-fps_mode passthrough``), like the official readers
(cv2, torchvision): variable-frame-rate videos are neither padded nor thinned. ffmpeg applies
rotation metadata before the crop, and converts grayscale or odd-size input to RGB.

Resampling (``resample``). ``official`` (default) follows the official loaders, which all go through
``resize_crop`` / ``resize_crop_img`` of sihyun-yu/digan ``src/training/dataset.py``: full RGB frames,
the centre square (columns ``(w-h)//2 …`` when w >= h, rows ``(h-w)//2 …`` otherwise), then
``F.interpolate(mode='bilinear', align_corners=False)`` without antialiasing. ffmpeg converts to rgb24
at the source size and crops; the worker interpolates on float32 (``official_resize``). Where the
official data preparation resized before that loader, ffmpeg does the same first (``Source.prescale``
with ``scale_flags``): Kinetics-food to 128² with ``lanczos`` (the official
``prepare_data/preprocess.py``, PIL ANTIALIAS), and TaiChi raw videos to 256² with ``bilinear``
(first-order-model's ``load_videos.py`` resizes each bbox crop to 256² with skimage's anti-aliased
resize; ffmpeg's anti-aliased triangle filter stands in for it). A frame already at the target size is
kept exactly, as ``F.interpolate`` to the same size is the identity. ``ffmpeg`` is the earlier rule: one
swscale pass crops, scales straight to R² with ``scale_flags`` and converts to RGB; its ``bilinear``
is the anti-aliased triangle filter (≈ ``antialias=True``), so down-scaled frames are smoother than
the official loader's.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any, TypeVar

import imageio_ffmpeg
import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from digan.atomic import atomic_write
from digan.data.clip_store import ClipStore, ClipStoreError, clips_from_video, write_clip_store, write_index_store
from digan.data.preprocess_config import PreprocessConfig
from digan.data.real import SPECS
from digan.data.real.listing import Listing, PreprocessError, Source, image_files

PREPROCESS_VERSION = 2  # bump when decoding or clip selection changes, so stores are rebuilt


# ---------------------------------------------------------------------------- decoding

_ERROR_RE = re.compile(r"\[(?:error|fatal|panic)\]")
_DURATION_RE = re.compile(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)")
_FPS_RE = re.compile(r"Stream #0:\d+.*?: Video: .*?(\d+(?:\.\d+)?) fps")
# Frame size of the written stream (after rotation, crop and scale); ", " skips tags like "/ 0x18424752".
_OUTPUT_SIZE_RE = re.compile(r"Stream #0:\d+.*?: Video: rawvideo[^\n]*?, (\d+)x(\d+)")
_TRUNCATED_FRACTION = 0.9  # fewer decoded frames than this share of the header's count, with errors


@dataclass
class DecodeResult:
    """How many frames of ``shape`` (height, width) are in ``frames_file``, or why there are none.

    ``errors`` are ffmpeg's error lines. The frames stay on disk (``frames_file``) so that neither
    the worker nor the pool's result pipe ever copies pixel data; the parent maps the file.
    """

    frames: int
    outcome: str  # ok | empty | unreadable | truncated
    reason: str = ""
    errors: list[str] = field(default_factory=list)
    frames_file: Path | None = None
    shape: tuple[int, int] = (0, 0)


def _ffmpeg_input(source: Source, listfile: Path) -> tuple[list[str], int | None]:
    """ffmpeg input arguments and, for frame folders, the number of images expected."""
    path = Path(source.path)
    if path.is_dir():
        images = image_files(path)
        # The concat demuxer takes an explicit, sorted file list: no glob or numbering assumptions. It resolves
        # relative entries against the list's own directory, so every entry is absolute.
        listfile.write_text("".join("file '" + str(p.absolute()).replace("'", "'\\''") + "'\n"
                                    for p in images))
        return ["-f", "concat", "-safe", "0", "-i", str(listfile)], len(images)
    if source.window is None:
        return ["-i", str(path)], None
    start, end = source.window
    return ["-ss", f"{max(start, 0.0):.6f}", "-i", str(path), "-t", f"{end - max(start, 0.0):.6f}"], None


def _expected_frames(stderr: str, source: Source) -> float | None:
    """Frame count the container header promises (duration × fps), for truncation checks."""
    fps = _FPS_RE.search(stderr)
    if fps is None:
        return None
    if source.window is not None:
        seconds = source.window[1] - max(source.window[0], 0.0)
    else:
        duration = _DURATION_RE.search(stderr)
        if duration is None:
            return None
        h, m, s = duration.groups()
        seconds = int(h) * 3600 + int(m) * 60 + float(s)
    return seconds * float(fps.group(1))


def _crop_filter(source: Source) -> str:
    """ffmpeg crop of ``source.crop``, or of the centre square (x, y default to centring: (w-h)//2)."""
    if source.crop is None:
        return "crop=w=min(iw\\,ih):h=min(iw\\,ih):exact=1"
    w, h, x, y = source.crop
    return f"crop=w={w}:h={h}:x={x}:y={y}:exact=1"


def _filter_graph(source: Source, cfg: PreprocessConfig) -> str:
    """``ffmpeg``: crop and scale to R² in one swscale pass. ``official``: RGB at the source size,
    then the crop (so odd crop offsets do not shift subsampled chroma), then the prescale if any."""
    if cfg.resample == "ffmpeg":
        return f"{_crop_filter(source)},scale={cfg.resolution}:{cfg.resolution}:flags={cfg.scale_flags}"
    graph = f"format=rgb24,{_crop_filter(source)}"
    if source.prescale is not None:
        graph += f",scale={source.prescale}:{source.prescale}:flags={cfg.scale_flags}"
    return graph


def _run_ffmpeg(source: Source, graph: str, out: Path) -> DecodeResult:
    """Decode ``source`` through ``graph`` to rgb24 frames written raw to the file ``out``.

    One single-threaded ffmpeg per source: workers run in parallel, so threads inside ffmpeg would
    only add frame-threading overhead. ffmpeg writes the file itself (no pipe), which saves the
    worker a read loop. ``out`` is removed unless the result is ``ok``.
    """
    path = Path(source.path)
    if path.is_file() and path.stat().st_size == 0:
        return DecodeResult(0, "empty", "zero-length file")
    listfile = out.with_suffix(".txt")
    try:
        inputs, n_images = _ffmpeg_input(source, listfile)
        if n_images == 0:
            return DecodeResult(0, "empty", "no frame images")
        cmd = [
            imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-y",
            "-loglevel", "repeat+level+info", "-threads", "1", "-filter_threads", "1", *inputs,
            "-an", "-sn", "-dn", "-vf", graph,
            "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", str(out),
        ]
        proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    finally:
        listfile.unlink(missing_ok=True)
    size = out.stat().st_size if out.exists() else 0  # absent when ffmpeg failed before opening it
    result = _check_decode(proc, source, size, n_images)
    if result.outcome == "ok":
        result.frames_file = out
    else:
        out.unlink(missing_ok=True)
    return result


def _check_decode(proc: subprocess.CompletedProcess[bytes], source: Source, size: int,
                  n_images: int | None) -> DecodeResult:
    """Classify an ffmpeg run by its exit status, error lines and whole frames written."""
    stderr = proc.stderr.decode("utf-8", errors="replace")
    errors = [line.strip() for line in stderr.splitlines() if _ERROR_RE.search(line)]
    match = _OUTPUT_SIZE_RE.search(stderr.partition("Output #0")[2])
    shape = (int(match.group(2)), int(match.group(1))) if match else (0, 0)
    n = size // (shape[0] * shape[1] * 3) if match else 0
    if proc.returncode != 0 or n == 0:
        tail = errors[-3:] or stderr.strip().splitlines()[-1:]
        return DecodeResult(0, "unreadable", f"ffmpeg exit {proc.returncode}, {n} frames: {' | '.join(tail)}",
                            errors)
    expected = n_images if n_images is not None else _expected_frames(stderr, source)
    if errors and expected is not None and n < _TRUNCATED_FRACTION * expected:
        return DecodeResult(0, "truncated", f"decoded {n} of ~{expected:.0f} frames: {errors[-1]}", errors)
    return DecodeResult(n, "ok", errors=errors, shape=shape)


def official_resize(frames: np.ndarray, resolution: int) -> np.ndarray:
    """[n, h, w, 3] uint8 → [n, R, R, 3] uint8 as the official loader resizes its crops.

    sihyun-yu/digan ``src/training/dataset.py`` ``resize_crop`` / ``resize_crop_img``: float frames in
    0..255, ``F.interpolate(size=R, mode='bilinear', align_corners=False)``, no antialiasing. The
    official code keeps the floats; stores hold uint8, so they are rounded to nearest (ties to even)
    and clamped to 0..255.
    """
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float()  # channels-last: the fast CPU kernel
    y = F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False, antialias=False)
    return y.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def _resize_file(result: DecodeResult, resolution: int, out: Path) -> DecodeResult:
    """``result``'s frames resized by ``official_resize`` into the file ``out``; the input file goes.

    Frames already R×R are kept as they are (the interpolation would be the identity). One frame per
    call keeps the float copies in cache: 64-frame calls take about twice as long per frame.
    """
    src = result.frames_file
    try:
        if result.shape != (resolution, resolution):
            frames = _map_frames(result, mode="c")  # copy-on-write: writable for torch, never written
            with open(out, "wb") as fh:
                for i in range(len(frames)):
                    fh.write(official_resize(frames[i : i + 1], resolution))
        else:
            src.rename(out)
    finally:
        src.unlink(missing_ok=True)
    return replace(result, frames_file=out, shape=(resolution, resolution))


def decode(source: Source, cfg: PreprocessConfig, out: Path) -> DecodeResult:
    """``source`` cut and resampled (``cfg.resample``) to ``cfg.resolution``² rgb24 frames in the raw file
    ``out``, which exists only if the result is ``ok``."""
    if cfg.resample == "ffmpeg":
        return _run_ffmpeg(source, _filter_graph(source, cfg), out)
    result = _run_ffmpeg(source, _filter_graph(source, cfg), out.with_suffix(".crop"))
    return _resize_file(result, cfg.resolution, out) if result.outcome == "ok" else result


def cut_clips(frames: np.ndarray, clip_len: int, stride: int,
              step: int | None) -> list[tuple[int, np.ndarray]]:
    """``(start_frame, clip)`` pairs: the official block rule (module docstring) or a window every ``step``."""
    if step is not None:
        return list(clips_from_video(frames, clip_len, stride, step))
    block = clip_len * stride
    return [(b + start, clip) for b in range(0, len(frames) - block + 1, block)
            for start, clip in clips_from_video(frames[b : b + block], clip_len, stride, step=1)]


def _decode_job(job: tuple[Source, PreprocessConfig, Path]) -> DecodeResult:
    """Pool task: decode one source into its own file; never raises for a bad video."""
    source, cfg, out = job
    try:
        return decode(source, cfg, out)
    except OSError as err:  # unreadable path, permissions, ffmpeg missing, disk full
        out.unlink(missing_ok=True)
        return DecodeResult(0, "unreadable", str(err))


def _map_frames(result: DecodeResult, mode: str = "r") -> np.ndarray:
    """The decoded frames [n, H, W, 3] as a map of the worker's output file (read-only by default).

    Clips are slices of the map, so each frame is copied once, by the store writer.
    """
    return np.memmap(result.frames_file, dtype=np.uint8, mode=mode, shape=(result.frames, *result.shape, 3))


def _single_thread_torch() -> None:
    """Pool initializer: each worker resizes on its own core (threads would only contend)."""
    torch.set_num_threads(1)


_T = TypeVar("_T")
_R = TypeVar("_R")


def ordered_map(fn: Callable[[_T], _R], items: Iterable[_T], workers: int,
                initializer: Callable[[], None] | None = None) -> Iterator[_R]:
    """``map`` over a process pool, in order, with at most ``2 × workers`` results in flight.

    ``Pool.imap`` would queue every finished result while the consumer writes, so memory could
    grow with the dataset; the bounded window keeps it at a few videos per worker. ``initializer``
    runs once in each worker process; with one worker ``fn`` runs in the caller, left as it is.
    """
    if workers <= 1:
        yield from map(fn, items)
        return
    with get_context("fork").Pool(workers, initializer) as pool:
        pending: deque = deque()
        for item in items:
            pending.append(pool.apply_async(fn, (item,)))
            if len(pending) >= 2 * workers:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()


# ---------------------------------------------------------------------------- stores

def _inputs_fingerprint(listing: Listing, partitions: tuple[str, ...]) -> str:
    """Hash of the metadata contents and each source's name, size and mtime."""
    digest = hashlib.sha256()
    for path in listing.metadata_files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    for s in listing.sources:
        if s.partition in partitions:
            p = Path(s.path)
            entries = [p] if p.is_file() else image_files(p)
            stats = [(e.name, e.stat().st_size, e.stat().st_mtime_ns) for e in entries]
            digest.update(json.dumps([s.name, s.partition, s.class_index, s.crop, s.window, stats]).encode())
    return digest.hexdigest()


def _store_params(dataset: str, store: str, cfg: PreprocessConfig, listing: Listing) -> dict[str, Any]:
    partitions = SPECS[dataset].stores[store]
    return {
        "preprocess_version": PREPROCESS_VERSION, "dataset": dataset, "store": store,
        "partitions": list(partitions), "resolution": cfg.resolution, "frames": cfg.frames,
        "stride": cfg.stride, "step": cfg.step, "scale_flags": cfg.scale_flags, "resample": cfg.resample,
        "inputs_sha256": _inputs_fingerprint(listing, partitions),
    }


def _is_up_to_date(store_dir: Path, params: dict[str, Any]) -> bool:
    try:
        return ClipStore(store_dir).meta.get("params") == json.loads(json.dumps(params))
    except (ClipStoreError, OSError, ValueError):
        return False


def _row(dataset: str, source: Source, start: int, stride: int) -> dict[str, Any]:
    return {"dataset": dataset, "split": source.partition, "class_index": source.class_index,
            "class_name": source.class_name, "source_video": source.name, "start_frame": start, "stride": stride}


def _derive_store(src: Path, dst: Path, partitions: tuple[str, ...], params: dict[str, Any]) -> int:
    """The clips of ``partitions`` of a superset store, as an index over it (no copy, no decoding)."""
    store = ClipStore(src)
    keep = [i for i, row in enumerate(store.manifest) if row["split"] in partitions]
    if not keep:
        raise PreprocessError(f"no clips in partitions {list(partitions)} for {dst}")
    write_index_store(dst, src, keep, params=params)
    return len(keep)


def preprocess_dataset(dataset: str, raw_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str],
                       cfg: PreprocessConfig | None = None) -> dict[str, Any]:
    """Build ``out_dir/<store>/`` clip stores and ``out_dir/report.json`` for one dataset.

    Returns the report. Does nothing (``report['status'] == 'up-to-date'``) when every requested
    store exists with the same parameters and inputs. Bad videos are skipped and listed; a
    dataset without a single clip raises ``PreprocessError`` after writing the report. ``cfg`` None: the
    stage's defaults.
    """
    cfg = cfg if cfg is not None else PreprocessConfig()
    if dataset not in SPECS:
        raise ValueError(f"unknown dataset {dataset!r}; choose from {list(SPECS)}")
    cfg = cfg.resolved(dataset)
    raw_dir, out_dir = Path(raw_dir), Path(out_dir)
    listing = SPECS[dataset].list_sources(raw_dir)
    stores = sorted(cfg.stores, key=lambda s: -len(SPECS[dataset].stores[s]))  # supersets first
    params = {s: _store_params(dataset, s, cfg, listing) for s in stores}
    report_path = out_dir / "report.json"
    if report_path.is_file() and all(_is_up_to_date(out_dir / s, params[s]) for s in stores):
        return {**json.loads(report_path.read_text()), "status": "up-to-date"}

    report: dict[str, Any] = {"dataset": dataset, "status": "built", "config": cfg.model_dump(), "stores": {},
                              "counts": {}, "skipped": list(listing.skipped), "warnings": []}
    for entry in listing.skipped:
        report["counts"][entry["outcome"]] = report["counts"].get(entry["outcome"], 0) + 1
    built: dict[str, tuple[str, ...]] = {}
    failure = None
    for store in stores:
        partitions = SPECS[dataset].stores[store]
        superset = next((b for b, parts in built.items() if set(partitions) <= set(parts)), None)
        try:
            if superset is not None:
                n = _derive_store(out_dir / superset, out_dir / store, partitions, params[store])
            else:
                n = _decode_store(dataset, listing, partitions, cfg, out_dir / store, params[store], report)
        except PreprocessError as err:
            failure = failure or err
            report["stores"][store] = {"partitions": list(partitions), "clips": 0, "error": str(err)}
            continue
        built[store] = partitions
        report["stores"][store] = {"partitions": list(partitions), "clips": n}
    with atomic_write(report_path) as fh:
        fh.write(json.dumps(report, indent=2).encode())
    if failure is not None:
        raise failure
    return report


def _source_clips(result: DecodeResult, cfg: PreprocessConfig) -> tuple[str, str, list[tuple[int, np.ndarray]]]:
    """Outcome, reason and ``(start, clip)`` pairs of one decoded source (``too_short``: no clip fits)."""
    if result.outcome != "ok":
        return result.outcome, result.reason, []
    cut = cut_clips(_map_frames(result), cfg.frames, cfg.stride, cfg.step)
    if not cut:
        need = cfg.frames * cfg.stride if cfg.step is None else (cfg.frames - 1) * cfg.stride + 1
        return "too_short", f"{result.frames} frames, a clip needs {need}", []
    return "ok", "", cut


def _decode_store(dataset: str, listing: Listing, partitions: tuple[str, ...], cfg: PreprocessConfig,
                  store_dir: Path, params: dict[str, Any], report: dict[str, Any]) -> int:
    """Decode every source of ``partitions`` in parallel and stream their clips into one store.

    Workers leave each video's frames in a raw file under a temporary directory (``TMPDIR``); at
    most ``2 × workers`` such files exist at once, and each is deleted once its clips are written.
    With the official resampling each worker also holds the frames of the video it is resizing at
    their crop size, until they are resized.
    """
    sources = [s for s in listing.sources if s.partition in partitions]
    if not sources:
        raise PreprocessError(f"{dataset}: no source videos for partitions {list(partitions)}")
    counts, num_clips = report["counts"], 0

    def clips(work: Path) -> Iterator[tuple[np.ndarray, dict[str, Any]]]:
        nonlocal num_clips
        jobs = ((s, cfg, work / f"{i}.rgb") for i, s in enumerate(sources))
        results = ordered_map(_decode_job, jobs, cfg.workers, _single_thread_torch)
        bar = tqdm(zip(sources, results), total=len(sources), desc=f"{dataset}/{store_dir.name}", unit="video")
        for source, result in bar:
            outcome, reason, cut = _source_clips(result, cfg)
            counts[outcome] = counts.get(outcome, 0) + 1
            if outcome != "ok":
                report["skipped"].append({"outcome": outcome, "source": source.name, "reason": reason})
            elif result.errors:
                report["warnings"].append({"source": source.name, "errors": result.errors[-3:]})
            for start, clip in cut:
                num_clips += 1
                yield clip, _row(dataset, source, start, cfg.stride)
            if result.frames_file is not None:
                result.frames_file.unlink()

    with tempfile.TemporaryDirectory(prefix="digan-decode-") as work:
        stream = clips(Path(work))
        try:
            write_clip_store(store_dir, stream, dataset=dataset, frames=cfg.frames, height=cfg.resolution,
                             width=cfg.resolution, class_names=listing.class_names, params=params)
        except ValueError as err:
            if num_clips == 0:
                raise PreprocessError(f"{dataset}: no usable clips for {store_dir} (see report.json)") from err
            raise
        finally:
            stream.close()  # stop the pool before its output directory goes
    return num_clips
