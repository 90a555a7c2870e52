"""Figures: training curves, FVD over iterations, Fig. 10, and the media of Figs. 1, 3-7, 9."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from pipeline.report.inputs import MEDIA_SUFFIXES, VALUE_KINDS, Inputs, ReportError
from pipeline.results import MEDIA_KINDS


def read_log(path: Path) -> list[dict[str, float]]:
    """Training log records with step, loss_G and loss_D; a bad line fails with file and line."""
    records = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise ReportError(f"{path.as_posix()}:{n}: not valid JSON ({err})") from None
        if not isinstance(record, dict) or not all(VALUE_KINDS["number"](record.get(k)) for k in
                                                    ("step", "loss_G", "loss_D")):
            raise ReportError(f"{path.as_posix()}:{n}: needs numeric step, loss_G and loss_D")
        records.append(record)
    return records


def _save(fig: Any, path: Path) -> None:
    """PNG without the software tag, so the bytes depend only on the data."""
    fig.savefig(path, dpi=100, metadata={"Software": None})


def training_curves(inp: Inputs, path: Path) -> str | None:
    from matplotlib.figure import Figure

    logs = {}
    for name in inp.experiments:
        log = inp.runs / name / "metrics.jsonl"
        if log.is_file() and (records := read_log(log)):
            logs[name] = records
    if not logs:
        return None
    cols = min(3, len(logs))
    rows = math.ceil(len(logs) / cols)
    fig = Figure(figsize=(4.5 * cols, 3.2 * rows))
    axes = list(fig.subplots(rows, cols, squeeze=False).flat)
    for ax, (name, records) in zip(axes, logs.items()):
        steps = [r["step"] for r in records]
        for key in ("loss_G", "loss_D"):
            ax.plot(steps, [r[key] for r in records], label=key, linewidth=1)
        ax.set(title=name, xlabel="step", ylabel="loss")
        ax.legend(fontsize="small")
    for ax in axes[len(logs):]:
        ax.set_visible(False)
    fig.tight_layout()
    _save(fig, path)
    return (f"Training losses (loss_G, loss_D) over steps for {', '.join(logs)} "
            f"(from {inp.runs.as_posix()}/*/metrics.jsonl).")


def fvd_curve_figure(inp: Inputs, path: Path) -> str | None:
    """FVD over training iterations, from the EMA-generator snapshots an evaluate stage scored (curve.json)."""
    from matplotlib.figure import Figure

    docs = [d for name in inp.experiments if (d := inp.doc(name, "curve")) is not None]
    if not docs:
        return None
    fig = Figure(figsize=(5.5, 3.8))
    ax = fig.subplots()
    keys = set()
    for doc in docs:
        points = doc.get("points")  # a non-empty list of checked points (pipeline.results.Curve)
        fvd = {k for pt in points for k in pt["metrics"] if k.startswith("fvd_")}
        if len(fvd) != 1 or not all(fvd <= set(pt["metrics"]) for pt in points):
            raise ReportError(f"{doc.path}: the metrics of every /points entry must hold the same one fvd_* key")
        [key] = fvd
        keys.add(key)
        steps = [pt["step"] for pt in points]
        mean = [pt["metrics"][key]["mean"] for pt in points]
        std = [pt["metrics"][key]["std"] for pt in points]
        ax.errorbar(steps, mean, yerr=std, marker="o", markersize=3, capsize=2,
                    label=f"{doc.data['experiment']} ({key})")
    ax.set(xlabel="training step", ylabel="FVD (mean ± std over runs)", title="FVD over training iterations")
    ax.legend(fontsize="small")
    fig.tight_layout()
    _save(fig, path)
    names = ", ".join(f"{d.data['experiment']} ({d.path})" for d in docs)
    probe = " — probe backbone, not comparable with the paper" if any(not k.endswith("_i3d") for k in keys) else ""
    return f"FVD over training iterations (EMA generator snapshots) for {names}{probe}."


def motion_d_figure(inp: Inputs, path: Path) -> str | None:
    """Fig. 10: the motion D's logit for the pair (first, last frame) as the Δt fed to it varies."""
    from matplotlib.figure import Figure

    docs = [d for name in inp.experiments if (d := inp.doc(name, "motion_d")) is not None]
    if not docs:
        return None
    fig = Figure(figsize=(5.5, 3.8))
    ax = fig.subplots()
    for doc in docs:
        dt, mean, std = (doc.get(k) for k in ("delta_t", "logit_mean", "logit_std"))  # equal lengths (MotionD)
        ax.plot(dt, mean, marker="o", markersize=3, label=doc.data["experiment"])
        ax.fill_between(dt, [m - s for m, s in zip(mean, std)], [m + s for m, s in zip(mean, std)], alpha=0.2)
        ax.axvline(doc.get("real_delta_t", kind="number"), color="gray", linestyle="--", linewidth=1)
    ax.axhline(0.0, color="black", linewidth=0.5)
    ax.set(xlabel="Δt given to the motion discriminator", ylabel="D_M logit (mean ± std)",
           title="Motion D response to Δt for the pair (first, last frame)")
    ax.legend(fontsize="small")
    fig.tight_layout()
    _save(fig, path)
    names = ", ".join(d.data["experiment"] for d in docs)
    return f"Fig. 10: motion discriminator logit vs Δt (dashed: the real Δt) for {names}."


def media_figures(inp: Inputs) -> list[tuple[Path, str, str]]:
    """(source, figure file name, description) for every known media file of every experiment."""
    found = []
    for name in inp.experiments:
        media = inp.metrics / name / "media"
        if not media.is_dir():
            continue
        for src in sorted(media.iterdir()):
            if src.is_file() and src.stem in MEDIA_KINDS and src.suffix in MEDIA_SUFFIXES:
                figure, shows = MEDIA_KINDS[src.stem]
                found.append((src, f"fig{figure}_{src.stem}_{name}{src.suffix}",
                              f"Fig. {figure}: {shows}, {name} ({src.as_posix()})."))
    return found


