"""The real-layout fixtures (tests/fixtures/real_layouts.py) are what the pipeline accepts as real data:
the RAR writer's archives unpack byte-exactly with bsdtar, and each dataset, handed to the download stage
as a user would (file:// or http URLs with sha256, or local_dir), lists and preprocesses with the repo's
own code into the number of sources per split its manifest states."""
from __future__ import annotations

import hashlib
import json
import shutil
import struct
import subprocess
import zlib
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from digan.data.clip_store import ClipStore
from digan.data.real import SPECS
from digan.metrics.backbones import c3d
from pipeline import download, preprocess
from tests.fixtures import rar
from tests.fixtures.media import moving_frames
from tests.fixtures.real_layouts import MANIFEST, Scale, datasets_params, write_all, write_ucf101
from tests.http_server import FileServer

SCALE = Scale(videos_per_class=2, frames=20, size=32)
CLIPS = {"resolution": 16, "frames": 8, "workers": 2}  # TaiChi: 8 frames at stride 4 fit its 40-frame chunks
needs_bsdtar = pytest.mark.skipif(shutil.which("bsdtar") is None,
                                  reason="bsdtar not installed (apt-get install libarchive-tools)")


@pytest.fixture(scope="module")
def fixture_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("real_layouts") / "fixtures"
    write_all(root, SCALE)
    return root


@pytest.fixture(scope="module")
def fixture_server(fixture_root: Path) -> Iterator[FileServer]:
    server = FileServer(fixture_root)
    yield server
    server.stop()


def _file_crcs(archive: bytes) -> dict[str, int]:
    """Name → FILE_CRC of every file header, walking the blocks by HEAD_SIZE and PACK_SIZE (RAR 4 technote)."""
    crcs, pos = {}, len(rar.MARKER)
    while pos < len(archive):
        head_type, flags, size = struct.unpack_from("<BHH", archive, pos + 2)
        pack = struct.unpack_from("<I", archive, pos + 7)[0] if flags & rar.LONG_BLOCK else 0
        if head_type == rar.FILE_HEAD and flags & rar.DIRECTORY != rar.DIRECTORY:
            name_size = struct.unpack_from("<H", archive, pos + 26)[0]
            crcs[archive[pos + 32:pos + 32 + name_size].decode().replace("\\", "/")] = \
                struct.unpack_from("<I", archive, pos + 16)[0]
        pos += size + pack
    return crcs


