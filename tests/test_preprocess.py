"""Real-dataset preprocessing on real encoded videos: paper §4 / Appendix A.2 data rules.

Every test video frame k shows a known pattern: inside the region the paper keeps (UCF-101's centre
240×240, TaiChi's bbox) the frame index is encoded in the R and G levels, with a white bar in the
top-right quarter; outside it is pure blue. After crop + resize to R² no blue may remain, the bar
must sit in the top-right quarter, and the decoded index says which source frame each clip frame is.
Resampling is checked on a moving noise texture, against references computed here from full decodes.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from digan.config import ConfigError
from digan.data.clip_store import ClipStore
from digan.data.preprocess import PreprocessConfig, PreprocessError, cut_clips, preprocess_dataset
from digan.data.real.taichi import EXCLUDED_IDS
from digan.data.video_io import read_video

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
REPO = Path(__file__).resolve().parents[1]
RES = 32
EXCLUDED = sorted(EXCLUDED_IDS)[0]


def pattern(n: int, width: int = 320, height: int = 240, box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """[n, H, W, 3] frames; ``box`` = (left, top, right, bottom) of the kept region (default centre square)."""
    if box is None:
        side = min(width, height)
        left, top = (width - side) // 2, (height - side) // 2
        box = (left, top, left + side, top + side)
    left, top, right, bottom = box
    frames = np.zeros((n, height, width, 3), np.uint8)
    frames[..., 2] = 255
    for k in range(n):
        frames[k, top:bottom, left:right] = (4 * (k % 64), 64 * (k // 64) + 32, 128)
    mid_x, mid_y = (left + right) // 2, (top + bottom) // 2
    frames[:, top:mid_y, mid_x:right] = 255
    return frames


def encode(path: Path, frames: np.ndarray, *out_args: str, fps: int = 10) -> Path:
    """Near-lossless encode by the codec the suffix implies (x264 qp 0 in mp4, ffv1 in avi)."""
    codec = {".mp4": ["-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv444p"],
             ".avi": ["-c:v", "ffv1"]}[path.suffix]
    path.parent.mkdir(parents=True, exist_ok=True)
    _, h, w, _ = frames.shape
    subprocess.run([FFMPEG, "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
                    "-framerate", str(fps), "-i", "pipe:0", *codec, *out_args, str(path)],
                   input=frames.tobytes(), check=True)
    return path


def write_pngs(folder: Path, frames: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    _, h, w, _ = frames.shape
    subprocess.run([FFMPEG, "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
                    "-i", "pipe:0", str(folder / "frame%05d.png")], input=frames.tobytes(), check=True)


def frame_indices(clip: np.ndarray) -> list[int]:
    """Source frame index of each clip frame, read from the bottom half (no bar there)."""
    bottom = clip[:, RES // 2 + 1 :, :, :2].reshape(len(clip), -1, 2).astype(float).mean(axis=1)
    return [int(round(r / 4)) + 64 * int(round((g - 32) / 64)) for r, g in bottom]


def assert_cropped(clip: np.ndarray, tol: float = 6.0) -> None:
    """Only the kept region is visible and the bar lies in the top-right quarter.

    The three checks cover every border pixel, so blue from outside the crop would fail one.
    """
    c = clip.astype(float)
    q, m = RES // 2, 2  # skip pixels next to the bar's edges, where the filter blends
    assert np.abs(c[:, : q - m, q + m :] - 255).max() <= tol
    assert np.abs(c[:, q + m :, :, 2] - 128).max() <= tol
    assert np.abs(c[:, : q - m, : q - m, 2] - 128).max() <= tol


def cfg(**kw) -> PreprocessConfig:
    return PreprocessConfig(resolution=RES, workers=2, **kw)


@pytest.fixture
def ucf_raw(tmp_path: Path) -> Path:
    """Official split formats; one good video per outcome plus every kind of bad file."""
    raw = tmp_path / "raw" / "ucf101"
    lists = raw / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    (lists / "classInd.txt").write_text("1 Archery\n2 HandstandPushups\n")
    train = ["Archery/v_Archery_g08_c01.avi", "Archery/v_Archery_g08_c02.mp4",
             "HandstandPushups/v_HandStandPushups_g08_c01.avi", "Archery/v_Archery_g09_c01.avi",
             "Archery/v_Archery_g09_c02.mp4", "Archery/v_Archery_g09_c03.mp4", "Archery/v_Archery_g09_c04.avi",
             "Archery/v_Archery_g09_c05.mp4", "Archery/v_Archery_g09_c06.mp4", "Archery/v_Archery_g09_c07.mp4"]
    (lists / "trainlist01.txt").write_text(
        "".join(f"{v} {1 + v.startswith('Handstand')}\n" for v in train) + "Archery/v_Archery_g10_c01.avi 1\n")
    (lists / "testlist01.txt").write_text(
        "Archery/v_Archery_g01_c01.mp4\nHandstandPushups/v_HandStandPushups_g01_c01.avi\n")
    v = raw / "UCF-101"
    encode(v / "Archery/v_Archery_g08_c01.avi", pattern(40))                       # 2 clips
    encode(v / "Archery/v_Archery_g08_c02.mp4", pattern(33))                       # 2 clips
    encode(v / "HandstandPushups/v_HandstandPushups_g08_c01.avi", pattern(16))    # case differs from list
    encode(v / "Archery/v_Archery_g01_c01.mp4", pattern(20))                       # test, 1 clip
    encode(v / "HandstandPushups/v_HandStandPushups_g01_c01.avi", pattern(16))    # test, 1 clip
    gray = pattern(16).copy()
    gray[:] = gray.mean(axis=-1, keepdims=True).astype(np.uint8)
    encode(v / "Archery/v_Archery_g09_c01.avi", gray, "-pix_fmt", "gray")         # grayscale, 1 clip
    odd = pattern(16, 321, 241)
    encode(v / "Archery/v_Archery_g09_c02.mp4", odd)                               # 321×241, 1 clip
    (v / "Archery/v_Archery_g09_c03.mp4").write_bytes(np.random.default_rng(0).bytes(5000))  # corrupt
    whole = encode(tmp_path / "whole.mp4", pattern(64), "-movflags", "+faststart").read_bytes()
    (v / "Archery/v_Archery_g09_c04.avi").write_bytes(b"")                         # zero-length
    (v / "Archery/v_Archery_g09_c05.mp4").write_bytes(whole[: len(whole) // 2])    # truncated
    encode(v / "Archery/v_Archery_g09_c06.mp4", pattern(10))                       # too short
    encode(v / "Archery/v_Archery_g09_c07.mp4", pattern(16), "-vf", "setpts=N*(N+1)/20/TB",
           "-fps_mode", "vfr")                                                      # variable frame rate
    encode(v / "Archery/v_Archery_g99_c01.mp4", pattern(16))                       # in no list
    return raw


def test_ucf101_centre_crop_resize_non_overlapping_clips_and_official_splits(ucf_raw: Path, tmp_path: Path) -> None:
    out = tmp_path / "clips" / "ucf101"
    report = preprocess_dataset("ucf101", ucf_raw, out, cfg())
    all_store, train_store = ClipStore(out / "all"), ClipStore(out / "train")
    assert all_store.class_names == ["Archery", "HandstandPushups"]
    by_video: dict[str, list[tuple[int, int]]] = {}
    for i, row in enumerate(all_store.manifest):
        clip = all_store[i]
        assert clip.shape == (16, RES, RES, 3)
        if "g09_c01" not in row["source_video"]:  # grayscale has no colour to check
            assert_cropped(clip)
            assert frame_indices(clip) == list(range(row["start_frame"], row["start_frame"] + 16))
        by_video.setdefault(row["source_video"].split("/")[-1], []).append((row["start_frame"], i))
        assert row["stride"] == 1 and row["dataset"] == "ucf101"
    starts = {k: [s for s, _ in v] for k, v in by_video.items()}
    assert starts == {"v_Archery_g08_c01.avi": [0, 16], "v_Archery_g08_c02.mp4": [0, 16],
                      "v_HandstandPushups_g08_c01.avi": [0], "v_Archery_g01_c01.mp4": [0],
                      "v_HandStandPushups_g01_c01.avi": [0], "v_Archery_g09_c01.avi": [0],
                      "v_Archery_g09_c02.mp4": [0], "v_Archery_g09_c07.mp4": [0]}
    gray = all_store[by_video["v_Archery_g09_c01.avi"][0][1]].astype(int)
    assert np.abs(gray[..., 0] - gray[..., 2]).max() <= 2  # grey in, grey RGB out
    labels = {r["source_video"].split("/")[-1]: (r["split"], r["class_index"], r["class_name"])
              for r in all_store.manifest}
    assert labels["v_HandstandPushups_g08_c01.avi"] == ("train", 1, "HandstandPushups")
    assert labels["v_HandStandPushups_g01_c01.avi"] == ("test", 1, "HandstandPushups")
    assert labels["v_Archery_g01_c01.mp4"] == ("test", 0, "Archery")
    # `train` is the trainlist01 subset of `all`, clip for clip.
    train_rows = [r for r in all_store.manifest if r["split"] == "train"]
    assert len(train_store) == len(train_rows) == len(all_store) - 2
    assert set(train_store.splits) == {"train"}
    assert train_store.base is not None and not (out / "train" / "clips.npy").exists()  # an index, not a copy
    for j, row in enumerate(train_rows):
        np.testing.assert_array_equal(train_store[j], all_store[row["clip_index"]])

    skipped = {e["source"].split("/")[-1]: e["outcome"] for e in report["skipped"]}
    assert skipped == {"v_Archery_g09_c03.mp4": "unreadable", "v_Archery_g09_c04.avi": "empty",
                       "v_Archery_g09_c05.mp4": "truncated", "v_Archery_g09_c06.mp4": "too_short",
                       "v_Archery_g10_c01.avi": "missing", "v_Archery_g99_c01.mp4": "unlisted"}
    on_disk = json.loads((out / "report.json").read_text())
    assert on_disk["counts"] == {"ok": 8, "unreadable": 1, "empty": 1, "truncated": 1, "too_short": 1,
                                 "missing": 1, "unlisted": 1}
    assert on_disk["stores"] == {"all": {"partitions": ["train", "test"], "clips": 10},
                                 "train": {"partitions": ["train"], "clips": 8}}


def texture(n: int, width: int, height: int) -> np.ndarray:
    """[n, H, W, 3] uniform noise drifting by (1, 2) pixels a frame: detail at every scale, as in bench/data.py."""
    tile = np.random.default_rng(1).integers(0, 256, (height + n, width + 2 * n, 3), dtype=np.uint8)
    return np.stack([tile[k : k + height, 2 * k : 2 * k + width] for k in range(n)])


def ucf_with(raw: Path, frames: np.ndarray, *encode_args: str) -> Path:
    """A UCF-101 layout holding one training video of ``frames``; returns the video's path."""
    lists = raw / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    (lists / "classInd.txt").write_text("1 Drift\n")
    (lists / "trainlist01.txt").write_text("Drift/v_Drift_g01_c01.mp4 1\n")
    (lists / "testlist01.txt").write_text("")
    return encode(raw / "UCF-101" / "Drift" / "v_Drift_g01_c01.mp4", frames, *encode_args)


