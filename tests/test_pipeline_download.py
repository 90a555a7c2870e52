"""pipeline.download against a loopback server: the raw layouts of the paper's datasets (Appendix A.2),
idempotent verified downloads, local directories with precisely reported gaps, and param validation."""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest
import yaml

from digan.config import ConfigError
from digan.data.real import SPECS
from digan.data.real.kinetics_food import food_classes
from digan.data.real.taichi import EXCLUDED_IDS
from digan.data.sources import load_sources
from pipeline import download as stage
from tests.http_server import FileServer

UCF_CLASSES = ("ApplyEyeMakeup", "HandstandPushups")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _tar_gz(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def _ucf_archives(root: Path) -> tuple[Path, Path]:
    """A stand-in for UCF101.rar (as tar.gz, wrapped in a folder) and the real split zip's structure.
    The lists spell 'HandStandPushups' in file names, as UCF's own lists do; one listed video is absent."""
    videos = {f"wrapper/UCF-101/{c}/v_{c}_g01_c0{i}.avi": b"avi" for c in UCF_CLASSES for i in (1, 2)}
    videos["wrapper/UCF-101/HandstandPushups/v_HandStandPushups_g01_c01.avi"] = videos.pop(
        "wrapper/UCF-101/HandstandPushups/v_HandstandPushups_g01_c01.avi")
    data = _tar_gz(root / "UCF101.tar.gz", videos)
    splits = _zip(root / "splits.zip", {
        "ucfTrainTestlist/classInd.txt": b"1 ApplyEyeMakeup\n2 HandstandPushups\n",
        "ucfTrainTestlist/trainlist01.txt": (b"ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi 1\n"
                                             b"HandstandPushups/v_HandStandPushups_g01_c01.avi 2\n"),
        "ucfTrainTestlist/testlist01.txt": (b"ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c02.avi\n"
                                            b"HandstandPushups/v_HandStandPushups_g07_c03.avi\n"),
    })
    return data, splits


def _params(tmp_path: Path, datasets: dict) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"datasets": datasets, "other_section": {"kept": True}}))
    return path


def _ucf_params(server: FileServer, tmp_path: Path, data_sha: str | None, splits_sha: str | None) -> Path:
    return _params(tmp_path, {"ucf101": {
        "files": [{"url": server.url("UCF101.tar.gz"), "name": "UCF101.tar.gz", "sha256": data_sha,
                   "extract_to": "."}],
        "metadata": [{"url": server.url("splits.zip"), "name": "splits.zip", "sha256": splits_sha,
                      "extract_to": "."}],
    }})


def _run(dataset: str, params: Path, out: Path) -> int:
    return stage.main([dataset, "--params", str(params), "--out", str(out)])


def test_ucf101_download_extracts_the_raw_layout_and_a_second_run_fetches_nothing(
        server: FileServer, tmp_path: Path) -> None:
    data, splits = _ucf_archives(server.root)
    params = _ucf_params(server, tmp_path, _sha(data), None)  # the split zip: digest recorded on first use
    out = tmp_path / "raw"
    assert _run("ucf101", params, out) == 0
    raw = out / "ucf101"
    assert sorted(p.name for p in (raw / "UCF-101").iterdir()) == sorted(UCF_CLASSES)
    assert (raw / "UCF-101/HandstandPushups/v_HandStandPushups_g01_c01.avi").is_file()
    assert {p.name for p in (raw / "ucfTrainTestlist").iterdir()} == {"classInd.txt", "trainlist01.txt",
                                                                      "testlist01.txt"}
    assert not (raw / ".staging").exists()
    complete = json.loads((raw / ".complete.json").read_text())
    assert [(f["name"], f["sha256"]) for f in complete["fetched"]] == [("UCF101.tar.gz", _sha(data)),
                                                                       ("splits.zip", _sha(splits))]
    report = json.loads((raw / "report.json").read_text())
    assert report["ok"] and report["counts"]["videos"] == 4 and report["counts"]["trainlist01"] == 2
    assert report["missing"]["testlist01_videos"] == ["HandstandPushups/v_HandStandPushups_g07_c03.avi"]
    assert report["missing"]["trainlist01_videos"] == []  # list/folder case differences are not gaps

    served = len(server.requests)
    assert _run("ucf101", params, out) == 0
    assert len(server.requests) == served  # complete: not a single request


