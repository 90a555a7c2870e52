"""The report stage on fabricated metrics: all tables, provenance of every number, failures named."""
from __future__ import annotations

import csv
import json
import shutil
import statistics
from pathlib import Path

import pytest
import yaml

from pipeline import report

REPO = Path(__file__).resolve().parents[1]
REFERENCE = Path("reports/reference/paper_numbers.csv")
ARGS = ["--params", "params.yaml", "--metrics", "metrics", "--runs", "runs", "--out", "reports"]
# name -> its clip set (synthetic, or ucf101 trained on its all store) and the params' label and tables
EXPERIMENTS = {
    "synth": {"dataset": "synthetic", "label": "DIGAN synthetic", "tables": [1, 2, 3, 4, 5, 6, 7]},
    "ucf_all": {"dataset": "ucf101", "label": "DIGAN UCF-101 train+test", "tables": [1]},
    "abl_st1": {"dataset": "synthetic", "label": "ablation sigma_t", "tables": [5]},
    "abl_no_zm": {"dataset": "synthetic", "label": "full model (mislabelled)", "tables": [5]},
    "no_content": {"dataset": "synthetic", "label": "no content vector", "tables": [7]},
    "cond": {"dataset": "ucf101", "label": "class-conditional", "tables": [8]},
    "image": {"dataset": "synthetic", "label": "image GAN baseline", "tables": [6]},
    "absent": {"dataset": "synthetic", "label": "never evaluated", "tables": [2]},
}


PROTOCOL = {"runs": 3, "samples": 64, "is_samples": 64, "frames": 16, "stride": 1, "seed": 0}


def params() -> dict:
    """The repository's params.yaml with these experiments (on the synthetic store or UCF-101's all store), as
    the real schema accepts them."""
    data = yaml.safe_load((REPO / "params.yaml").read_text())
    data["download"] = ["ucf101"]
    data["clip_sets"] = {"ucf101": {"dataset": "ucf101"}}
    data["experiments"] = {name: {"clips": spec["dataset"], "store": "all" if spec["dataset"] == "ucf101" else "clips",
                                  "sigma_t_param": "sigma_t", "set": {}, "label": spec["label"],
                                  "tables": spec["tables"]}
                           for name, spec in EXPERIMENTS.items()}
    return data


def metric(name: str, backbone: str, runs: list[float], samples: int = 64) -> dict:
    return {"metric": name, "backbone": backbone, "runs": runs, "samples_real": 0 if name == "is" else samples,
            "samples_fake": samples, "distinct_runs": True, "notes": [], "key": f"{name}_{backbone}",
            "mean": statistics.fmean(runs), "std": statistics.pstdev(runs)}


def header(exp: str) -> dict:
    spec = EXPERIMENTS[exp]
    store = "all" if spec["dataset"] == "ucf101" else "clips"
    clips = f"{spec['dataset']}/{store}"  # as pipeline.evaluate writes it: <clip set>/<store>
    return {"experiment": exp, "profile": "default", "pretrained": None, "dataset": clips,
            "label": spec["label"], "real_clips": clips, "real_split": "test", "tables": spec["tables"],
            "checkpoint": f"runs/{exp}/checkpoint.pt", "train_steps": 600}


def quality(exp: str, metrics: dict, split: str = "train", **generator) -> dict:
    gen = {"resolution": 32, "sigma_t": 0.25, "motion_latent": True, "motion_mlp": True, "content_latent": True,
           "num_classes": 0, "motion": True, **generator}
    return {**header(exp), "config": {"generator": gen, "data": {"split": split}, "train": {}},
            "protocol": PROTOCOL,
            "real": {"path": "data/synthetic/clips", "split": split, "clips": 128, "bad_files": []},
            "fake": {"checkpoint": f"runs/{exp}/checkpoint.pt", "clips_per_run": 64, "t_range": [0.0, 1.0]},
            "metrics": {m["key"]: m for m in metrics}}


def probe_metrics(fvd: float) -> list[dict]:
    return [metric("fvd", "probe", [fvd, fvd + 4.0, fvd - 2.5]), metric("kvd", "probe", [0.0123, 0.0131, 0.0119]),
            metric("is", "probe", [3.21, 3.4, 3.3])]