def store_frames(out: Path) -> np.ndarray:
    """The first 16·k frames of the one-video store, clip after clip (stride 1: consecutive frames)."""
    store = ClipStore(out / "all")
    assert [r["start_frame"] for r in store.manifest] == [16 * i for i in range(len(store))]
    return np.concatenate([store[i] for i in range(len(store))])


def official_reference(path: Path, res: int) -> np.ndarray:
    """sihyun-yu/digan resize_crop, written out here: full rgb24 decode, centre square, bilinear
    align_corners=False without antialiasing on floats, then rounded to uint8."""
    frames = read_video(path)
    _, h, w, _ = frames.shape
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = torch.from_numpy(frames[:, top : top + side, left : left + side].copy()).permute(0, 3, 1, 2)
    out = F.interpolate(square.float().contiguous(), size=res, mode="bilinear", align_corners=False)
    return out.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def ffmpeg_crop_scale(path: Path, res: int = RES) -> np.ndarray:
    """The earlier decode: centre square, ffmpeg bilinear to res², rgb24 on a pipe."""
    out = subprocess.run([FFMPEG, "-v", "error", "-i", str(path), "-vf",
                          f"crop=w=min(iw\\,ih):h=min(iw\\,ih),scale={res}:{res}:flags=bilinear",
                          "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"], capture_output=True, check=True).stdout
    return np.frombuffer(out, np.uint8).reshape(-1, res, res, 3)


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """TMPDIR for the workers' raw frame files: a test checks that nothing is left there."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr("tempfile.tempdir", None)  # re-read TMPDIR
    return scratch


@pytest.mark.parametrize(("width", "height", "res"), [(320, 240, 64), (322, 240, 32), (240, 320, 48), (64, 48, 48)])
def test_official_resampling_is_crop_then_bilinear_without_antialiasing(
        tmp_path: Path, scratch: Path, width: int, height: int, res: int) -> None:
    """Equal to the official resize_crop of a full decode, to the rounding: 320×240 → 64 is a 3.75×
    reduction, 322 gives an odd crop offset on 4:2:0 chroma, 240×320 crops rows, 48² is kept as decoded."""
    raw = tmp_path / "raw" / "ucf101"
    video = ucf_with(raw, texture(32, width, height), "-pix_fmt", "yuv420p")
    out = tmp_path / "clips"
    preprocess_dataset("ucf101", raw, out, PreprocessConfig(resolution=res, workers=2, stores=("all",)))
    assert list(scratch.iterdir()) == []
    ours, reference = store_frames(out).astype(int), official_reference(video, res).astype(int)
    assert ours.shape == reference.shape == (32, res, res, 3)
    assert np.abs(ours - reference).max() <= (0 if res == height else 1)


def test_ffmpeg_resampling_is_ffmpeg_crop_scale_bit_for_bit_and_decode_files_are_removed(
        ucf_raw: Path, tmp_path: Path, scratch: Path) -> None:
    """Workers hand frames over through raw files in TMPDIR: nothing may change them or be left there."""
    out = tmp_path / "clips" / "ucf101"
    preprocess_dataset("ucf101", ucf_raw, out, cfg(stores=("all",), resample="ffmpeg"))
    assert list(scratch.iterdir()) == []  # also after the unreadable, truncated and too-short videos
    store = ClipStore(out / "all")
    video = "UCF-101/Archery/v_Archery_g08_c01.avi"
    frames = ffmpeg_crop_scale(ucf_raw / video)
    rows = [(i, r["start_frame"]) for i, r in enumerate(store.manifest) if r["source_video"] == video]
    assert [s for _, s in rows] == [0, 16]
    for i, start in rows:
        np.testing.assert_array_equal(store[i], frames[start : start + 16])


def test_official_and_ffmpeg_resampling_differ_on_texture(tmp_path: Path) -> None:
    """Aliasing without the anti-aliasing filter: the two rules are far apart on fine detail, so the
    reference comparisons above can fail."""
    raw = tmp_path / "raw" / "ucf101"
    video = ucf_with(raw, texture(16, 320, 240), "-pix_fmt", "yuv420p")
    stores = {}
    for resample in ("official", "ffmpeg"):
        preprocess_dataset("ucf101", raw, tmp_path / resample,
                           PreprocessConfig(resolution=64, workers=1, stores=("all",), resample=resample))
        stores[resample] = store_frames(tmp_path / resample).astype(int)
    np.testing.assert_array_equal(stores["ffmpeg"], ffmpeg_crop_scale(video, 64))
    difference = np.abs(stores["official"] - stores["ffmpeg"])
    print(f"official vs ffmpeg resampling at 64²: mean {difference.mean():.2f}, max {difference.max()} levels")
    assert difference.mean() > 10
    # Anti-aliasing averages the noise towards grey; the official rule keeps single source pixels.
    assert stores["official"].std() > 1.5 * stores["ffmpeg"].std()


def test_resample_is_a_preprocess_param_per_dataset() -> None:
    from pipeline.preprocess import config_from_params

    params = {"preprocess": {"resample": "ffmpeg", "sky": {"resample": "official"}}}
    assert config_from_params(params, "ucf101").resample == "ffmpeg"
    assert config_from_params(params, "sky").resample == "official"
    assert PreprocessConfig().resample == "official"
    with pytest.raises(ValueError, match="resample 'area'"):
        config_from_params({"preprocess": {"resample": "area"}}, "sky")


@pytest.mark.parametrize("section, message", [
    ({"sky": {"stride": 0}}, "preprocess.sky.stride: must be >= 1, got 0"),
    ({"stride": True}, "preprocess.stride: expected an integer, got True"),
    ({"scale_flags": "Bi Linear"}, "preprocess.scale_flags: 'Bi Linear' is not an ffmpeg sws flag list"),
    ({"stores": "all"}, "preprocess.stores: expected a list"),
    ({"ucf101": {"stores": ["al"]}}, "preprocess.ucf101.stores: unknown stores ['al'] of ucf101"),
    ({"sky": 3}, "preprocess.sky: expected a mapping, got 3"),
])
def test_bad_preprocess_params_name_the_key(section: dict, message: str) -> None:
    from pipeline.preprocess import config_from_params

    with pytest.raises(ConfigError) as err:
        config_from_params({"preprocess": section}, "ucf101")
    assert str(err.value).startswith(message)


def test_rerun_with_same_inputs_does_nothing_and_changed_params_rebuild(ucf_raw: Path, tmp_path: Path) -> None:
    out = tmp_path / "clips" / "ucf101"
    preprocess_dataset("ucf101", ucf_raw, out, cfg(stores=("all",)))
    stamp = (out / "all" / "clips.npy").stat().st_mtime_ns, (out / "report.json").stat().st_mtime_ns
    assert preprocess_dataset("ucf101", ucf_raw, out, cfg(stores=("all",)))["status"] == "up-to-date"
    assert ((out / "all" / "clips.npy").stat().st_mtime_ns, (out / "report.json").stat().st_mtime_ns) == stamp
    assert preprocess_dataset("ucf101", ucf_raw, out, cfg(stores=("all",), resample="ffmpeg"))["status"] == "built"
    # A window every 4 frames (official UCF-101 sampling uses 1) is a different store.
    report = preprocess_dataset("ucf101", ucf_raw, out, cfg(stores=("all",), step=4))
    assert report["status"] == "built" and report["stores"]["all"]["clips"] > 10
    encode(ucf_raw / "UCF-101/Archery/v_Archery_g10_c01.avi", pattern(16))  # a missing video arrives
    assert preprocess_dataset("ucf101", ucf_raw, out, cfg(stores=("all",), step=4))["status"] == "built"


def test_taichi_stride_4_blocks_and_excluded_ids_from_cropped_output(tmp_path: Path) -> None:
    raw = tmp_path / "raw" / "taichi"
    encode(raw / "train" / "abcdefghijk#000010#000200.mp4", pattern(140, 256, 256))  # 2 blocks of 64
    write_pngs(raw / "videos" / "test" / "zyxwvutsrqp#000000#000070.mp4", pattern(70, 256, 256))  # png folder
    encode(raw / "train" / f"{EXCLUDED}#000000#000100.mp4", pattern(64, 256, 256))
    out = tmp_path / "clips" / "taichi"
    report = preprocess_dataset("taichi", raw, out, cfg())
    store = ClipStore(out / "all")
    starts = {}
    for i, row in enumerate(store.manifest):
        assert row["stride"] == 4
        assert frame_indices(store[i]) == [row["start_frame"] + 4 * t for t in range(16)]
        assert_cropped(store[i])
        starts.setdefault((row["source_video"].split("#")[0], row["split"]), []).append(row["start_frame"])
    assert starts == {("train/abcdefghijk", "train"): [0, 1, 2, 3, 64, 65, 66, 67],
                      ("videos/test/zyxwvutsrqp", "test"): [0, 1, 2, 3]}
    assert [(e["outcome"], e["source"]) for e in report["skipped"]] == [
        ("excluded", f"train/{EXCLUDED}#000000#000100.mp4")]


def test_taichi_raw_videos_are_cut_and_cropped_by_the_metadata(tmp_path: Path) -> None:
    raw = tmp_path / "raw" / "taichi"
    # Metadata refers to a 640×480 copy at 10 fps; the download is 320×240, so the bbox halves.
    encode(raw / "videos" / "abcdefghijk.mp4", pattern(160, 320, 240, box=(60, 40, 220, 200)), fps=10)
    (raw / "taichi-metadata.csv").write_text(
        "video_id,start,end,bbox,fps,width,height,partition\n"
        "abcdefghijk,20,90,120-80-440-400,10,640,480,train\n"
        "abcdefghijk,90,155,120-80-440-400,10,640,480,test\n"
        f"{EXCLUDED},0,100,0-0-100-100,10,640,480,train\n"
        "missingvid0,0,100,0-0-100-100,10,640,480,train\n")
    out = tmp_path / "clips" / "taichi"
    report = preprocess_dataset("taichi", raw, out, cfg())
    store = ClipStore(out / "all")
    firsts = []
    for i, row in enumerate(store.manifest):
        assert_cropped(store[i])
        firsts.append((row["split"], frame_indices(store[i])))
    # Frames 20..89 (70 frames: one 64-frame block) and 90..154 (65 frames: one block).
    assert firsts == [("train", [20 + p + 4 * t for t in range(16)]) for p in range(4)] + \
                     [("test", [90 + p + 4 * t for t in range(16)]) for p in range(4)]
    assert sorted(e["outcome"] for e in report["skipped"]) == ["excluded", "missing"]


def test_sky_frame_folders_keep_the_official_split_and_report_short_videos(tmp_path: Path) -> None:
    raw = tmp_path / "raw" / "sky"
    write_pngs(raw / "sky_train" / "vidA" / "1", pattern(40, 64, 36))
    write_pngs(raw / "sky_train" / "vidA" / "2", pattern(9, 64, 36))
    write_pngs(raw / "sky_test" / "vidB" / "1", pattern(16, 64, 36))
    out = tmp_path / "clips" / "sky"
    report = preprocess_dataset("sky", raw, out, cfg())
    train, test = ClipStore(out / "train"), ClipStore(out / "test")
    assert [(r["source_video"], r["start_frame"]) for r in train.manifest] == [
        ("sky_train/vidA/1", 0), ("sky_train/vidA/1", 16)]
    assert [r["split"] for r in test.manifest] == ["test"]
    assert frame_indices(train[1]) == list(range(16, 32))
    assert_cropped(test[0])
    assert [(e["outcome"], e["source"]) for e in report["skipped"]] == [("too_short", "sky_train/vidA/2")]


def test_frame_folders_under_a_relative_raw_directory_decode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stage's default --raw data/raw is relative: ffmpeg's concat list must still find every frame."""
    write_pngs(tmp_path / "raw" / "sky" / "sky_train" / "vidA" / "1", pattern(16, 64, 36))
    write_pngs(tmp_path / "raw" / "sky" / "sky_test" / "vidB" / "1", pattern(16, 64, 36))
    monkeypatch.chdir(tmp_path)
    report = preprocess_dataset("sky", Path("raw/sky"), Path("clips/sky"), cfg())
    assert report["stores"]["train"]["clips"] == 1 and report["skipped"] == []


