import numpy as np
import pytest

from digan.data import video_io
from digan.data.video_io import VideoIOError, read_video, write_video


def _blocks_video(frames: int = 10, height: int = 40, width: int = 48) -> np.ndarray:
    """Flat colour quadrants plus a white block moving down: easy to compress well."""
    video = np.zeros((frames, height, width, 3), dtype=np.uint8)
    h2, w2 = height // 2, width // 2
    for t in range(frames):
        video[t, :h2, :w2] = (200, 30, 40)
        video[t, h2:, :w2] = (20, 180, 60)
        video[t, :h2, w2:] = (30, 60, 220)
        video[t, h2:, w2:] = (240, 230, 20)
        video[t, 3 * t : 3 * t + 8, 8:16] = 255
    return video


def test_mp4_round_trip(tmp_path):
    video = _blocks_video()
    path = tmp_path / "blocks.mp4"
    write_video(path, video, fps=8)
    decoded = read_video(path)
    assert decoded.shape == video.shape and decoded.dtype == np.uint8
    assert np.abs(decoded.astype(np.int16) - video).mean() < 3
    assert [p.name for p in tmp_path.iterdir()] == ["blocks.mp4"]


def test_mp4_odd_size_and_resize(tmp_path):
    video = np.random.default_rng(0).integers(0, 256, (5, 33, 31, 3), dtype=np.uint8)
    path = tmp_path / "odd.mp4"
    write_video(path, video)
    assert read_video(path).shape == (5, 33, 31, 3)
    assert read_video(path, size=(16, 20)).shape == (5, 16, 20, 3)


def test_overwrite_replaces_existing(tmp_path):
    path = tmp_path / "v.mp4"
    write_video(path, _blocks_video(frames=4))
    write_video(path, _blocks_video(frames=7))
    assert read_video(path).shape[0] == 7


def test_gif(tmp_path):
    video = _blocks_video(frames=6)
    path = tmp_path / "blocks.gif"
    write_video(path, video, fps=8)
    decoded = read_video(path)
    assert decoded.shape == video.shape
    assert np.abs(decoded.astype(np.int16) - video).mean() < 5


@pytest.mark.parametrize("content", [b"", np.random.default_rng(1).bytes(4096)])
def test_unreadable_files_raise(tmp_path, content):
    path = tmp_path / "broken.mp4"
    path.write_bytes(content)
    with pytest.raises(VideoIOError, match="broken.mp4"):
        read_video(path)


def test_missing_file_raises(tmp_path):
    with pytest.raises(VideoIOError, match="not found"):
        read_video(tmp_path / "nope.mp4")


@pytest.mark.parametrize(
    "frames, name, message",
    [
        (np.zeros((2, 8, 8, 3), dtype=np.float32), "a.mp4", "uint8"),
        (np.zeros((8, 8, 3), dtype=np.uint8), "a.mp4", "shape"),
        (np.zeros((0, 8, 8, 3), dtype=np.uint8), "a.mp4", "shape"),
        (np.zeros((2, 8, 8, 4), dtype=np.uint8), "a.mp4", "shape"),
        (np.zeros((2, 8, 8, 3), dtype=np.uint8), "a.avi", "suffix"),
    ],
)
def test_write_validates_input(tmp_path, frames, name, message):
    with pytest.raises(ValueError, match=message):
        write_video(tmp_path / name, frames)
    assert list(tmp_path.iterdir()) == []


def test_encoder_failure_cleans_up(tmp_path, monkeypatch):
    monkeypatch.setattr(video_io, "_ffmpeg", lambda: "false")
    with pytest.raises(VideoIOError, match="failed to encode"):
        write_video(tmp_path / "x.mp4", _blocks_video(frames=2))
    assert list(tmp_path.iterdir()) == []
