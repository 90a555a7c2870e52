import numpy as np
import pytest

from digan.data.clip_store import MANIFEST_COLUMNS, ClipStore
from digan.data.synthetic import CLASS_NAMES, CLASS_SPECS, main, make_synthetic_dataset, render_video
from digan.data.video_io import read_video

VIDEOS = 6  # per class, for the statistics tests
RES, FRAMES = 32, 24


@pytest.fixture(scope="module")
def videos() -> np.ndarray:
    """[class, video, T, H, W, 3] float renders shared by the statistics tests."""
    return np.array(
        [[render_video(c, v, seed=0, frames=FRAMES, resolution=RES) for v in range(VIDEOS)]
         for c in range(len(CLASS_SPECS))],
        dtype=np.float64,
    )


def _shift(a: np.ndarray, b: np.ndarray) -> tuple[int, int]:
    """Circular (dx, dy) translation taking image a to b, by phase correlation."""
    cross = np.fft.fft2(b) * np.conj(np.fft.fft2(a))
    corr = np.fft.ifft2(cross / (np.abs(cross) + 1e-9)).real
    dy, dx = np.unravel_index(np.argmax(corr), corr.shape)
    n = corr.shape[0]
    return (dx + n // 2) % n - n // 2, (dy + n // 2) % n - n // 2


def _nearest_centroid_accuracy(features: np.ndarray) -> float:
    """Leave-one-out accuracy of a nearest-class-mean classifier on [class, video, F]."""
    n_cls, n_vid, _ = features.shape
    x = features.reshape(n_cls * n_vid, -1)
    x = (x - x.mean(0)) / (x.std(0) + 1e-9)
    y = np.repeat(np.arange(n_cls), n_vid)
    correct = 0
    for i in range(len(x)):
        keep = np.arange(len(x)) != i
        centroids = np.array([x[keep & (y == c)].mean(0) for c in range(n_cls)])
        correct += np.argmin(((centroids - x[i]) ** 2).sum(1)) == y[i]
    return correct / len(x)


def _motion_features(video: np.ndarray, lag: int = 4) -> dict[str, float | np.ndarray]:
    background = np.median(video, axis=0)  # the static texture
    foreground = np.abs(video - background).sum(-1)
    shifts = np.array(
        [_shift(foreground[t], foreground[t + lag]) for t in range(len(video) - lag)], dtype=float
    ) / lag
    area = (foreground > 60).mean(axis=(1, 2))
    return {
        "diff": np.abs(np.diff(video, axis=0)).mean(),
        "velocity": shifts.mean(0),
        "speed": np.abs(shifts).sum(1).mean(),
        "vx_std": shifts[:, 0].std(),
        "area_cv": area.std() / (area.mean() + 1e-9),
        "colour_std": video.mean(axis=(1, 2)).std(0).mean(),
    }


def test_class_specs():
    assert len(CLASS_SPECS) >= 8
    assert len(set(CLASS_NAMES)) == len(CLASS_NAMES)
    assert len({s.motion for s in CLASS_SPECS}) >= 6
    assert len({s.shape for s in CLASS_SPECS}) >= 5
    assert len({s.background for s in CLASS_SPECS}) >= 4


def test_deterministic():
    a = render_video(3, 5, seed=7, frames=8, resolution=32)
    b = render_video(3, 5, seed=7, frames=8, resolution=32)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, render_video(3, 5, seed=8, frames=8, resolution=32))
    assert not np.array_equal(a, render_video(3, 6, seed=7, frames=8, resolution=32))


def test_other_sizes():
    video = render_video(4, 0, seed=0, frames=40, resolution=64)
    assert video.shape == (40, 64, 64, 3) and video.dtype == np.uint8
    assert video.std() > 10


def test_continuous_time():
    for c in range(len(CLASS_SPECS)):
        coarse = render_video(c, 1, seed=0, frames=12, resolution=RES, fps=8)
        fine = render_video(c, 1, seed=0, frames=24, resolution=RES, fps=16)
        np.testing.assert_array_equal(fine[::2], coarse)  # same instants
        coarse_diff = np.abs(np.diff(coarse.astype(float), axis=0)).mean()
        fine_diff = np.abs(np.diff(fine.astype(float), axis=0)).mean()
        assert 0 < fine_diff < coarse_diff, CLASS_NAMES[c]


def test_classes_differ_in_content(videos):
    first = videos[:, :, 0]  # [class, video, H, W, 3]
    mean_colour = first.mean(axis=(1, 2, 3))
    dist = np.linalg.norm(mean_colour[:, None] - mean_colour[None], axis=-1)
    assert dist[np.triu_indices(len(CLASS_SPECS), 1)].min() > 15
    grad_x = np.abs(np.diff(first, axis=3)).mean(axis=(1, 2, 3, 4))
    grad_y = np.abs(np.diff(first, axis=2)).mean(axis=(1, 2, 3, 4))
    for c, spec in enumerate(CLASS_SPECS):
        if spec.background == "hstripes":
            assert grad_y[c] > 2 * grad_x[c], spec.name
    features = np.concatenate(
        [first.mean(axis=(2, 3)), first.std(axis=(2, 3)),
         np.abs(np.diff(first, axis=3)).mean(axis=(2, 3, 4))[..., None],
         np.abs(np.diff(first, axis=2)).mean(axis=(2, 3, 4))[..., None]],
        axis=-1,
    )
    assert _nearest_centroid_accuracy(features) >= 0.9