def test_kinetics_food_classes_from_annotations_and_rotation_metadata(tmp_path: Path) -> None:
    raw = tmp_path / "raw" / "kinetics_food"
    header = "label,youtube_id,time_start,time_end,split\n"
    (raw / "annotations").mkdir(parents=True)
    (raw / "annotations" / "train.csv").write_text(
        header + "making tea,aaaaaaaaaaa,5,15,train\nbarbequing,bbbbbbbbbbb,0,10,train\n"
                 "playing guitar,ccccccccccc,0,10,train\n")
    (raw / "annotations" / "validate.csv").write_text(header + "making tea,ddddddddddd,30,40,validate\n")
    rotated = encode(tmp_path / "plain.mp4", pattern(16))
    (raw / "train" / "barbequing").mkdir(parents=True)
    subprocess.run([FFMPEG, "-v", "error", "-display_rotation", "90", "-i", str(rotated), "-c", "copy",
                    str(raw / "train" / "barbequing" / "bbbbbbbbbbb_000000_000010.mp4")], check=True)
    encode(raw / "train" / "making tea" / "aaaaaaaaaaa_000005_000015.mp4", pattern(16))
    encode(raw / "train" / "playing guitar" / "ccccccccccc_000000_000010.mp4", pattern(16))
    encode(raw / "val" / "ddddddddddd_000030_000040.mp4", pattern(32))  # CVDF's folder name
    out = tmp_path / "clips" / "kinetics_food"
    preprocess_dataset("kinetics_food", raw, out, cfg())
    train, val = ClipStore(out / "train"), ClipStore(out / "validate")
    assert [(r["class_name"], train.class_names[r["class_index"]]) for r in train.manifest] == [
        ("making tea", "making tea"), ("barbequing", "barbequing")]
    assert len(val) == 2 and set(val.splits) == {"validate"}
    # Rotation metadata (90° counter-clockwise) is applied before the crop: the bar moves from the
    # top-right to the top-left quarter, and the blue side bands still fall outside the square.
    assert frame_indices(train[1]) == list(range(16))
    q = RES // 2
    quarters = [train[1][:, r : r + q - 2, c : c + q - 2].astype(float).mean() for r in (1, q + 1) for c in (1, q + 1)]
    assert quarters[0] > 250 and max(quarters[1:]) < 100


