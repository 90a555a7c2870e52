"""Video encoding/decoding through the ffmpeg binary bundled with imageio-ffmpeg.

Frames travel over subprocess pipes as raw rgb24 so no Python video library
(and no ffprobe, which imageio-ffmpeg does not ship) is needed.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path

import imageio_ffmpeg
import numpy as np

_STDERR_TAIL_CHARS = 2000
# Frame size of the decoded (output) stream; the leading ", " skips codec tags
# such as "(avc1 / 0x31637661)" that would otherwise look like "WxH".
_OUTPUT_SIZE_RE = re.compile(r"Stream #\d+:\d+.*?: Video: .*?, (\d+)x(\d+)")


# Container suffixes ffmpeg reads that the dataset and metrics code look for (gif is handled apart).
VIDEO_SUFFIXES = (".avi", ".mp4", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".flv")
# Frame-image suffixes of datasets stored as image sequences (Sky Time-lapse, png TaiChi crops).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".ppm")


class VideoIOError(RuntimeError):
    """ffmpeg could not encode or decode a video."""


def _ffmpeg() -> str:
    return imageio_ffmpeg.get_ffmpeg_exe()


def _tail(stderr: bytes) -> str:
    return stderr.decode("utf-8", errors="replace")[-_STDERR_TAIL_CHARS:].strip()


def _encoder_args(suffix: str) -> list[str]:
    if suffix == ".mp4":
        # yuv444p keeps full-resolution chroma: 4:2:0 would smear the small
        # coloured shapes of 32x32 videos and would reject odd frame sizes.
        return [
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "12",
            "-pix_fmt", "yuv444p", "-movflags", "+faststart",
        ]
    if suffix == ".gif":
        # One-pass palette generation gives an optimal 256-colour palette for
        # the whole clip instead of ffmpeg's fixed default palette.
        return [
            "-filter_complex", "[0:v]split[a][b];[a]palettegen=stats_mode=full[p];[b][p]paletteuse",
            "-c:v", "gif",
        ]
    raise ValueError(f"unsupported video suffix {suffix!r}; use .mp4 or .gif")


def write_video(path: str | os.PathLike[str], frames: np.ndarray, fps: int = 8) -> None:
    """Encode ``frames`` ([T, H, W, 3] uint8 RGB) to ``path`` (.mp4 or .gif).

    The file is written to a temporary sibling and renamed into place, so a
    crash never leaves a truncated video under the final name.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    encoder = _encoder_args(suffix)
    frames = np.asarray(frames)
    if frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8, got {frames.dtype}")
    if frames.ndim != 4 or frames.shape[-1] != 3 or min(frames.shape[:3]) < 1:
        raise ValueError(f"frames must have shape [T>0, H>0, W>0, 3], got {frames.shape}")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    _, height, width, _ = frames.shape

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f"{path.stem}.tmp-", suffix=suffix)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        cmd = [
            _ffmpeg(), "-hide_banner", "-nostdin", "-y",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
            "-framerate", str(fps), "-i", "pipe:0", "-an", *encoder, str(tmp),
        ]
        proc = subprocess.run(
            cmd, input=np.ascontiguousarray(frames).tobytes(), capture_output=True, check=False
        )
        if proc.returncode != 0:
            raise VideoIOError(f"ffmpeg failed to encode {path}:\n{_tail(proc.stderr)}")
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_video(path: str | os.PathLike[str], size: tuple[int, int] | None = None) -> np.ndarray:
    """Decode every frame of ``path`` to a [T, H, W, 3] uint8 RGB array.

    ``size`` is ``(height, width)``; when given, ffmpeg rescales (area
    filter) while decoding. Frames are passed through unchanged in number:
    no duplication or dropping to reach a constant frame rate.
    """
    path = Path(path)
    if not path.is_file():
        raise VideoIOError(f"video file not found: {path}")
    filters = []
    if size is not None:
        height, width = size
        if height <= 0 or width <= 0:
            raise ValueError(f"size must be positive (height, width), got {size}")
        filters = ["-vf", f"scale={width}:{height}:flags=area"]
    cmd = [
        _ffmpeg(), "-hide_banner", "-nostdin", "-i", str(path), "-an", *filters,
        "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1",
    ]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    stderr = proc.stderr.decode("utf-8", errors="replace")
    if proc.returncode != 0:
        raise VideoIOError(f"ffmpeg failed to decode {path}:\n{_tail(proc.stderr)}")
    # The output stream line reports the size after autorotation and scaling,
    # i.e. exactly the layout of the bytes on stdout.
    output_section = stderr.partition("Output #0")[2]
    match = _OUTPUT_SIZE_RE.search(output_section)
    if match is None:
        raise VideoIOError(f"could not determine frame size of {path}:\n{_tail(proc.stderr)}")
    width, height = int(match.group(1)), int(match.group(2))
    frame_bytes = width * height * 3
    data = proc.stdout
    if len(data) == 0:
        raise VideoIOError(f"no frames decoded from {path}:\n{_tail(proc.stderr)}")
    if len(data) % frame_bytes:
        raise VideoIOError(
            f"decoded {len(data)} bytes from {path}, not a whole number of {width}x{height} frames"
        )
    return np.frombuffer(data, dtype=np.uint8).reshape(-1, height, width, 3).copy()
