import json
import pickle

import numpy as np
import pytest

from digan.data.clip_store import (
    MANIFEST_COLUMNS,
    ClipStore,
    ClipStoreError,
    clips_from_video,
    write_clip_store,
    write_index_store,
)

CLASSES = ["a", "b", "c"]
T, H, W = 4, 6, 5


def _clips(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    for i in range(n):
        clip = rng.integers(0, 256, (T, H, W, 3), dtype=np.uint8)
        yield clip, {
            "dataset": "toy", "split": "test" if i % 3 == 0 else "train",
            "class_index": i % 3, "class_name": CLASSES[i % 3],
            "source_video": f"v{i // 2}.mp4", "start_frame": 2 * (i % 2), "stride": 1,
        }


def _write(path, n=7, seed=0, clips=None):
    return write_clip_store(
        path, _clips(n, seed) if clips is None else clips, dataset="toy",
        frames=T, height=H, width=W, class_names=CLASSES,
    )


@pytest.mark.parametrize(
    "length, clip_len, stride, step, starts",
    [
        (24, 16, 1, 4, [0, 4, 8]),
        (10, 5, 1, None, [0, 5]),
        (12, 3, 2, None, [0, 6]),
        (10, 4, 1, 1, [0, 1, 2, 3, 4, 5, 6]),
        (9, 5, 2, 1, [0]),
        (8, 5, 2, 1, []),
        (5, 6, 1, None, []),
    ],
)
def test_clips_from_video(length, clip_len, stride, step, starts):
    frames = np.arange(length)[:, None, None, None] * np.ones((1, 2, 2, 3), dtype=np.int64)
    out = list(clips_from_video(frames, clip_len, stride=stride, step=step))
    assert [s for s, _ in out] == starts
    for start, clip in out:
        assert clip.shape == (clip_len, 2, 2, 3)
        np.testing.assert_array_equal(clip[:, 0, 0, 0], start + stride * np.arange(clip_len))


@pytest.mark.parametrize(
    "kwargs", [{"clip_len": 0}, {"clip_len": 2, "stride": 0}, {"clip_len": 2, "step": 0}]
)
def test_clips_from_video_rejects_bad_args(kwargs):
    with pytest.raises(ValueError):
        list(clips_from_video(np.zeros((8, 1, 1, 3)), **kwargs))


def test_round_trip(tmp_path):
    path = _write(tmp_path / "store")
    expected = list(_clips(7))
    store = ClipStore(path)
    assert len(store) == 7
    assert store.class_names == CLASSES
    assert store.frames == T and store.resolution == (H, W)
    assert store.labels.dtype == np.int64
    np.testing.assert_array_equal(store.labels, [r["class_index"] for _, r in expected])
    np.testing.assert_array_equal(store.split_indices("test"), [0, 3, 6])
    for i, (clip, row) in enumerate(expected):
        np.testing.assert_array_equal(store[i], clip)
        assert store.manifest[i] == {"clip_index": i, **row}
    np.testing.assert_array_equal(store[-1], expected[-1][0])
    np.testing.assert_array_equal(store.frames_at(2, [3, 0]), expected[2][0][[3, 0]])

    mm = np.load(path / "clips.npy", mmap_mode="r")
    assert mm.shape == (7, T, H, W, 3) and mm.dtype == np.uint8
    header = (path / "manifest.csv").read_text().splitlines()[0]
    assert header == ",".join(MANIFEST_COLUMNS)
    meta = json.loads((path / "meta.json").read_text())
    assert meta == {
        "format_version": 1, "dataset": "toy", "num_clips": 7, "frames": T,
        "height": H, "width": W, "class_names": CLASSES,
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]


def test_pickle_does_not_copy_clips(tmp_path):
    store = ClipStore(_write(tmp_path / "store", n=50))
    store[0]  # open the memmap
    restored = pickle.loads(pickle.dumps(store))
    assert len(pickle.dumps(store)) < 50 * T * H * W * 3
    np.testing.assert_array_equal(restored[3], store[3])


def test_replace_existing_store(tmp_path):
    path = _write(tmp_path / "store", n=4, seed=0)
    _write(path, n=9, seed=1)
    store = ClipStore(path)
    assert len(store) == 9
    np.testing.assert_array_equal(store[8], list(_clips(9, seed=1))[8][0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]


def test_failure_keeps_old_store_and_cleans_up(tmp_path):
    path = _write(tmp_path / "store", n=4)

    def failing():
        yield from _clips(3)
        raise RuntimeError("source broke")

    with pytest.raises(RuntimeError, match="source broke"):
        _write(path, clips=failing())
    assert len(ClipStore(path)) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"clip": np.zeros((T, H, W, 3), dtype=np.float32)}, "uint8"),
        ({"clip": np.zeros((T + 1, H, W, 3), dtype=np.uint8)}, "expected"),
        ({"row": {"clip_index": 0}}, "keys"),
        ({"row": {"class_name": "b"}}, "class_name"),
        ({"row": {"dataset": "other"}}, "dataset"),
    ],
)
def test_rejects_bad_clips(tmp_path, bad, message):
    clip, row = next(_clips(1))
    clip = bad.get("clip", clip)
    row = {**row, **bad.get("row", {})}
    with pytest.raises(ValueError, match=message):
        _write(tmp_path / "store", clips=[(clip, row)])
    assert list(tmp_path.iterdir()) == []