def test_a_dataset_without_usable_clips_fails_clearly_after_writing_its_report(tmp_path: Path) -> None:
    raw = tmp_path / "raw" / "sky"
    write_pngs(raw / "sky_train" / "v" / "1", pattern(5, 64, 36))
    write_pngs(raw / "sky_test" / "v" / "1", pattern(16, 64, 36))
    with pytest.raises(PreprocessError, match="no usable clips"):
        preprocess_dataset("sky", raw, tmp_path / "out", cfg())
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["stores"]["test"]["clips"] == 1 and report["counts"]["too_short"] == 1


def test_block_rule_matches_official_make_imageclip_dataset() -> None:
    frames = np.arange(130)[:, None, None, None]
    assert [s for s, _ in cut_clips(frames, 16, 1, None)] == list(range(0, 113, 16))
    cut = cut_clips(frames, 16, 4, None)
    assert [s for s, _ in cut] == [0, 1, 2, 3, 64, 65, 66, 67]
    assert cut[5][1].ravel().tolist() == list(range(65, 129, 4))
    assert [s for s, _ in cut_clips(frames, 16, 1, 1)] == list(range(115))


def test_stage_cli_builds_then_skips_and_rejects_unknown_params(tmp_path: Path) -> None:
    raw = tmp_path / "raw" / "sky"
    write_pngs(raw / "sky_train" / "v" / "1", pattern(16, 64, 36))
    write_pngs(raw / "sky_test" / "v" / "1", pattern(16, 64, 36))
    params = tmp_path / "params.yaml"
    params.write_text(f"preprocess:\n  resolution: {RES}\n  sky: {{workers: 1}}\n")
    cmd = [sys.executable, "-m", "pipeline.preprocess", "sky", "--raw", str(tmp_path / "raw"),
           "--out", str(tmp_path / "clips"), "--params", str(params)]
    first = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    reports = {p.as_posix(): p.read_text() for p in (tmp_path / "clips").rglob("report.json")}
    assert first.returncode == 0, (first.stderr, reports)  # the reports say why a video gave no clips
    assert "built; train 1 clips, test 1 clips" in first.stdout
    assert "up-to-date" in subprocess.run(cmd, capture_output=True, text=True, cwd=REPO).stdout
    params.write_text("preprocess:\n  resolutoin: 64\n")
    bad = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    assert bad.returncode == 2 and "resolutoin" in bad.stderr
