"""The paper's Tables 1-8, each built from the measured metrics files and the reference numbers."""
from __future__ import annotations

from collections.abc import Callable

from pipeline.report.cells import (Cell, Context, Table, beside, context, dataset_cell, finish, flag, fmt_pm, integer,
                                   label, load, metric_cell, metric_columns, missing, number, pick_metric,
                                   quality_cells, raw_number, reference_cell, sourced_text, width)
from pipeline.report.inputs import (COMPARABLE, NOT_APPLICABLE, NOT_RECOVERED, REFERENCE_SETTINGS, SETTING_SPLITS,
                                    TABLE3_BASELINES, Doc, Inputs, RefRow)
from pipeline.results import PREDICTION_METHODS, SPEED_VARIANTS, TIME_SCENARIOS

TABLE1_METRICS = ("is", "fvd", "kvd")  # in the order of Table 1's columns


def table1(inp: Inputs) -> Table:
    ctx = context(inp, inp.members(1))
    ours = sorted((_table1_ours(inp, ctx, name) for name in inp.members(1)), key=lambda our: our[:2])
    refs: dict[str, list[RefRow]] = {}
    for row in inp.reference:
        if row.table == "1":
            refs.setdefault(row.setting, []).append(row)
    rows, placed = [], set()
    for i, (group, _, own) in enumerate(ours):
        rows += own
        setting = REFERENCE_SETTINGS.get(group)
        if setting in refs and setting not in placed and (i + 1 == len(ours) or ours[i + 1][0] != group):
            rows += _paper_rows(inp, ctx, refs[setting])
            placed.add(setting)
    for setting, group in refs.items():
        if setting not in placed:
            rows += _paper_rows(inp, ctx, group)
    extra = [] if not any(own[0][0].text.startswith("DIGAN (released") for _, _, own in ours) else [
        "Rows marked (released checkpoint, our metrics) score the official released weights, imported with "
        "`python -m digan.official`, with this project's metrics: measured here, not the paper's numbers."]
    extra += [f"Rows marked (paper) come from {inp.reference_path.as_posix()} (I3D FVD, C3D IS, UCF-101 only); "
             "each sits below our run on the same training data. The paper's KVD and its TaiChi, Sky and "
             "Kinetics-food numbers are not recovered."]
    if len(ours) != sum(len(own) for _, _, own in ours):
        extra.append("A row labelled [<experiment>], <backbone> scores the same generator with that backbone too "
                     "(params also_scored_with), at its own counts (see Samples).")
    return finish(ctx, 1, "Main results: IS, FVD and KVD (mean ± std over runs)",
                  ["method", "dataset", "split", *metric_columns(ctx, "IS", "FVD", "KVD")], rows, extra)


def _table1_ours(inp: Inputs, ctx: Context, name: str) -> tuple[tuple[str, str], str, list[list[Cell]]]:
    """An experiment's row, then one row per further backbone its quality file holds."""
    doc = load(inp, ctx, name, "quality")
    released = doc is not None and doc.data.get("pretrained")
    method = f"{'DIGAN (released checkpoint, our metrics)' if released else 'DIGAN (ours)'} [{name}]"
    group = _training_data(inp, name)
    if doc is None:
        blank = [missing()] * (1 + len(TABLE1_METRICS) * width(ctx))  # the split, then every metric column
        return group, name, [[label(method), dataset_cell(inp, name, doc), *blank]]
    split = doc.get("config", "data", "split", kind="str")
    head = [dataset_cell(inp, name, doc), sourced_text(doc, split, "config", "data", "split")]
    rows = [[label(method), *head, *(c for m in TABLE1_METRICS for c in quality_cells(ctx, doc, m))]]
    for backbone in _extra_backbones(ctx, doc):
        rows.append([label(f"{method}, {_backbone_name(backbone)}"), *head,
                     *(c for m in TABLE1_METRICS for c in _backbone_cells(ctx, doc, m, backbone))])
    return group, name, rows


def _extra_backbones(ctx: Context, doc: Doc) -> list[str]:
    """Backbones of the quality file's metrics that its row does not show (params also_scored_with)."""
    results = doc.get("metrics", kind="dict")
    shown = {pick_metric(ctx, doc, ("metrics",), m) for m in TABLE1_METRICS}
    return sorted({r["backbone"] for r in results.values()} - {results[k]["backbone"] for k in shown if k})