@needs_bsdtar
def test_rar_archives_unpack_byte_exactly_with_bsdtar(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    files = {"top/a.bin": rng.bytes(70_000), "top/sub/b.avi": rng.bytes(3), "top/sub/empty.txt": b"",
             "top/c d.txt": b"a name with a space\n"}
    members = [("top", None), ("top/sub", None), *files.items()]
    archive = tmp_path / "t.rar"
    rar.write_rar(archive, members, datetime(2013, 1, 2, 3, 4, 6))
    listed = subprocess.run(["bsdtar", "-tf", str(archive)], capture_output=True, text=True, check=True).stdout
    assert listed.splitlines() == [name for name, _ in members]
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run(["bsdtar", "-xf", str(archive), "-C", str(out)], check=True)
    assert {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()} == files
    assert (out / "top/sub").is_dir()
    assert _file_crcs(archive.read_bytes()) == {name: zlib.crc32(data) for name, data in files.items()}
    # bsdtar checks the header CRCs: a flipped byte in a name is refused, so the CRCs above are right.
    corrupt = bytearray(archive.read_bytes())
    corrupt[corrupt.index(b"b.avi")] ^= 1
    (tmp_path / "bad.rar").write_bytes(corrupt)
    bad = subprocess.run(["bsdtar", "-xf", str(tmp_path / "bad.rar"), "-C", str(out)], capture_output=True, text=True)
    assert bad.returncode != 0 and "CRC" in bad.stderr


def test_manifest_lists_every_file_and_output_is_deterministic(fixture_root: Path, tmp_path: Path) -> None:
    manifest = json.loads((fixture_root / MANIFEST).read_text())
    on_disk = {p.relative_to(fixture_root).as_posix(): p for p in fixture_root.rglob("*") if p.is_file()}
    assert set(manifest["files"]) == set(on_disk) - {MANIFEST}
    for rel, entry in manifest["files"].items():
        assert hashlib.sha256(on_disk[rel].read_bytes()).hexdigest() == entry["sha256"], rel
    again = tmp_path / "again"
    again.mkdir()
    write_ucf101(again, SCALE, np.random.default_rng([SCALE.seed, 0]))
    for rel in ("ucf101/UCF101.rar", "ucf101/UCF101TrainTestSplits-RecognitionTask.zip"):
        assert (again / rel).read_bytes() == on_disk[rel].read_bytes(), rel


def test_c3d_files_download_by_url_and_sha256_and_score(
        fixture_root: Path, fixture_server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = json.loads((fixture_root / MANIFEST).read_text())["files"]
    for name in (c3d.WEIGHTS_NAME, c3d.MEAN_NAME):
        monkeypatch.setitem(c3d.C3D_FILES, name, (fixture_server.url(f"c3d/{name}"), files[f"c3d/{name}"]["sha256"]))
    classifier = c3d.load_c3d(tmp_path / "weights", progress=False)  # load_c3d_npz checks every key and shape
    assert tuple(classifier.bias.shape) == (3, c3d.FRAMES, c3d.SIZE, c3d.SIZE)
    frames = moving_frames(np.random.default_rng(0), 2 * c3d.FRAMES, 32, 32)
    clips = torch.from_numpy(frames.reshape(2, c3d.FRAMES, 32, 32, 3))
    probabilities = classifier.probabilities(clips)
    assert torch.isfinite(probabilities).all() and probabilities.max() > 2 / c3d.NUM_CLASSES  # not degenerate


def _download(dataset: str, section: dict, tmp_path: Path) -> Path:
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"datasets": {dataset: section}}))
    assert download.main([dataset, "--params", str(params), "--out", str(tmp_path / "raw")]) == 0
    report = json.loads((tmp_path / "raw" / dataset / download.REPORT).read_text())
    assert report["ok"], report["problems"]
    return tmp_path / "raw" / dataset


def _preprocess(dataset: str, raw: Path, tmp_path: Path) -> dict[str, Counter]:
    """Sources with clips per split, through the preprocess stage's entry point."""
    params = tmp_path / "preprocess.yaml"
    params.write_text(yaml.safe_dump({"preprocess": CLIPS}))
    out = tmp_path / "clips"
    assert preprocess.main([dataset, "--raw", str(raw.parent), "--out", str(out), "--params", str(params)]) == 0
    per_store = {}
    for store in SPECS[dataset].stores:
        rows = ClipStore(out / dataset / store).manifest
        per_store[store] = Counter(split for split, _ in {(r["split"], r["source_video"]) for r in rows})
    return per_store


@pytest.mark.parametrize("dataset, served, taichi", [
    pytest.param("ucf101", "file", "fomm", marks=needs_bsdtar),
    pytest.param("ucf101", "http", "fomm", marks=needs_bsdtar),
    ("taichi", "file", "fomm"), ("taichi", "file", "raw"), ("sky", "file", "fomm"), ("kinetics_food", "http", "fomm"),
])
def test_each_dataset_downloads_lists_and_preprocesses_as_real_data(
        fixture_root: Path, fixture_server: FileServer, tmp_path: Path, dataset: str, served: str,
        taichi: str) -> None:
    base_url = fixture_server.url("") if served == "http" else None
    section = datasets_params(fixture_root, base_url, taichi)[dataset]
    raw = _download(dataset, section, tmp_path)
    expected = json.loads((fixture_root / MANIFEST).read_text())["expected_sources"][dataset]
    listing = SPECS[dataset].list_sources(raw)
    assert Counter(s.partition for s in listing.sources) == expected
    per_store = _preprocess(dataset, raw, tmp_path)
    short = {"sky": {"train": 1}}.get(dataset, {})  # Sky's clip folder shorter than a clip is skipped
    for store, partitions in SPECS[dataset].stores.items():
        assert per_store[store] == Counter({p: expected[p] - short.get(p, 0) for p in partitions}), store
    if dataset == "ucf101":
        assert (raw / "UCF-101").is_dir() and not (raw / "UCF-101").is_symlink()  # unpacked from the RAR
    if dataset == "kinetics_food":
        assert [s["outcome"] for s in listing.skipped] == ["missing"]  # the one annotated clip not archived