def i3d_metrics() -> list[dict]:
    """also_scored_with: FVD/KVD with I3D at its own (smaller) counts."""
    return [metric("fvd", "i3d", [812.0, 790.0], samples=32), metric("kvd", "i3d", [91.5, 88.0], samples=32)]


def scaled(results: list[dict], factor: float, runs: int | None = None) -> dict:
    """The same results with every run times ``factor`` (a floor), optionally cut to ``runs`` runs."""
    return {m["key"]: metric(m["metric"], m["backbone"], [r * factor for r in m["runs"][:runs]], m["samples_fake"])
            for m in results}


def with_floors(doc: dict, real: float | None, untrained: float, untrained_runs: int | None = None) -> dict:
    """quality.json with floors: real vs real (None: the training split is the real split) and untrained."""
    results = list(doc["metrics"].values())
    floors = {"untrained": scaled(results, untrained, untrained_runs), "real": None, "real_clips": None}
    if real is not None:
        floors["real"] = scaled(results, real)
        floors["real_clips"] = {"path": "data/synthetic/clips", "split": "train", "clips": 128, "bad_files": []}
    return {**doc, "floors": floors}


def write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1))


def fabricate(root: Path) -> None:
    """A params.yaml, metrics/ and runs/ as the evaluation stages write them."""
    (root / "params.yaml").write_text(yaml.safe_dump(params()))
    (root / REFERENCE).parent.mkdir(parents=True)
    shutil.copyfile(REPO / REFERENCE, root / REFERENCE)
    m = root / "metrics"
    write(m / "synth/quality.json", with_floors(quality("synth", probe_metrics(310.0) + i3d_metrics()), 0.1, 5.0))
    write(m / "ucf_all/quality.json", quality("ucf_all", [metric("fvd", "i3d", [601.0, 610.5, 590.0]),
                                                          metric("kvd", "i3d", [55.1, 57.0, 56.2]),
                                                          metric("is", "c3d", [27.9, 28.3, 28.1])], split="all"))
    write(m / "abl_st1/quality.json", with_floors(quality("abl_st1", probe_metrics(420.0), sigma_t=1.0), None, 4.0,
                                                  untrained_runs=2))
    write(m / "abl_no_zm/quality.json", quality("abl_no_zm", probe_metrics(380.0), motion_latent=False))
    write(m / "no_content/quality.json", quality("no_content", probe_metrics(350.0), content_latent=False))
    write(m / "cond/quality.json", quality("cond", [metric("is", "c3d", [50.2, 51.0]),
                                                    metric("fvd", "i3d", [500.0, 510.0])], num_classes=101))
    times = {"standard": [i / 15 for i in range(16)], "interpolation": [i / 15 for i in range(16)],
             "extrapolation": [1 + (i + 1) / 16 for i in range(16)]}
    write(m / "synth/time.json", {**header("synth"), "protocol": PROTOCOL, "scenarios": {
        s: {"times": t, "metrics": {"fvd_probe": metric("fvd", "probe", [300.0 + 40 * k, 305.0 + 40 * k])}}
        for k, (s, t) in enumerate(times.items())}})
    write(m / "synth/speed.json", {**header("synth"), "resolution": 32, "frames": 16, "device": "cpu", "threads": 2,
                                   "macs_per_video": 1.5e6, "matmul_roofline_ratio": 0.54, "variants": {
                                       "batch1": {"seconds_per_video": 0.0312, "batch_size": 1, "repeats": 5},
                                       "batch4": {"seconds_per_video": 0.0254, "batch_size": 4, "repeats": 5},
                                       "frames_parallel": {"seconds_per_video": 0.031, "batch_size": 1,
                                                           "repeats": 5}}})
    write(m / "synth/space.json", {**header("synth"), "base_resolution": 32, "frames": 16, "backbone": "probe",
                                   "runs": 1, "samples": 64, "seed": 0, "scales": {
        "2": {"resolution": 64, "real": {"path": "x", "clips": 64},
              "inr": {"fvd_probe": metric("fvd", "probe", [90.0])},
              "bicubic": {"fvd_probe": metric("fvd", "probe", [120.0])}}}})
    write(m / "synth/space_recon.json", {**header("synth"), "projection_steps": 200, "base_psnr": 31.4, "scales": {
        s: {"resolution": 32 * int(s), "psnr": {"inr": 27.1, "bicubic": 25.3}, "ssim": {"inr": 0.81, "bicubic": 0.77},
            "clips": 8} for s in ("2", "4")}, "base_ssim": 0.9, "base_resolution": 32, "clip_indices": list(range(8)),
        "split": "test", "data_range": "uint8", "notes": []})
    for exp, method, ssim in (("synth", "digan_projection", [0.8, 0.84]), ("image", "image_latent_interpolation",
                                                                             [0.6, 0.62])):
        write(m / exp / "prediction.json", {**header(exp), "method": method, "ssim": {
            "mean": statistics.fmean(ssim), "std": statistics.pstdev(ssim), "per_clip": ssim},
            "per_frame_ssim": {"4": 0.7}, "projection_loss": 0.01, "clips": 2, "clip_indices": [3, 5],
            "projection_steps": 200, "given_frames": [0, 15], "predicted_frames": list(range(1, 15)), "split": "test",
            "data_range": "uint8", "notes": []})
    write(m / "synth/motion_d.json", {**header("synth"), "delta_t": [0.0, 0.5, 1.0], "logit_mean": [-2.0, 0.1, 1.5],
                                      "logit_std": [0.3, 0.2, 0.4], "pairs": 32, "real_delta_t": 1.0, "step": 600,
                                      "split": "all"})
    (m / "synth/media").mkdir()
    for name in ("samples.gif", "zoom_out.png", "notes.txt"):
        (m / "synth/media" / name).write_bytes(b"media " + name.encode())
    log = root / "runs/synth/metrics.jsonl"
    log.parent.mkdir(parents=True)
    log.write_text("".join(json.dumps({"step": s, "loss_G": 3.0 - s / 100, "loss_D": 1.0 + s / 200,
                                       "D_real": 0.1, "D_fake": -0.1}) + "\n" for s in range(10, 110, 10)))


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    fabricate(tmp_path)
    return tmp_path