def _backbone_cells(ctx: Context, doc: Doc, metric: str, backbone: str) -> list[Cell]:
    """``metric`` with ``backbone`` in its own row; a metric that backbone did not score does not apply there."""
    if doc.has("metrics", f"{metric}_{backbone}"):
        return quality_cells(ctx, doc, metric, backbone)
    return [missing(NOT_APPLICABLE)] * width(ctx)


def _backbone_name(backbone: str) -> str:
    return backbone.upper() if backbone in COMPARABLE.values() else backbone


def _training_data(inp: Inputs, name: str) -> tuple[str, str]:
    """(dataset, store) an experiment trains on, e.g. (ucf101, train): paper rows of the same data sit below it."""
    exp = inp.experiments[name]
    clip_set = inp.params.clip_sets.get(exp.clips)
    return (clip_set.dataset if clip_set is not None else exp.clips, exp.store)


def _paper_rows(inp: Inputs, ctx: Context, rows: list[RefRow]) -> list[list[Cell]]:
    """One row per method of one reference setting, in the reference file's order."""
    methods = list(dict.fromkeys(r.method for r in rows))
    out = []
    for method in methods:
        mine = {r.metric: r for r in rows if r.method == method}
        first = next(iter(mine.values()))
        split = SETTING_SPLITS.get(first.setting)
        out.append([label(f"{method} (paper)"), Cell(first.setting, "text", source=inp.ref_src(first)),
                    Cell(split, "text") if split else missing(NOT_APPLICABLE),
                    *(c for m in ("IS", "FVD", "KVD")
                      for c in beside(ctx, reference_cell(inp, mine[m]) if m in mine else missing(NOT_RECOVERED)))])
    return out


def table2(inp: Inputs) -> Table:
    ctx = context(inp)
    rows, extra = [], []
    for name in inp.members(2):
        doc = load(inp, ctx, name, "time")
        rows.append([label(name), dataset_cell(inp, name, doc),
                     *[metric_cell(ctx, doc, ("scenarios", s, "metrics"), "fvd") for s in TIME_SCENARIOS]])
        extra += [_times_line(doc, s) for s in TIME_SCENARIOS if doc is not None and doc.has("scenarios", s)]
    return finish(ctx, 2, "Time interpolation and extrapolation: FVD of frames at the given times",
                  ["experiment", "dataset", "standard", "interpolation", "extrapolation"], rows, extra)


def _times_line(doc: Doc, scenario: str) -> str:
    times = doc.get("scenarios", scenario, "times")
    return (f"{doc.data['experiment']} {scenario}: {len(times)} frames at t = {min(times):g} … {max(times):g} "
            f"({doc.src('scenarios', scenario, 'times')}).")


def table3(inp: Inputs) -> Table:
    ctx = context(inp)
    rows, extra = [], []
    for name in inp.members(3):
        doc = load(inp, ctx, name, "speed")
        rows += [_speed_row(doc, name, v) for v in SPEED_VARIANTS]
        if doc is not None:
            extra.append(_speed_line(doc))
    for method in TABLE3_BASELINES:
        found = [r for r in inp.reference if r.table == "3" and r.method == method]
        value = reference_cell(inp, found[0]) if found else missing(NOT_RECOVERED)
        rows.append([label(f"{method} (paper)"), Cell("paper's machine", "text"), value,
                     missing(NOT_APPLICABLE), missing(NOT_APPLICABLE)])
    extra.append("Paper rows: the paper's Table 3 times (Titan XP GPU) are not recovered; "
                 f"only rows present in {inp.reference_path.as_posix()} are printed.")
    return finish(ctx, 3, "Generation time per video (seconds)",
                  ["method", "setting", "seconds per video", "batch size", "repeats"], rows, extra)


def _speed_row(doc: Doc | None, name: str, variant: str) -> list[Cell]:
    head = [label(f"DIGAN (ours) [{name}]"), label(SPEED_VARIANTS[variant])]
    if doc is None or not doc.has("variants", variant):
        return head + [missing()] * 3
    where = ("variants", variant)
    return head + [number(doc, *where, "seconds_per_video"), integer(doc, *where, "batch_size"),
                   integer(doc, *where, "repeats")]