def test_classes_differ_in_motion(videos):
    feats = [[_motion_features(v) for v in cls] for cls in videos]

    def mean(name, key):
        return np.mean([f[key] for f in feats[CLASS_NAMES.index(name)]], axis=0)

    px_per_frame = RES / 8  # image widths per second -> pixels per frame at 8 fps
    vx, vy = mean("square_right", "velocity")
    assert vx == pytest.approx(0.25 * px_per_frame, rel=0.2) and abs(vy) < 0.1
    vx, vy = mean("disc_up_fast", "velocity")
    assert vy == pytest.approx(-0.5 * px_per_frame, rel=0.2) and abs(vx) < 0.1
    vx, vy = mean("triangle_left_slow", "velocity")
    assert vx == pytest.approx(-0.15 * px_per_frame, rel=0.3) and abs(vy) < 0.1
    # Back-and-forth motion: horizontal velocity changes sign, so it varies a lot.
    assert mean("cross_oscillate", "vx_std") > 1.0 > mean("square_right", "vx_std")
    # Colour cycling: no displacement, but the mean colour changes over time.
    assert mean("disc_colour_cycle", "speed") < 0.1
    assert mean("disc_colour_cycle", "colour_std") > 5 > mean("triangle_rotate", "colour_std")
    # Pulsing changes the object's area much more than any rigid motion.
    area_cv = {name: mean(name, "area_cv") for name in CLASS_NAMES}
    assert max(area_cv, key=area_cv.get) == "square_pulse"
    # Rotation in place: frames change but nothing translates on average.
    assert mean("triangle_rotate", "diff") > 0.5
    assert np.abs(mean("triangle_rotate", "velocity")).max() < 0.3

    stacked = np.array(
        [[[f["diff"], *f["velocity"], f["speed"], f["vx_std"], f["area_cv"], f["colour_std"]]
          for f in cls] for cls in feats]
    )
    assert _nearest_centroid_accuracy(stacked) >= 0.9


def test_objects_stay_in_frame():
    # A bouncing ring never wraps, so its colour never touches the border.
    ring = CLASS_NAMES.index("ring_bounce")
    colour = np.array(CLASS_SPECS[ring].colour) * 255
    for v in range(4):
        video = render_video(ring, v, seed=0, frames=48, resolution=RES).astype(float)
        border = np.concatenate([video[:, 0], video[:, -1], video[:, :, 0], video[:, :, -1]], axis=1)
        assert np.abs(border - colour).sum(-1).min() > 60


DATASET_KW = dict(seed=0, videos_per_class=3, frames_per_video=16, clip_frames=8, resolution=32)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic")
    return out, make_synthetic_dataset(out, **DATASET_KW)


def test_dataset_layout(dataset):
    out, clips_path = dataset
    assert clips_path == out / "clips"
    assert sorted(p.name for p in out.iterdir()) == ["clips", "raw"]
    for name in CLASS_NAMES:
        assert sorted(p.name for p in (out / "raw" / name).iterdir()) == [
            f"{name}_{k:03d}.mp4" for k in range(3)
        ]
    store = ClipStore(clips_path)
    assert store.meta["dataset"] == "synthetic" and store.meta["params"]["seed"] == 0
    assert store.class_names == list(CLASS_NAMES)
    assert store.frames == 8 and store.resolution == (32, 32)
    assert len(store) == len(CLASS_NAMES) * 3 * 3  # start frames 0, 4, 8
    header = (clips_path / "manifest.csv").read_text().splitlines()[0]
    assert header == ",".join(MANIFEST_COLUMNS)


def test_dataset_clips_match_decoded_mp4(dataset):
    out, clips_path = dataset
    store = ClipStore(clips_path)
    decoded = {}
    for i, row in enumerate(store.manifest):
        assert row["dataset"] == "synthetic" and row["stride"] == 1
        assert row["class_name"] == CLASS_NAMES[row["class_index"]]
        assert row["class_index"] == store.labels[i]
        # Last video of each class is the test video (test_fraction 0.25 of 3 -> 1).
        expected_split = "test" if row["source_video"].endswith("_002.mp4") else "train"
        assert row["split"] == expected_split
        src = row["source_video"]
        if src not in decoded:
            decoded[src] = read_video(out / src)
        start = row["start_frame"]
        np.testing.assert_array_equal(store[i], decoded[src][start : start + 8])
    assert len(decoded) == len(CLASS_NAMES) * 3


def test_dataset_is_lossy_copy_of_render(dataset):
    out, _ = dataset
    decoded = read_video(out / "raw" / CLASS_NAMES[0] / f"{CLASS_NAMES[0]}_001.mp4")
    rendered = render_video(0, 1, seed=0, frames=16, resolution=32)
    assert np.abs(decoded.astype(float) - rendered).mean() < 3


def test_dataset_second_call_is_noop(dataset, capsys):
    out, clips_path = dataset
    watched = [clips_path / "clips.npy", clips_path / "meta.json",
               out / "raw" / CLASS_NAMES[0] / f"{CLASS_NAMES[0]}_000.mp4"]
    before = [p.stat().st_mtime_ns for p in watched]
    assert make_synthetic_dataset(out, **DATASET_KW) == clips_path
    main(["--out", str(out), "--videos-per-class", "3", "--frames-per-video", "16",
          "--clip-frames", "8", "--resolution", "32"])
    assert [p.stat().st_mtime_ns for p in watched] == before
    line = capsys.readouterr().out.strip()
    assert "\n" not in line and "8 classes" in line and "72 clips" in line


def test_dataset_rebuilds_on_new_params(tmp_path):
    kw = dict(DATASET_KW, videos_per_class=2, frames_per_video=8)
    path = make_synthetic_dataset(tmp_path, **kw)
    first = ClipStore(path)[0]
    path = make_synthetic_dataset(tmp_path, **dict(kw, seed=1))
    store = ClipStore(path)
    assert store.meta["params"]["seed"] == 1
    assert not np.array_equal(store[0], first)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clips", "raw"]