def outputs(root: Path) -> dict[str, bytes]:
    out = root / "reports"
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and "reference" not in p.parts}


def cells(root: Path, number: int) -> list[dict[str, str]]:
    with (root / f"reports/tables/table{number}.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def cell(root: Path, number: int, row_label: str, column: str) -> dict[str, str]:
    [found] = [c for c in cells(root, number) if c["row_label"] == row_label and c["column"] == column]
    return found


def test_writes_every_table_figure_and_index(root: Path) -> None:
    (root / "reports/figures").mkdir(parents=True)
    (root / "reports/figures/fig3_samples_gone.gif").write_bytes(b"from a removed experiment")
    assert report.main(ARGS) == 0
    files = outputs(root)
    for n in range(1, 9):
        for suffix in ("md", "csv", "tex"):
            assert f"tables/table{n}.{suffix}" in files
            assert f"tables/table{n}.{suffix}" in files["index.md"].decode()
        assert b"\\toprule" in files[f"tables/table{n}.tex"] and b"\\bottomrule" in files[f"tables/table{n}.tex"]
    for name in ("training_curves.png", "fig10_motion_d.png", "fig3_samples_synth.gif", "fig9_zoom_out_synth.png"):
        assert f"figures/{name}" in files and f"figures/{name}" in files["index.md"].decode()
    assert files["figures/fig3_samples_synth.gif"] == b"media samples.gif"
    assert not any("notes" in name or "gone" in name for name in files)
    assert b"NOT comparable" in files["tables/table1.md"]  # probe keys are flagged
    assert report.main(ARGS) == 0 and outputs(root) == files  # byte-identical re-run


def test_missing_measurements_say_so(root: Path) -> None:
    assert report.main(ARGS) == 0
    table2 = (root / "reports/tables/table2.md").read_text()
    assert "| absent | synthetic | not measured | not measured | not measured |" in table2
    assert "metrics/absent/time.json is absent" in table2
    assert cell(root, 3, "DIGAN (ours) [synth] / batch 1", "seconds per video")["text"] == "0.0312"
    assert cell(root, 3, "DIGAN (ours) [synth] / frames one at a time", "seconds per video")["text"] == "not measured"
    assert cell(root, 4, "synth / ×4", "FVD INR")["text"] == report.NOT_MEASURED  # only PSNR/SSIM at ×4
    assert cell(root, 4, "synth / ×4", "PSNR INR")["text"] == "27.10"
    assert cell(root, 3, "VideoGPT (paper)", "seconds per video")["text"] == report.NOT_RECOVERED


def test_rows_follow_the_measured_config(root: Path) -> None:
    assert report.main(ARGS) == 0
    assert cell(root, 5, "abl_no_zm", "z_M")["text"] == report.CROSS  # its label claims the full model
    assert cell(root, 5, "abl_st1", "σt")["text"] == "1"
    assert cell(root, 7, "no_content", "content vector")["text"] == report.CROSS
    assert cell(root, 8, "DIGAN (ours) [cond]", "conditioning")["text"] == "class-conditional (101 classes)"
    methods = [c["text"] for c in cells(root, 6) if c["column"] == "method"]
    assert methods == [report.PREDICTION_METHODS["digan_projection"],
                       report.PREDICTION_METHODS["image_latent_interpolation"]]


def test_sigma_t_change_touches_only_table5(root: Path) -> None:
    assert report.main(ARGS) == 0
    before = outputs(root)
    path = root / "metrics/abl_st1/quality.json"
    data = json.loads(path.read_text())
    data["config"]["generator"]["sigma_t"] = 0.5
    path.write_text(json.dumps(data))
    assert report.main(ARGS) == 0
    after = outputs(root)
    changed = sorted(k for k in before if before[k] != after[k])
    assert changed == ["tables/table5.csv", "tables/table5.md", "tables/table5.tex"]
    assert cell(root, 5, "abl_st1", "σt")["text"] == "0.5"


def test_every_number_traces_to_its_source(root: Path) -> None:
    assert report.main(ARGS) == 0
    assert report.trace_sources(root / "reports") == []
    numbers = [c for n in range(1, 9) for c in cells(root, n) if c["kind"] == "number"]
    assert len(numbers) > 40
    assert all(c["source"] for c in numbers)
    fvd = cell(root, 1, "DIGAN (ours) [ucf_all]", "FVD")
    assert fvd["source"] == "metrics/ucf_all/quality.json#/metrics/fvd_i3d/mean"
    assert fvd["std_source"] == "metrics/ucf_all/quality.json#/metrics/fvd_i3d/std"


@pytest.mark.parametrize("forge", ["unsourced", "wrong_value", "text_number", "bad_pointer"])
def test_trace_catches_untraced_numbers(root: Path, forge: str) -> None:
    assert report.main(ARGS) == 0
    path = root / "reports/tables/table1.csv"
    rows = cells(root, 1)
    target = next(r for r in rows if r["kind"] == "number" and r["source"].startswith("metrics/"))
    if forge == "unsourced":
        rows.append({**target, "text": "123.4", "value": "123.4", "std": "", "source": "", "std_source": ""})
    elif forge == "wrong_value":
        target.update(text="1.0 ± 0.1", value="1.0")
    elif forge == "text_number":
        rows.append({**target, "kind": "text", "text": "about 99", "value": "", "std": "", "source": "",
                     "std_source": ""})
    else:
        target["source"] = target["source"].replace("/mean", "/median")
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=report.CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    problems = report.trace_sources(root / "reports")
    assert problems and all("table1.csv" in p for p in problems)


def test_paper_numbers_only_with_their_reference_source(root: Path) -> None:
    assert report.main(ARGS) == 0
    with (root / REFERENCE).open(newline="") as f:
        reference = list(csv.DictReader(f))
    paper = [c for n in range(1, 9) for c in cells(root, n) if "(paper)" in c["row_label"] and c["kind"] == "number"]
    assert {c["text"] for c in paper} >= {"577 ± 21", "32.70 ± 0.35", "655 ± 22", "59.68"}
    for c in paper:
        number = int(c["source"].split("#row ")[1].split("/")[0])
        assert c["source"].startswith(f"{REFERENCE.as_posix()}#row ")
        assert c["source"].endswith(reference[number - 1]["source"])
        assert c["value"] == reference[number - 1]["value"]
    ours = [c for n in range(1, 9) for c in cells(root, n) if "(paper)" not in c["row_label"]]
    assert not any(c["source"].startswith(REFERENCE.as_posix()) for c in ours)
    labels = [c["row_label"] for c in cells(root, 1) if c["column"] == "method"]
    ucf = labels.index("DIGAN (ours) [ucf_all]")
    assert labels[ucf + 1:ucf + 3] == ["DIGAN (paper)", "MoCoGAN-HD (paper)"]  # the paper's train+test rows beside


@pytest.mark.parametrize("name, content, expected", [
    ("metrics/synth/speed.json", "{not json", "metrics/synth/speed.json: not valid JSON"),
    ("metrics/synth/quality.json", json.dumps({"experiment": "synth"}),
     "metrics/synth/quality.json: missing key /profile"),
    ("metrics/cond/quality.json", json.dumps({**quality("cond", []), "experiment": "other"}),
     "metrics/cond/quality.json: header experiment 'other'"),
    ("runs/synth/metrics.jsonl", '{"step": 1, "loss_G": 1.0, "loss_D": 1.0}\n{"step": 2\n',
     "runs/synth/metrics.jsonl:2"),
])
def test_malformed_input_fails_naming_the_file(root: Path, capsys: pytest.CaptureFixture[str], name: str,
                                               content: str, expected: str) -> None:
    (root / name).write_text(content)
    assert report.main(ARGS) == 1
    assert expected in capsys.readouterr().err


def test_fvd_curve_figure_from_snapshots(root: Path) -> None:
    points = [{"step": s, "checkpoint": f"runs/synth/snapshots/G_ema_step{s:07d}.pt",
               "metrics": {"fvd_probe": metric("fvd", "probe", [f, f + 1.0])}} for s, f in ((50, 900.0), (100, 700.0))]
    write(root / "metrics/synth/curve.json", {**header("synth"), "points": points, "protocol": PROTOCOL})
    assert report.main(ARGS) == 0
    index = (root / "reports/index.md").read_text()
    assert (root / "reports/figures/fvd_curve.png").is_file() and "fvd_curve.png" in index
    assert "FVD over training iterations" in index and "not comparable" in index
    write(root / "metrics/synth/curve.json", {**header("synth"), "points": [{"step": 50, "metrics": {}}]})
    assert report.main(ARGS) == 1  # malformed: no fvd key


@pytest.mark.parametrize("name, change, expected", [
    ("speed", lambda d: d["variants"].update(batch3=d["variants"]["batch1"]), "/variants: Value error, unknown keys"),
    ("quality", lambda d: d["metrics"]["fvd_probe"].update(mean="310"), "/metrics/fvd_probe/mean: "),
    ("quality", lambda d: d["metrics"].update(fvd_i3d=d["metrics"].pop("fvd_probe")), "fvd_i3d holds fvd_probe"),
    ("prediction", lambda d: d.update(method="nearest_frame"),
     "/method: Value error, unknown prediction method 'nearest_frame'"),
    ("motion_d", lambda d: d["logit_std"].pop(), "must have equal lengths"),
    ("space", lambda d: d.pop("backbone"), "missing key /backbone"),
])
def test_file_that_is_not_what_evaluate_writes_fails_naming_file_and_key(
        root: Path, capsys: pytest.CaptureFixture[str], name: str, change, expected: str) -> None:
    path = root / f"metrics/synth/{name}.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    assert report.main(ARGS) == 1
    err = capsys.readouterr().err
    assert f"metrics/synth/{name}.json: " in err and expected in err


def test_params_are_read_through_the_stages_schema(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = params()
    data["experiments"]["synth"]["dataset"] = "synthetic"  # the key the report once read; the schema has none
    (root / "params.yaml").write_text(yaml.safe_dump(data))
    assert report.main(ARGS) == 1
    assert "params.yaml: unknown key experiments.synth.dataset" in capsys.readouterr().err


def column_names(root: Path, number: int) -> list[str]:
    return list(dict.fromkeys(c["column"] for c in cells(root, number)))


def test_floor_columns_beside_every_quality_metric(root: Path) -> None:
    assert report.main(ARGS) == 0
    assert report.trace_sources(root / "reports") == []
    floors = json.loads((root / "metrics/synth/quality.json").read_text())["floors"]
    for number, row in ((1, "DIGAN (ours) [synth]"), (5, "synth"), (7, "synth")):
        for column, key in (("FVD", "fvd_probe"), ("KVD", "kvd_probe")):
            for floor, suffix in (("real", "real vs real"), ("untrained", "untrained")):
                found = cell(root, number, row, f"{column} {suffix}")
                where = f"metrics/synth/quality.json#/floors/{floor}/{key}"
                assert (found["source"], found["std_source"]) == (f"{where}/mean", f"{where}/std")
                assert found["value"] == repr(floors[floor][key]["mean"])
                assert found["std"] == repr(floors[floor][key]["std"])
    assert column_names(root, 1)[3:] == ["IS", "IS real vs real", "IS untrained", "FVD", "FVD real vs real",
                                         "FVD untrained", "KVD", "KVD real vs real", "KVD untrained"]
    assert cell(root, 1, "DIGAN (ours) [synth]", "IS untrained")["source"].endswith("/floors/untrained/is_probe/mean")
    assert cell(root, 1, "DIGAN (ours) [ucf_all]", "FVD untrained")["text"] == report.NOT_MEASURED  # no floors
    floor_columns = ("real vs real", "untrained")
    paper = [c for c in cells(root, 1) if "(paper)" in c["row_label"] and c["column"].endswith(floor_columns)]
    assert paper and all(c["text"] == "—" for c in paper)  # the paper states no floors
    assert cell(root, 5, "abl_st1", "FVD real vs real")["text"] == "—"  # trains on the real split
    assert cell(root, 5, "abl_st1", "FVD untrained")["source"].endswith("/floors/untrained/fvd_probe/mean")
    table5 = (root / "reports/tables/table5.md").read_text()
    assert "synth: split train as generated, against split test" in table5
    assert ("Samples: `fvd_probe` (synth): 64 real / 64 generated clips per run, 3 runs; its real vs real and "
            "untrained floors at the same counts.") in table5
    assert "Samples: `fvd_probe` (abl_st1) untrained floor: 64 real / 64 generated clips per run, 2 runs." in table5
    assert column_names(root, 8) == ["method", "dataset", "conditioning", "IS", "FVD"]  # cond has no floors


def test_no_floor_columns_without_floors(root: Path) -> None:
    for exp in ("synth", "abl_st1"):
        path = root / f"metrics/{exp}/quality.json"
        path.write_text(json.dumps({k: v for k, v in json.loads(path.read_text()).items() if k != "floors"}))
    assert report.main(ARGS) == 0
    assert column_names(root, 1) == ["method", "dataset", "split", "IS", "FVD", "KVD"]
    assert column_names(root, 5) == ["experiment", "dataset", "σt", "z_M", "f_M", "FVD", "KVD"]
    assert column_names(root, 7) == ["experiment", "dataset", "content vector", "FVD", "KVD"]
    assert column_names(root, 8) == ["method", "dataset", "conditioning", "IS", "FVD"]
    assert not any("Floors" in (root / f"reports/tables/table{n}.md").read_text() for n in range(1, 9))


def test_table1_row_per_extra_backbone(root: Path) -> None:
    assert report.main(ARGS) == 0
    labels = [c["row_label"] for c in cells(root, 1) if c["column"] == "method"]
    assert labels[labels.index("DIGAN (ours) [synth]") + 1] == "DIGAN (ours) [synth], I3D"
    assert "DIGAN (ours) [ucf_all], I3D" not in labels  # its row shows I3D already
    extra = "DIGAN (ours) [synth], I3D"
    assert cell(root, 1, extra, "FVD")["source"] == "metrics/synth/quality.json#/metrics/fvd_i3d/mean"
    assert cell(root, 1, extra, "FVD")["text"] == "801.0 ± 11.0"  # the paper's backbone: no mark
    assert cell(root, 1, extra, "KVD real vs real")["source"].endswith("/floors/real/kvd_i3d/mean")
    assert cell(root, 1, extra, "IS")["text"] == cell(root, 1, extra, "IS untrained")["text"] == "—"
    assert ("Samples: `fvd_i3d` (synth): 32 real / 32 generated clips per run, 2 runs; its real vs real and "
            "untrained floors at the same counts.") in (root / "reports/tables/table1.md").read_text()


def test_a_column_never_mixes_backbones(root: Path) -> None:
    assert report.main(ARGS) == 0
    for number in (5, 7):
        fvd = [c["source"] for c in cells(root, number) if c["column"].startswith("FVD") and c["kind"] == "number"]
        assert fvd and all("/fvd_probe/" in s for s in fvd)  # evaluate.backbone, though synth has fvd_i3d too
    assert cell(root, 1, "DIGAN (ours) [synth]", "FVD")["source"].endswith("/metrics/fvd_probe/mean")