def _speed_line(doc: Doc) -> str:
    res, frames = doc.get("resolution", kind="int"), doc.get("frames", kind="int")
    return (f"{doc.data['experiment']}: {frames} frames of {res}×{res} on {doc.get('device', kind='str')}, "
            f"{doc.get('threads')} threads; generator FLOP/s ÷ dense-matmul FLOP/s = "
            f"{doc.get('matmul_roofline_ratio'):.2f} ({doc.path}).")


def table4(inp: Inputs) -> Table:
    ctx = context(inp)
    rows, extra = [], []
    for name in inp.members(4):
        fvd, recon = load(inp, ctx, name, "space"), load(inp, ctx, name, "space_recon")
        scales = _scales(fvd) | _scales(recon)
        rows += [_space_row(ctx, name, s, fvd, recon) for s in sorted(scales, key=int)]
        if recon is not None:
            rows.append(_base_row(name, recon))
        if fvd is not None:
            extra.append(f"{name}: base resolution {fvd.get('base_resolution', kind='int')} ({fvd.path}).")
        if recon is not None:
            extra.append(f"{name}: {recon.get('projection_steps')} projection steps ({recon.path}).")
    return finish(ctx, 4, "Space interpolation (upsampling): DIGAN's INR vs bicubic",
                  ["experiment", "scale", "resolution", "FVD INR", "FVD bicubic", "PSNR INR", "PSNR bicubic",
                   "SSIM INR", "SSIM bicubic", "clips (PSNR/SSIM)"], rows, extra)


def _scales(doc: Doc | None) -> set[str]:
    return set() if doc is None else set(doc.get("scales"))  # integer keys (pipeline.results)


def _space_row(ctx: Context, name: str, scale: str, fvd: Doc | None, recon: Doc | None) -> list[Cell]:
    has_fvd = fvd is not None and fvd.has("scales", scale)
    has_recon = recon is not None and recon.has("scales", scale)
    source = fvd if has_fvd else recon
    cells = [label(name), label(f"×{scale}"), integer(source, "scales", scale, "resolution")]
    cells += [metric_cell(ctx, fvd if has_fvd else None, ("scales", scale, m), "fvd") for m in ("inr", "bicubic")]
    for measure in ("psnr", "ssim"):
        cells += [number(recon, "scales", scale, measure, m) if has_recon else missing() for m in ("inr", "bicubic")]
    cells.append(integer(recon, "scales", scale, "clips") if has_recon else missing())
    return cells


def _base_row(name: str, recon: Doc) -> list[Cell]:
    """The projection's own PSNR at the training resolution: the ceiling the upsampled PSNR starts from."""
    na = missing(NOT_APPLICABLE)
    return [label(name), label("×1 (projection fit)"), na, na, na, number(recon, "base_psnr"), na, na, na, na]


def table5(inp: Inputs) -> Table:
    ctx = context(inp, inp.members(5))
    rows = []
    for name in inp.members(5):
        doc = load(inp, ctx, name, "quality")
        gen = ("config", "generator")
        setting = [missing()] * 3 if doc is None else [
            number(doc, *gen, "sigma_t", show=lambda v: f"{v:g}"), flag(doc, *gen, "motion_latent"),
            flag(doc, *gen, "motion_mlp")]
        rows.append([label(name), dataset_cell(inp, name, doc), *setting, *quality_cells(ctx, doc, "fvd"),
                     *quality_cells(ctx, doc, "kvd")])
    extra = ["σt, z_M and f_M are read from each run's measured config (quality.json /config/generator)."]
    return finish(ctx, 5, "Ablation of the motion components: time frequency σt, motion vector z_M, MLP f_M",
                  ["experiment", "dataset", "σt", "z_M", "f_M", *metric_columns(ctx, "FVD", "KVD")], rows, extra)