def test_rejects_empty(tmp_path):
    with pytest.raises(ValueError, match="no clips"):
        _write(tmp_path / "store", clips=[])
    assert list(tmp_path.iterdir()) == []


def test_missing_or_partial_store(tmp_path):
    with pytest.raises(ClipStoreError, match="not a complete clip store"):
        ClipStore(tmp_path / "missing")
    path = _write(tmp_path / "store")
    (path / "meta.json").unlink()
    with pytest.raises(ClipStoreError, match="missing meta.json"):
        ClipStore(path)


def test_inconsistent_store(tmp_path):
    path = _write(tmp_path / "store")
    lines = (path / "manifest.csv").read_text().splitlines(keepends=True)
    (path / "manifest.csv").write_text("".join(lines[:-2]))
    with pytest.raises(ClipStoreError, match="manifest rows"):
        ClipStore(path)


def test_meta_missing_keys(tmp_path):
    path = _write(tmp_path / "store")
    meta = json.loads((path / "meta.json").read_text())
    del meta["frames"]
    (path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ClipStoreError, match="lacks"):
        ClipStore(path)


def test_a_split_store_is_an_index_over_its_base_not_a_copy(tmp_path):
    """Issue 13: UCF-101 ``train`` of ``all`` costs a few bytes per clip, not a second copy of the clips."""
    base = ClipStore(_write(tmp_path / "all", n=9))
    keep = [int(i) for i in base.split_indices("train")]
    index = ClipStore(write_index_store(tmp_path / "train", tmp_path / "all", keep, params={"store": "train"}))
    assert len(index) == len(keep) and not (tmp_path / "train" / "clips.npy").exists()
    assert (tmp_path / "train" / "indices.npy").stat().st_size == 128 + 8 * len(keep)  # npy header + int64s
    for n, i in enumerate(keep):
        np.testing.assert_array_equal(index[n], base[i])
        np.testing.assert_array_equal(index.frames_at(n, [0, T - 1]), base.frames_at(i, [0, T - 1]))
        assert {**index.manifest[n], "clip_index": i} == base.manifest[i]
    assert index.meta["params"] == {"store": "train"} and index.frames_shape == base.frames_shape
    assert set(index.splits) == {"train"} and (index.labels == base.labels[keep]).all()
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(index))[1], base[keep[1]])
    assert [p.name for p in index.data_files] == ["meta.json", "manifest.csv", "indices.npy",
                                                  "meta.json", "manifest.csv", "clips.npy"]

    # An index of an index reads the clips from the store that holds them.
    nested = ClipStore(write_index_store(tmp_path / "some", tmp_path / "train", [2, 0]))
    np.testing.assert_array_equal(nested[0], base[keep[2]])
    assert nested.base.path.resolve() == (tmp_path / "all").resolve()

    # A base rebuilt after the index was written is refused rather than read through stale clip numbers.
    _write(tmp_path / "all", n=8, seed=1)
    with pytest.raises(ClipStoreError, match="base store .* was rebuilt"):
        ClipStore(tmp_path / "train")
    with pytest.raises(ValueError, match="indices outside"):
        write_index_store(tmp_path / "bad", tmp_path / "all", [9])
