"""Stage evaluate@<experiment>: measure one trained model → metrics/<experiment>/*.json (+ media/).

Which measurements run is the experiment's ``analyses`` list (params.yaml), each writing one file:
``quality`` (FVD/KVD/IS, Tables 1, 5, 7, 8), ``curve`` (FVD over training iterations), ``time`` (Table 2:
the training grid, in-between times and t > 1), ``speed`` (Table 3), ``space`` (Table 4: FVD and, by
projection, PSNR/SSIM against real higher-resolution clips), ``prediction`` (Table 6), ``motion_d``
(Fig. 10) and ``media`` (Figs. 1, 3–7, 9).
Every file starts with the same header (experiment, profile, dataset, label, tables, checkpoint, steps), so
the report can say where each number comes from. The run is logged to MLflow as ``evaluate-<experiment>``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from digan.atomic import atomic_write
from digan.config import ConfigError
from digan.generate import load_generator
from digan.metrics import __main__ as metrics_cli
from digan.metrics.backbones.registry import load_backbone
from digan.models.generator import Generator
from digan.tracking import flatten, make_tracker, run_tags
from digan.training.checkpoint import load_checkpoint
from pipeline.params import METRICS_ROOT, RUNS_ROOT, BackboneRef, Experiment, Params, clip_store_path, load_params
from pipeline.weights import backbone_dir, probe_path

CLIP_FRAMES = 16
# Table 2's time grids (16 frames each): the training grid t = k/15, half-way between training frames
# (all of them strictly inside (0, 1)), and the 16 frames after the clip (t in (1, 2]).
TIME_SCENARIOS = {"standard": (0.0, 1.0), "interpolation": (1 / 32, 31 / 32), "extrapolation": (1 + 1 / 15, 2.0)}
FEATURE_CACHE = Path("data/cache/features")
SUMMARY_ROOT = Path("summary")  # scalar results per experiment, for dvc metrics show / dvc exp show


class Context:
    """What every analysis needs: the experiment, its checkpoint and generator, and the real clips."""

    def __init__(self, params: Params, name: str) -> None:
        self.params, self.name = params, name
        self.exp: Experiment = params.experiments[name]
        self.checkpoint = RUNS_ROOT / name / "checkpoint.pt"
        if not self.checkpoint.is_file():
            raise FileNotFoundError(f"{self.checkpoint}: run train@{name} first")
        self.state = load_checkpoint(self.checkpoint)
        self.store = clip_store_path(self.exp.clips, self.exp.store)
        self.real_store_name = self.exp.real_store or self.exp.store
        self.real_store = clip_store_path(self.exp.clips, self.real_store_name)  # what the metrics compare with
        self.out = METRICS_ROOT / name
        self._G: Generator | None = None

    @property
    def G(self) -> Generator:
        if self._G is None:
            self._G = load_generator(self.checkpoint)
        return self._G

    def header(self) -> dict[str, Any]:
        pretrained = None if self.exp.pretrained is None else self.exp.pretrained.model_dump()
        return {"experiment": self.name, "profile": self.params.profile, "pretrained": pretrained,
                "dataset": f"{self.exp.clips}/{self.exp.store}", "label": self.exp.label,
                "real_clips": f"{self.exp.clips}/{self.real_store_name}", "real_split": self.exp.real_split,
                "tables": self.exp.tables, "checkpoint": str(self.checkpoint), "train_steps": int(self.state["step"])}


def _backbone_args(ref: BackboneRef, flag: str) -> list[str]:
    """CLI arguments of digan.metrics for ``i3d``/``c3d``/``probe:<name>``."""
    if ref.kind == "probe":
        return [flag, "probe", "--probe", str(probe_path(ref.probe))]
    return [flag, ref.kind, "--weights-dir", str(backbone_dir(ref.kind))]


def _metrics(ctx: Context, wanted: list[str], *, runs: int, samples: int, t_range: tuple[float, float] = (0.0, 1.0),
             checkpoint: Path | None = None) -> dict[str, Any]:
    """digan.metrics on the checkpoint: FVD/KVD with evaluate.backbone, IS with evaluate.is_backbone."""
    ev = ctx.params.evaluate
    common = ["--checkpoint", str(checkpoint or ctx.checkpoint), "--real", str(ctx.real_store),
              "--real-split", ctx.exp.real_split,
              "--runs", str(runs), "--samples", str(samples), "--is-samples", str(ev.is_samples),
              "--frames", str(CLIP_FRAMES), "--seed", str(ev.seed), "--cache-dir", str(FEATURE_CACHE),
              "--t-range", str(t_range[0]), str(t_range[1])]
    report: dict[str, Any] = {}
    distances = ",".join(m for m in wanted if m in ("fvd", "kvd"))
    if distances:
        report = metrics_cli.evaluate(metrics_cli.parse_args(
            [*common, "--metrics", distances, *_backbone_args(ev.backbone, "--backbone")]))
    if "is" in wanted:
        scored = metrics_cli.evaluate(metrics_cli.parse_args(
            [*common, "--metrics", "is", *_backbone_args(ev.is_backbone, "--is-backbone")]))
        report = {**scored, **report, "metrics": {**report.get("metrics", {}), **scored["metrics"]}}
    return report


def quality(ctx: Context) -> dict[str, Any]:
    ev = ctx.params.evaluate
    return {"config": ctx.state["config"],  # what the model was trained with, from its checkpoint
            **_metrics(ctx, ctx.exp.metrics, runs=ev.runs, samples=ev.samples)}


def time_range(ctx: Context) -> dict[str, Any]:
    ev = ctx.params.evaluate
    scenarios = {}
    for name, t_range in TIME_SCENARIOS.items():
        report = _metrics(ctx, ["fvd", "kvd"], runs=ev.analysis_runs, samples=ev.analysis_samples, t_range=t_range)
        scenarios[name] = {"times": torch.linspace(*t_range, CLIP_FRAMES).tolist(), "metrics": report["metrics"]}
    return {"scenarios": scenarios, "protocol": report["protocol"]}


def fvd_curve(ctx: Context) -> dict[str, Any]:
    """FVD/KVD of the EMA generator at every snapshot of training (train.snapshot_every) and at the end."""
    from digan.train import SNAPSHOT_DIR

    ev = ctx.params.evaluate
    snapshots = sorted((ctx.checkpoint.parent / SNAPSHOT_DIR).glob("G_ema_step*.pt"))
    points = []
    for path in [*snapshots, ctx.checkpoint]:
        step = int(load_checkpoint(path)["step"])
        if points and points[-1]["step"] == step:
            continue  # the last snapshot is the final checkpoint's generator
        report = _metrics(ctx, ["fvd", "kvd"], runs=ev.analysis_runs, samples=ev.analysis_samples, checkpoint=path)
        points.append({"step": step, "checkpoint": str(path), "metrics": report["metrics"]})
    return {"points": points, "protocol": report["protocol"]}


def speed(ctx: Context) -> dict[str, Any]:
    from digan.analysis.speed import measure_generation_speed

    return measure_generation_speed(ctx.G, frames=CLIP_FRAMES, batch_size=4, repeats=ctx.params.evaluate.speed_repeats)


def _analysis_backbone(ctx: Context):
    ev = ctx.params.evaluate
    if ev.backbone.kind == "probe":
        return load_backbone("probe", probe=probe_path(ev.backbone.probe))
    return load_backbone(ev.backbone.kind, weights_dir=backbone_dir(ev.backbone.kind))


def _space_stores(ctx: Context) -> dict[int, Path]:
    return {scale: clip_store_path(ctx.exp.clips, ctx.real_store_name, scale) for scale in ctx.exp.space_scales}


def space(ctx: Context) -> dict[str, Any]:
    from digan.analysis.space import upsampling_fvd

    ev = ctx.params.evaluate
    return upsampling_fvd(ctx.G, _space_stores(ctx), backbone=_analysis_backbone(ctx), samples=ev.analysis_samples,
                          runs=ev.analysis_runs, seed=ev.seed, cache_dir=FEATURE_CACHE)


def space_recon(ctx: Context) -> dict[str, Any]:
    from digan.analysis.prediction import space_reconstruction

    ev = ctx.params.evaluate
    return space_reconstruction(ctx.G, ctx.store, _space_stores(ctx), clips=ev.projection_clips,
                                steps=ev.projection_steps, seed=ev.seed)


def prediction(ctx: Context) -> dict[str, Any]:
    from digan.analysis.prediction import prediction_ssim

    ev = ctx.params.evaluate
    return prediction_ssim(ctx.G, ctx.store, clips=ev.projection_clips, steps=ev.projection_steps, seed=ev.seed)


def motion_d(ctx: Context) -> dict[str, Any]:
    from digan.analysis.motion_d import motion_d_response

    return motion_d_response(ctx.checkpoint, ctx.store, seed=ctx.params.evaluate.seed)


def media(ctx: Context) -> dict[str, Any]:
    from digan.analysis.media import write_media
    from digan.analysis.prediction import write_prediction_figure

    frames = json.loads((ctx.store / "meta.json").read_text())["frames"]
    long_run = frames > CLIP_FRAMES
    kinds = ["samples", "long"] if long_run else ["samples", "extrapolation", "diverse_motion", "upsampling",
                                                   "zoom_out"]
    written = write_media(ctx.G, ctx.out / "media", kinds=kinds, seed=ctx.params.evaluate.seed,
                          long_frames=frames if long_run else 128)
    if not long_run and ctx.G.cfg.motion:
        media_dir = ctx.out / "media"
        [figure] = write_prediction_figure(ctx.G, ctx.store, media_dir, steps=ctx.params.evaluate.projection_steps,
                                           seed=ctx.params.evaluate.seed)
        (media_dir / figure).replace(media_dir / "prediction.png")  # Fig. 5: frames 6-8 given, 3-11 shown
        written["prediction"] = ["prediction.png"]
    return {"files": written}


# analysis name -> [(file stem, function)]
ANALYSIS_FILES: dict[str, list[tuple[str, Callable[[Context], dict[str, Any]]]]] = {
    "quality": [("quality", quality)], "curve": [("curve", fvd_curve)], "time": [("time", time_range)],
    "speed": [("speed", speed)],
    "space": [("space", space), ("space_recon", space_recon)], "prediction": [("prediction", prediction)],
    "motion_d": [("motion_d", motion_d)], "media": [("media", media)],
}


def _summary(stem: str, body: dict[str, Any]) -> dict[str, float]:
    """Scalar results for MLflow: metric means, SSIM, times."""
    flat = flatten(body)
    keep = (".mean", "seconds_per_video", "psnr", "ssim.")
    return {f"{stem}.{k}": float(v) for k, v in flat.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and any(s in k for s in keep)
            and ".per_clip" not in k and ".runs" not in k}


def run(params: Params, name: str, tracking: str) -> list[Path]:
    ctx = Context(params, name)
    ctx.out.mkdir(parents=True, exist_ok=True)
    header = ctx.header()
    tracker = make_tracker(tracking, ctx.out)
    tracker.start(f"evaluate-{name}", {**flatten({"evaluate": params.evaluate.model_dump()}), "experiment": name},
                  {**run_tags(params.profile, ctx.out, ctx.checkpoint), "stage": "evaluate"})
    written, status, summary = [], "FAILED", {}
    try:
        for analysis in ctx.exp.analyses:
            for stem, fn in ANALYSIS_FILES[analysis]:
                start = time.perf_counter()
                print(f"evaluate {name}: {stem} ...", flush=True)
                body = fn(ctx)
                path = ctx.out / f"{stem}.json"
                with atomic_write(path) as f:
                    f.write((json.dumps({**header, **body}, indent=2, sort_keys=True) + "\n").encode())
                written.append(path)
                summary.update(_summary(stem, body))
                tracker.log_metrics(header["train_steps"], _summary(stem, body))
                tracker.log_artifact(path, "metrics")
                print(f"evaluate {name}: {stem} done in {time.perf_counter() - start:.1f} s -> {path}", flush=True)
        for path in sorted((ctx.out / "media").glob("*")) if (ctx.out / "media").is_dir() else []:
            tracker.log_artifact(path, "media")
        SUMMARY_ROOT.mkdir(exist_ok=True)
        with atomic_write(SUMMARY_ROOT / f"{name}.json") as f:
            f.write((json.dumps(summary, indent=2, sort_keys=True) + "\n").encode())
        status = "FINISHED"
    finally:
        tracker.finish(status)
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pipeline.evaluate", description=__doc__.split("\n")[0])
    p.add_argument("experiment", help="a key of experiments in params.yaml")
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--tracking", choices=("mlflow", "none"), default=os.environ.get("DIGAN_TRACKING", "mlflow"))
    args = p.parse_args(argv)
    try:
        params = load_params(args.params)
        if args.experiment not in params.experiments:
            raise ConfigError(f"experiments.{args.experiment}: not in {sorted(params.experiments)}")
        written = run(params, args.experiment, args.tracking)
    except (ConfigError, FileNotFoundError, ValueError) as e:
        print(f"evaluate {args.experiment}: error: {e}", file=sys.stderr)
        return 2
    print(f"evaluate {args.experiment}: {len(written)} files in {METRICS_ROOT / args.experiment}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