def table6(inp: Inputs) -> Table:
    ctx = context(inp)
    rows, extra = [], []
    for name in inp.members(6):
        doc = load(inp, ctx, name, "prediction")
        rows.append(_prediction_row(doc, name))
        if doc is not None:
            extra.append(f"{name}: split {doc.get('split')}, SSIM per clip over the predicted frames ({doc.path}).")
            for text in doc.get("notes", kind="list") if doc.has("notes") else []:
                ctx.note(f"{doc.path}: {text}")
    rows.sort(key=lambda r: (r[1].text != PREDICTION_METHODS["digan_projection"], r[1].kind == "missing", r[0].text))
    extra.append("The paper's image baseline is StyleGAN2; ours is the INR-GAN image generator "
                 "(generator.motion = false).")
    return finish(ctx, 6, "Intermediate frame prediction: SSIM of DIGAN vs image-GAN latent interpolation",
                  ["experiment", "method", "SSIM", "clips", "given frames", "predicted frames",
                   "projection steps"], rows, extra)


def _prediction_row(doc: Doc | None, name: str) -> list[Cell]:
    if doc is None:
        return [label(name)] + [missing()] * 6
    method = doc.get("method")
    ssim = Cell(fmt_pm(doc.get("ssim", "mean", kind="number"), doc.get("ssim", "std", kind="number")), "number",
                raw_number(doc.get("ssim", "mean")), raw_number(doc.get("ssim", "std")), doc.src("ssim", "mean"),
                doc.src("ssim", "std"))
    return [label(name), sourced_text(doc, PREDICTION_METHODS[method], "method"), ssim, integer(doc, "clips"),
            _frames_cell(doc, "given_frames"), _frames_cell(doc, "predicted_frames"),
            integer(doc, "projection_steps")]


def _frames_cell(doc: Doc, key: str) -> Cell:
    return sourced_text(doc, ", ".join(str(f) for f in doc.get(key)), key)


def table7(inp: Inputs) -> Table:
    ctx = context(inp, inp.members(7))
    rows = []
    for name in inp.members(7):
        doc = load(inp, ctx, name, "quality")
        content = flag(doc, "config", "generator", "content_latent") if doc is not None else missing()
        rows.append([label(name), dataset_cell(inp, name, doc), content, *quality_cells(ctx, doc, "fvd"),
                     *quality_cells(ctx, doc, "kvd")])
    rows.sort(key=lambda r: (r[1].text, r[0].text))
    extra = ["Content vector ✓: motion parameters G_M(z_I, z_M); ✗: G_M(z_M) only (quality.json "
             "/config/generator/content_latent)."]
    return finish(ctx, 7, "Effect of the content vector on motion generation",
                  ["experiment", "dataset", "content vector", *metric_columns(ctx, "FVD", "KVD")], rows, extra)


def table8(inp: Inputs) -> Table:
    ctx = context(inp, inp.members(8))
    rows = []
    for name in inp.members(8):
        doc = load(inp, ctx, name, "quality")
        rows.append([label(f"DIGAN (ours) [{name}]"), dataset_cell(inp, name, doc), _conditioning(doc),
                     *quality_cells(ctx, doc, "is"), *quality_cells(ctx, doc, "fvd")])
    for row in (r for r in inp.reference if r.table == "8"):
        cells = {"IS": missing(NOT_RECOVERED), "FVD": missing(NOT_RECOVERED), row.metric: reference_cell(inp, row)}
        rows.append([label(f"{row.method} (paper)"), Cell(row.setting, "text", source=inp.ref_src(row)),
                     Cell("class-conditional", "text"), *beside(ctx, cells["IS"]), *beside(ctx, cells["FVD"])])
    extra = ["Conditioning is read from quality.json /config/generator/num_classes (> 0: class-conditional)."]
    return finish(ctx, 8, "Class-conditional vs unconditional generation",
                  ["method", "dataset", "conditioning", *metric_columns(ctx, "IS", "FVD")], rows, extra)


def _conditioning(doc: Doc | None) -> Cell:
    if doc is None:
        return missing()
    classes = doc.get("config", "generator", "num_classes", kind="int")
    text = f"class-conditional ({classes} classes)" if classes > 0 else "unconditional"
    return sourced_text(doc, text, "config", "generator", "num_classes")


TABLES: tuple[Callable[[Inputs], Table], ...] = (table1, table2, table3, table4, table5, table6, table7, table8)