def test_wrong_checksum_fails_clearly_and_leaves_no_completed_dataset(
        server: FileServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, _ = _ucf_archives(server.root)
    params = _ucf_params(server, tmp_path, "0" * 64, None)
    out = tmp_path / "raw"
    assert _run("ucf101", params, out) == 1
    err = capsys.readouterr().err
    assert "sha256 mismatch" in err and server.url("UCF101.tar.gz") in err and _sha(data) in err
    assert not (out / "ucf101/.complete.json").exists()
    assert not (out / "ucf101/UCF-101").exists()
    assert not list((out / ".downloads/ucf101").glob("UCF101.tar.gz*[!k]"))  # neither file nor .part kept


def test_a_changed_source_runs_again_from_the_cache_without_the_network(server: FileServer, tmp_path: Path) -> None:
    data, splits = _ucf_archives(server.root)
    out = tmp_path / "raw"
    assert _run("ucf101", _ucf_params(server, tmp_path, _sha(data), None), out) == 0
    served = len(server.requests)
    assert _run("ucf101", _ucf_params(server, tmp_path, _sha(data), _sha(splits)), out) == 0  # now pinned
    assert len(server.requests) == served
    assert json.loads((out / "ucf101/.complete.json").read_text())["source"]["metadata"][0]["sha256"] == _sha(splits)


def test_archive_members_outside_the_target_are_refused(server: FileServer, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    data, _ = _ucf_archives(server.root)
    _zip(server.root / "splits.zip", {"../../escaped.txt": b"x", "ucfTrainTestlist/classInd.txt": b"1 A\n"})
    out = tmp_path / "raw"
    assert _run("ucf101", _ucf_params(server, tmp_path, _sha(data), None), out) == 1
    assert "would be written outside" in capsys.readouterr().err
    assert not list(tmp_path.rglob("escaped.txt"))


def test_rar_without_a_tool_names_the_package_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stage.shutil, "which", lambda name: None)
    with pytest.raises(stage.StageError, match=r"apt-get install libarchive-tools.*unar"):
        stage.rar_command(tmp_path / "UCF101.rar", tmp_path)


@pytest.mark.skipif(not (shutil.which("bsdtar") or shutil.which("unar")),
                    reason="neither bsdtar nor unar is installed (apt-get install libarchive-tools)")
def test_rar_path_unpacks_with_the_external_tool(tmp_path: Path) -> None:
    # No free tool writes RAR, but bsdtar and unar detect the format from the content, so a zip named
    # .rar exercises the same command line that unpacks UCF101.rar.
    archive = _zip(tmp_path / "UCF101.rar", {"UCF-101/ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi": b"avi"})
    raw = tmp_path / "raw"
    raw.mkdir()
    stage.unpack(archive, raw, ".", SPECS["ucf101"].layout)
    assert (raw / "UCF-101/ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi").read_bytes() == b"avi"


def test_taichi_local_dir_reports_exactly_the_missing_videos_not_the_papers_excluded_ones(
        server: FileServer, tmp_path: Path) -> None:
    excluded = sorted(EXCLUDED_IDS)[0]
    ids = ["aaaaaaaaaaa", "b-bbbbbbbbb", "_cccccccccc", "ddddddddddd", "eeeeeeeeeee", excluded]
    rows = [f"{i},{10 * n},{10 * n + 90},1-2-3-4,25.0,640,480,{'test' if n == 2 else 'train'}"
            for n, i in enumerate(ids)]
    (server.root / "taichi-metadata.csv").write_text(
        "video_id,start,end,bbox,fps,width,height,partition\n" + "\n".join(rows) + "\n")
    videos = tmp_path / "my_taichi"
    (videos / "test" / "_cccccccccc#000020#000110.mp4").mkdir(parents=True)  # first-order-model, png format
    (videos / "aaaaaaaaaaa.mp4").write_bytes(b"v")  # raw YouTube downloads
    (videos / "b-bbbbbbbbb.webm").write_bytes(b"v")
    (videos / "b-bbbbbbbbb.webm.part").write_bytes(b"v")  # an interrupted youtube-dl file is not a video
    params = _params(tmp_path, {"taichi": {"local_dir": str(videos), "metadata": [
        {"url": server.url("taichi-metadata.csv"), "name": "taichi-metadata.csv", "sha256": None}]}})
    out = tmp_path / "raw"
    assert _run("taichi", params, out) == 0
    raw = out / "taichi"
    assert (raw / "videos").resolve() == videos.resolve()
    report = json.loads((raw / "report.json").read_text())
    assert report["missing"]["videos"] == ["ddddddddddd", "eeeeeeeeeee"]
    assert report["counts"]["expected_videos"] == 5 and report["counts"]["found_videos"] == 3
    assert report["counts"]["excluded_by_paper"] == 1 and report["counts"]["formats"] == ["cropped", "raw"]
    assert (raw / ".complete.json").is_file()


def test_taichi_without_local_dir_says_what_to_provide(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("taichi", tmp_path / "absent.yaml", tmp_path / "raw") == 1
    assert "datasets.taichi.local_dir" in capsys.readouterr().err


def test_kinetics_food_rule_reproduces_the_official_29_classes() -> None:
    official = ["baking cookies", "barbequing", "breading or breadcrumbing", "chopping meat", "chopping vegetables",
                "cooking egg", "cooking on campfire", "cooking sausages (not on barbeque)", "cooking scallops",
                "cutting apple", "cutting nails", "cutting orange", "cutting pineapple", "cutting watermelon",
                "eating cake", "flipping pancake", "frying vegetables", "grinding meat", "making a cake",
                "making a sandwich", "making pizza", "making sushi", "making tea", "peeling apples",
                "peeling potatoes", "picking fruit", "preparing salad", "scrambling eggs", "separating eggs"]
    near_misses = ["egg hunting", "getting a haircut", "shaping bread dough", "abseiling", "eating burger",
                   "tasting food", "making a cheeseburger"]
    assert food_classes(near_misses + official) == sorted(official)


def test_kinetics_food_local_dir_matches_food_classes_and_lists_missing_clips(tmp_path: Path) -> None:
    local = tmp_path / "k600"
    (local / "annotations").mkdir(parents=True)
    header = "label,youtube_id,time_start,time_end,split\n"
    (local / "annotations/train.csv").write_text(header + "".join([
        "making tea,AAAAAAAAAAA,10,20,train\n", "making tea,BBBBBBBBBBB,0,10,train\n",
        "baking cookies,C_CCCCCCCCC,5,15,train\n", "abseiling,DDDDDDDDDDD,1,11,train\n",
        "egg hunting,EEEEEEEEEEE,2,12,train\n"]))
    (local / "annotations/validate.csv").write_text(header + "making tea,FFFFFFFFFFF,30,40,val\n"
                                                    "abseiling,GGGGGGGGGGG,3,13,val\n")
    (local / "train/making tea").mkdir(parents=True)
    (local / "train/making tea/AAAAAAAAAAA_000010_000020.mp4").write_bytes(b"v")
    (local / "train/baking cookies").mkdir()
    (local / "train/baking cookies/C_CCCCCCCCC_000005_000015.mp4").write_bytes(b"v")
    (local / "val").mkdir()  # cvdfoundation's name for the validation folder
    (local / "val/FFFFFFFFFFF_000030_000040.mp4").write_bytes(b"v")
    params = _params(tmp_path, {"kinetics_food": {"local_dir": str(local)}})
    out = tmp_path / "raw"
    assert _run("kinetics_food", params, out) == 0
    raw = out / "kinetics_food"
    assert (raw / "validate").resolve() == (local / "val").resolve()
    report = json.loads((raw / "report.json").read_text())
    assert report["counts"]["food_classes"] == ["baking cookies", "making tea"]
    assert report["missing"]["train_clips"] == ["BBBBBBBBBBB_000000_000010"]
    assert report["missing"]["validate_clips"] == []
    assert report["counts"]["train"]["per_class"]["making tea"] == {"expected": 2, "missing": 1}


def test_kinetics_food_missing_annotation_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    local = tmp_path / "k600"
    (local / "train").mkdir(parents=True)
    (local / "validate").mkdir()
    params = _params(tmp_path, {"kinetics_food": {"local_dir": str(local), "metadata": []}})
    assert _run("kinetics_food", params, tmp_path / "raw") == 1
    err = capsys.readouterr().err
    assert "missing metadata file annotations/train.csv" in err and "annotations/validate.csv" in err
    assert not (tmp_path / "raw/kinetics_food/.complete.json").exists()


def test_sky_archive_from_a_file_url_unpacks_to_sky_train_and_sky_test(tmp_path: Path) -> None:
    frames = {f"sky_timelapse/{split}/vid01/1/vid01_frames_0000000{i}.jpg": b"jpg"
              for split in ("sky_train", "sky_test") for i in range(3)}
    frames["sky_timelapse/sky_test/vid02/1/readme.txt"] = b"not a frame"
    archive = _zip(tmp_path / "sky_timelapse.zip", frames)
    params = _params(tmp_path, {"sky": {"files": [{"url": archive.as_uri(), "name": "sky_timelapse.zip",
                                                   "extract_to": "."}]}})
    out = tmp_path / "raw"
    assert _run("sky", params, out) == 0
    report = json.loads((out / "sky/report.json").read_text())
    assert report["counts"]["sky_train"] == {"videos": 1, "clips": 1, "frames": 3}
    assert report["missing"]["sky_test_videos_without_frames"] == ["vid02"]


@pytest.mark.parametrize("datasets, key", [
    ({"ucf101": {"local_dirr": "/x"}}, "datasets.ucf101.local_dirr"),
    ({"ucf": {}}, "datasets.ucf"),
    ({"sky": {"files": [{"url": "http://h/a.zip", "name": "a.zip", "sha256": "abc"}]}}, "datasets.sky.files[0].sha256"),
    ({"sky": {"files": [{"url": "http://h/a.zip", "name": "a.zip", "md5": "x"}]}}, "datasets.sky.files[0].md5"),
    ({"sky": {"files": [{"url": "http://h/a.zip", "name": "../a.zip"}]}}, "datasets.sky.files[0].name"),
    ({"sky": {"local_dir": 3}}, "datasets.sky.local_dir"),
    ({"kinetics_food": {"files": "http://h/a.tar.gz"}}, "datasets.kinetics_food.files"),
])
def test_invalid_params_name_the_key(datasets: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        load_sources({"datasets": datasets})


def test_every_default_source_passes_the_datasets_schema() -> None:
    """The modules' sources are code, not params, so no stage validates them: written out as a user's
    override they must pass the schema (fetchable URLs, hex digests, relative unique names) unchanged."""
    for name, spec in SPECS.items():
        source = spec.source
        written = {"local_dir": source.local_dir, **{group: [dataclasses.asdict(f) for f in getattr(source, group)]
                                                     for group in ("files", "metadata")}}
        assert load_sources({"datasets": {name: written}})[name] == source


def test_unknown_param_key_stops_the_stage_with_one_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    params = _params(tmp_path, {"ucf101": {"local_dir": None, "checksum": "x"}})
    assert _run("ucf101", params, tmp_path / "raw") == 1
    err = capsys.readouterr().err
    assert "unknown key datasets.ucf101.checksum" in err and not (tmp_path / "raw").exists()


def test_switching_from_local_dir_to_download_never_touches_the_users_folders(
        server: FileServer, tmp_path: Path) -> None:
    local = tmp_path / "sky_mine"
    (local / "sky_train/v/1").mkdir(parents=True)
    (local / "sky_test/v/1").mkdir(parents=True)
    for split in ("sky_train", "sky_test"):
        (local / split / "v/1/f.jpg").write_bytes(b"mine")
    out = tmp_path / "raw"
    assert _run("sky", _params(tmp_path, {"sky": {"local_dir": str(local)}}), out) == 0
    _zip(server.root / "sky.zip", {"sky_train/w/1/f.jpg": b"new", "sky_test/w/1/f.jpg": b"new"})
    sky_zip = {"url": server.url("sky.zip"), "name": "sky.zip", "extract_to": "."}
    params = _params(tmp_path, {"sky": {"files": [sky_zip]}})
    assert _run("sky", params, out) == 0
    assert not (out / "sky/sky_train").is_symlink() and (out / "sky/sky_train/w/1/f.jpg").read_bytes() == b"new"
    assert (local / "sky_train/v/1/f.jpg").read_bytes() == b"mine" and not (local / "sky_train/w").exists()


def test_missing_datasets_are_reported_together_before_anything_is_fetched(
        server: FileServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 13: a user with UCF-101 only, on the paper profile's download list, hears once which datasets are
    missing and what the switch is, from whichever download stage DVC runs first; nothing is fetched."""
    data, splits = _ucf_archives(server.root)
    params = _ucf_params(server, tmp_path, _sha(data), None)
    content = yaml.safe_load(params.read_text())
    content["datasets"]["kinetics_food"] = {"local_dir": str(tmp_path / "no-such-dir")}
    content["download"] = ["ucf101", "taichi", "sky", "kinetics_food"]
    params.write_text(yaml.safe_dump(content))
    assert _run("ucf101", params, tmp_path / "raw") == 1
    err = capsys.readouterr().err
    assert "3 of the datasets to download cannot be obtained" in err
    assert "datasets.taichi: no files to download" in err and "datasets.sky: no files to download" in err
    assert f"datasets.kinetics_food.local_dir: {tmp_path / 'no-such-dir'} is not a directory" in err
    assert "dvc exp run -S profile=paper_ucf101" in err
    assert not (tmp_path / "raw").exists()

    content["download"] = ["ucf101"]  # the paper_ucf101 profile's list
    params.write_text(yaml.safe_dump(content))
    assert _run("ucf101", params, tmp_path / "raw") == 0
