"""Stage evaluate@<experiment>: measure one trained model → metrics/<experiment>/*.json (+ media/).

Which measurements run is the experiment's ``analyses`` list (params.yaml), each writing one file:
``quality`` (FVD/KVD/IS, Tables 1, 5, 7, 8), ``curve`` (FVD over training iterations), ``time`` (Table 2:
the training grid, in-between times and t > 1), ``speed`` (Table 3), ``space`` (Table 4: FVD and, by
projection, PSNR/SSIM against real higher-resolution clips), ``prediction`` (Table 6), ``motion_d``
(Fig. 10) and ``media`` (Figs. 1, 3–7, 9).
Every file starts with the same header (experiment, profile, dataset, label, tables, checkpoint, steps), so
the report can say where each number comes from; each file is checked against its schema in
:mod:`pipeline.results` before it is written. The checkpoint, the generator and the backbones are loaded
once per run, and the metrics come from one :func:`digan.metrics.evaluation.evaluate` call per measurement
(FVD, KVD and IS together). The run is logged to MLflow as ``evaluate-<experiment>``.

The stage measures in a job of the training's launcher (``launcher.kind``): a submitit job on this machine,
or a Slurm job with ``launcher.evaluate_cluster_profile`` (one process, e.g. one GPU); it streams the job's
log and fails with the job's error. In the job, the generator, the motion D and every backbone run on its
device (CUDA where present, else the CPU), so Table 3's speed is measured there and names it. A requeued
job (time limit, preemption) keeps the files it had finished (``progress.json``) and measures the rest.
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
from digan.config import ConfigError, config_from_dict
from digan.generate import generator_from_state
from digan.metrics.backbones.registry import Backbone, load_backbone
from digan.metrics.evaluation import DISTANCES, Backbones, Clips, Generated, Protocol, evaluate
from digan.models.generator import Generator
from digan.schema import parse
from digan.tracking import flatten, make_tracker, run_tags
from digan.training.checkpoint import load_checkpoint
from pipeline.params import METRICS_ROOT, RUNS_ROOT, BackboneRef, Experiment, Params, clip_store_path, load_params
from pipeline.results import (ANALYSIS_FILES, CLIP_MEDIA, LONG_VIDEO_MEDIA, PREDICTION_MEDIA, RESULTS, SPEED_BATCH,
                              TIME_SCENARIOS, Header, PretrainedSource, result_path)
from pipeline.weights import backbone_dir, probe_path

CLIP_FRAMES = 16
FEATURE_CACHE = Path("data/cache/features")
SUMMARY_ROOT = Path("summary")  # headline numbers per experiment, for dvc metrics show / dvc exp show


JOB_LOGS = Path("logs/evaluate")  # submitit folders of the evaluation jobs (not a DVC output)
PROGRESS = "progress.json"  # metrics/<experiment>/progress.json: files a requeued job need not measure again


def evaluation_device() -> torch.device:
    """The job's device: its GPU where it has one (Slurm sets CUDA_VISIBLE_DEVICES), else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_spec(ref: BackboneRef, device: torch.device | str = "cpu") -> Backbone:
    """The network params name (``i3d``, ``c3d`` or ``probe:<name>``), from the weights stage's files."""
    if ref.kind == "probe":
        return load_backbone("probe", probe=probe_path(ref.probe), device=device)
    return load_backbone(ref.kind, weights_dir=backbone_dir(ref.kind), device=device)


class Context:
    """What every analysis needs, each loaded once per stage run: the experiment, its checkpoint, the EMA
    generator, the metric backbones and the real clips."""

    def __init__(self, params: Params, name: str, device: torch.device | str = "cpu") -> None:
        self.params, self.name, self.device = params, name, torch.device(device)
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
        self._untrained: Generator | None = None
        self._backbones: dict[BackboneRef, Backbone] = {}

    @property
    def G(self) -> Generator:
        if self._G is None:
            self._G = generator_from_state(self.state, device=self.device)
        return self._G

    @property
    def untrained(self) -> Generator:
        """The generator at initialisation (the floors' reference), built once for every backbone's floors."""
        if self._untrained is None:
            self._untrained = untrained_generator(self)
        return self._untrained

    def backbone(self, ref: BackboneRef) -> Backbone:
        if ref not in self._backbones:
            self._backbones[ref] = load_spec(ref, self.device)
        return self._backbones[ref]

    def backbones(self, metrics: tuple[str, ...]) -> Backbones:
        """evaluate.backbone for FVD/KVD and evaluate.is_backbone for IS, as far as ``metrics`` need them."""
        ev = self.params.evaluate
        return Backbones(features=self.backbone(ev.backbone) if set(metrics) & set(DISTANCES) else None,
                         classifier=self.backbone(ev.is_backbone) if "is" in metrics else None)

    def header(self) -> dict[str, Any]:
        pre = self.exp.pretrained
        return Header(experiment=self.name, profile=self.params.profile,
                      pretrained=None if pre is None else PretrainedSource(path=pre.path, sha256=pre.sha256),
                      dataset=f"{self.exp.clips}/{self.exp.store}", label=self.exp.label,
                      real_clips=f"{self.exp.clips}/{self.real_store_name}", real_split=self.exp.real_split,
                      tables=list(self.exp.tables), checkpoint=str(self.checkpoint),
                      train_steps=int(self.state["step"])).model_dump()


def _metrics(ctx: Context, metrics: tuple[str, ...], fake: Generated | Clips, *, runs: int, samples: int,
             backbones: Backbones | None = None, real_limit: int | None = None) -> dict[str, Any]:
    """FVD/KVD and IS of generated clips (or of clips on disk) against the experiment's real clips (all of
    them, or a fixed subset of ``real_limit``), in one call."""
    ev = ctx.params.evaluate
    protocol = Protocol(metrics=metrics, runs=runs, samples=samples, is_samples=ev.is_samples, frames=CLIP_FRAMES,
                        seed=ev.seed)
    real = Clips(ctx.real_store, ctx.exp.real_split, limit=real_limit)
    return evaluate(real, fake, backbones or ctx.backbones(metrics), protocol, cache_dir=FEATURE_CACHE)


def untrained_generator(ctx: Context) -> Generator:
    """The experiment's generator at initialisation: the Trainer seeds torch with train.seed, then builds G
    first (digan/training/loop.py), so these are the weights its step 0 started from."""
    cfg = config_from_dict(ctx.state["config"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.train.seed)
        G = Generator(cfg.generator)
    return G.to(ctx.device).eval().requires_grad_(False)


def _floors(ctx: Context, metrics: tuple[str, ...], *, runs: int, samples: int,
            backbones: Backbones | None = None, real_limit: int | None = None) -> dict[str, Any]:
    """The same metrics at the same counts for two references (evaluate.floors): the clips of the training
    split scored as if generated (real vs real: where a perfect generator lands), unless that split is the
    real one, and the untrained generator (where training starts)."""
    ev = ctx.params.evaluate
    untrained = Generated(ctx.untrained, "untrained", memory_budget_gb=ev.memory_budget_gb)
    count = {"runs": runs, "samples": samples, "backbones": backbones, "real_limit": real_limit}
    floors: dict[str, Any] = {"untrained": _metrics(ctx, metrics, untrained, **count)["metrics"]}
    train_split = ctx.state["config"]["data"]["split"]
    if train_split != ctx.exp.real_split:
        # As many training clips as the generated side of these counts uses, not the whole split (I3D: about 1 clip/s).
        per_run = max(samples, ctx.params.evaluate.is_samples) if "is" in metrics else samples
        clips = Clips(ctx.store, train_split, limit=runs * per_run)
        report = _metrics(ctx, metrics, clips, **count)
        floors["real"] = report["metrics"]
        floors["real_clips"] = {**report["fake"], "split": train_split}
    return floors


def _final(ctx: Context, t_range: tuple[float, float] = (0.0, 1.0)) -> Generated:
    return Generated(ctx.G, str(ctx.checkpoint), t_range, memory_budget_gb=ctx.params.evaluate.memory_budget_gb)


def quality(ctx: Context) -> dict[str, Any]:
    """FVD/KVD/IS at the profile's counts, FVD/KVD with each ``also_scored_with`` backbone at its own counts,
    and with evaluate.floors the two references of every one of these numbers."""
    ev = ctx.params.evaluate
    metrics = tuple(ctx.exp.metrics)
    body = {"config": ctx.state["config"],  # what the model was trained with, from its checkpoint
            **_metrics(ctx, metrics, _final(ctx), runs=ev.runs, samples=ev.samples)}
    floors = _floors(ctx, metrics, runs=ev.runs, samples=ev.samples) if ev.floors else None
    for extra in ctx.exp.also_scored_with:
        backbones = Backbones(features=ctx.backbone(extra.backbone))
        # Real clips too: as many as the generated side (the real I3D scores about one 16×224² clip a second).
        count = {"runs": extra.runs, "samples": extra.samples, "backbones": backbones,
                 "real_limit": extra.runs * extra.samples}
        body["metrics"].update(_metrics(ctx, DISTANCES, _final(ctx), **count)["metrics"])
        if floors is not None:
            for reference, values in _floors(ctx, DISTANCES, **count).items():
                if reference != "real_clips":
                    floors[reference].update(values)
    if floors is not None:
        body["floors"] = floors
    return body


def time_range(ctx: Context) -> dict[str, Any]:
    ev = ctx.params.evaluate
    scenarios = {}
    for name, t_range in TIME_SCENARIOS.items():
        report = _metrics(ctx, DISTANCES, _final(ctx, t_range), runs=ev.analysis_runs, samples=ev.analysis_samples)
        scenarios[name] = {"times": torch.linspace(*t_range, CLIP_FRAMES).tolist(), "metrics": report["metrics"]}
    return {"scenarios": scenarios, "protocol": report["protocol"]}


def fvd_curve(ctx: Context) -> dict[str, Any]:
    """FVD/KVD of the EMA generator at every snapshot of training (train.snapshot_every) and at the end."""
    from digan.train import SNAPSHOT_DIR

    ev = ctx.params.evaluate
    snapshots = sorted((ctx.checkpoint.parent / SNAPSHOT_DIR).glob("G_ema_step*.pt"))
    states = [(path, load_checkpoint(path)) for path in snapshots]
    points = []
    for path, state in [*states, (ctx.checkpoint, ctx.state)]:
        step = int(state["step"])
        if points and points[-1]["step"] == step:
            continue  # the last snapshot is the final checkpoint's generator
        G = ctx.G if path == ctx.checkpoint else generator_from_state(state, device=ctx.device)
        report = _metrics(ctx, DISTANCES, Generated(G, str(path), memory_budget_gb=ev.memory_budget_gb),
                          runs=ev.analysis_runs, samples=ev.analysis_samples)
        points.append({"step": step, "checkpoint": str(path), "metrics": report["metrics"]})
    return {"points": points, "protocol": report["protocol"]}


def speed(ctx: Context) -> dict[str, Any]:
    from digan.analysis.speed import measure_generation_speed

    return measure_generation_speed(ctx.G, frames=CLIP_FRAMES, batch_size=SPEED_BATCH,
                                    repeats=ctx.params.evaluate.speed_repeats, device=str(ctx.device))


def _space_stores(ctx: Context) -> dict[int, Path]:
    return {scale: clip_store_path(ctx.exp.clips, ctx.real_store_name, scale) for scale in ctx.exp.space_scales}


def space(ctx: Context) -> dict[str, Any]:
    from digan.analysis.space import upsampling_fvd

    ev = ctx.params.evaluate
    return upsampling_fvd(ctx.G, _space_stores(ctx), backbone=ctx.backbone(ev.backbone), samples=ev.analysis_samples,
                          runs=ev.analysis_runs, seed=ev.seed, cache_dir=FEATURE_CACHE,
                          memory_budget_gb=ev.memory_budget_gb)


def space_recon(ctx: Context) -> dict[str, Any]:
    from digan.analysis.prediction import space_reconstruction

    ev = ctx.params.evaluate
    return space_reconstruction(ctx.G, ctx.store, _space_stores(ctx), clips=ev.projection_clips,
                                steps=ev.projection_steps, seed=ev.seed, memory_budget_gb=ev.memory_budget_gb)


def prediction(ctx: Context) -> dict[str, Any]:
    from digan.analysis.prediction import prediction_ssim

    ev = ctx.params.evaluate
    return prediction_ssim(ctx.G, ctx.store, clips=ev.projection_clips, steps=ev.projection_steps, seed=ev.seed,
                           memory_budget_gb=ev.memory_budget_gb)


def motion_d(ctx: Context) -> dict[str, Any]:
    from digan.analysis.motion_d import motion_d_response

    return motion_d_response(ctx.state, ctx.store, seed=ctx.params.evaluate.seed, device=ctx.device)


def media(ctx: Context) -> dict[str, Any]:
    from digan.analysis.media import write_media
    from digan.analysis.prediction import write_prediction_figure

    frames = json.loads((ctx.store / "meta.json").read_text())["frames"]
    long_run = frames > CLIP_FRAMES
    written = write_media(ctx.G, ctx.out / "media", kinds=LONG_VIDEO_MEDIA if long_run else CLIP_MEDIA,
                          seed=ctx.params.evaluate.seed, long_frames=frames if long_run else 128,
                          memory_budget_gb=ctx.params.evaluate.memory_budget_gb)
    if not long_run and ctx.G.cfg.motion:
        media_dir = ctx.out / "media"
        [figure] = write_prediction_figure(ctx.G, ctx.store, media_dir, steps=ctx.params.evaluate.projection_steps,
                                           seed=ctx.params.evaluate.seed,
                                           memory_budget_gb=ctx.params.evaluate.memory_budget_gb)
        name = f"{PREDICTION_MEDIA}.png"
        (media_dir / figure).replace(media_dir / name)  # Fig. 5: frames 6-8 given, 3-11 shown
        written[PREDICTION_MEDIA] = [name]
    return {"files": written}


# file stem (pipeline.results.ANALYSIS_FILES) -> the function measuring its payload
MEASURES: dict[str, Callable[[Context], dict[str, Any]]] = {
    "quality": quality, "curve": fvd_curve, "time": time_range, "speed": speed, "space": space,
    "space_recon": space_recon, "prediction": prediction, "motion_d": motion_d, "media": media,
}


def _checked(stem: str, path: Path, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` if it is what pipeline.results says a ``stem`` file holds; the report reads it with that schema."""
    try:
        parse(RESULTS[stem], data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    return data


def _summary(stem: str, body: dict[str, Any]) -> dict[str, float]:
    """Scalar results for MLflow: metric means, SSIM, times."""
    flat = flatten(body)
    keep = (".mean", "seconds_per_video", "psnr", "ssim.")
    return {f"{stem}.{k}": float(v) for k, v in flat.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and any(s in k for s in keep)
            and ".per_clip" not in k and ".runs" not in k}


def _headline(stem: str, body: dict[str, Any]) -> dict[str, float]:
    """What summary/<experiment>.json holds: the means of FVD, KVD and IS with their backbone in the key
    (``fvd_probe``, ``is_c3d``) and Table 6's SSIM, so `dvc metrics show` and `dvc exp show` stay a few
    columns wide; every other number stays in metrics/<experiment>/ and in MLflow."""
    if stem == "quality":
        return {name: float(value["mean"]) for name, value in body["metrics"].items()}
    if stem == "prediction":
        return {"prediction_ssim": float(body["ssim"]["mean"])}
    return {}


def _progress_key(ctx: Context, header: dict[str, Any]) -> dict[str, Any]:
    """What the files of an earlier attempt must have been measured with to be kept."""
    return {"header": header, "evaluate": ctx.params.evaluate.model_dump(mode="json"),
            "experiment": ctx.exp.model_dump(mode="json")}


def _kept_files(ctx: Context, key: dict[str, Any]) -> set[str]:
    path = ctx.out / PROGRESS
    if not path.is_file():
        return set()
    progress = json.loads(path.read_text())
    return set(progress["done"]) if progress.get("key") == key else set()


def _record_progress(ctx: Context, key: dict[str, Any], done: set[str]) -> None:
    with atomic_write(ctx.out / PROGRESS) as f:
        f.write(json.dumps({"key": key, "done": sorted(done)}, indent=1).encode())


def run(params: Params, name: str, tracking: str, device: torch.device | str | None = None) -> list[Path]:
    """Measure every analysis of the experiment in this process, on ``device`` (default: the job's)."""
    ctx = Context(params, name, evaluation_device() if device is None else device)
    ctx.out.mkdir(parents=True, exist_ok=True)
    header = ctx.header()
    key = _progress_key(ctx, header)
    done = _kept_files(ctx, key)
    print(f"evaluate {name}: on {ctx.device}", flush=True)
    tracker = make_tracker(tracking, ctx.out)
    tracker.start(f"evaluate-{name}", {**flatten({"evaluate": params.evaluate.model_dump()}), "experiment": name},
                  {**run_tags(params.profile, ctx.out, ctx.checkpoint), "stage": "evaluate"})
    written, status, summary = [], "FAILED", {}
    try:
        for analysis in ctx.exp.analyses:
            for stem in ANALYSIS_FILES[analysis]:
                start = time.perf_counter()
                path = result_path(METRICS_ROOT, name, stem)
                if stem in done and path.is_file():
                    body = {k: v for k, v in json.loads(path.read_text()).items() if k not in header}
                    print(f"evaluate {name}: {stem} kept from an earlier attempt of this job -> {path}", flush=True)
                else:
                    print(f"evaluate {name}: {stem} ...", flush=True)
                    body = MEASURES[stem](ctx)
                    data = _checked(stem, path, {**header, **body})
                    with atomic_write(path) as f:
                        f.write((json.dumps(data, indent=2, sort_keys=True) + "\n").encode())
                    done.add(stem)
                    _record_progress(ctx, key, done)
                    print(f"evaluate {name}: {stem} done in {time.perf_counter() - start:.1f} s -> {path}", flush=True)
                written.append(path)
                scalars = _summary(stem, body)
                summary.update(_headline(stem, body))
                tracker.log_metrics(header["train_steps"], scalars)
                tracker.log_artifact(path, "metrics")
        for path in sorted((ctx.out / "media").glob("*")) if (ctx.out / "media").is_dir() else []:
            tracker.log_artifact(path, "media")
        SUMMARY_ROOT.mkdir(exist_ok=True)
        with atomic_write(SUMMARY_ROOT / f"{name}.json") as f:
            f.write((json.dumps(summary, indent=2, sort_keys=True) + "\n").encode())
        (ctx.out / PROGRESS).unlink(missing_ok=True)
        status = "FINISHED"
    finally:
        tracker.finish(status)
    return written


def run_as_job(params: Params, name: str, params_path: str, tracking: str) -> None:
    """The stage: :func:`run` in a job of ``launcher.kind`` (Slurm: ``launcher.evaluate_cluster_profile``),
    followed until it ends."""
    from pipeline.cluster_profiles import load_profile
    from pipeline.launch import run_module_job  # submitit is imported only when a stage launches

    checkpoint = RUNS_ROOT / name / "checkpoint.pt"
    if not checkpoint.is_file():
        raise FileNotFoundError(f"{checkpoint}: run train@{name} first")
    out = METRICS_ROOT / name
    out.mkdir(parents=True, exist_ok=True)
    (out / PROGRESS).unlink(missing_ok=True)  # a new stage run measures everything
    la = params.launcher
    profile = load_profile(la.evaluate_cluster_profile) if la.kind == "slurm" else None
    run_module_job("pipeline.evaluate", [name, "--params", params_path, "--tracking", tracking, "--in-process"],
                   JOB_LOGS / name, launcher=la.kind, profile=profile)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pipeline.evaluate", description=__doc__.split("\n")[0])
    p.add_argument("experiment", help="a key of experiments in params.yaml")
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--tracking", choices=("mlflow", "none"), default=os.environ.get("DIGAN_TRACKING", "mlflow"))
    p.add_argument("--in-process", action="store_true",
                   help="measure in this process instead of submitting a job (what the job runs)")
    args = p.parse_args(argv)
    try:
        params = load_params(args.params)
        if args.experiment not in params.experiments:
            raise ConfigError(f"experiments.{args.experiment}: not in {sorted(params.experiments)}")
        if not args.in_process:
            from pipeline.launch import JobFailedError

            try:
                run_as_job(params, args.experiment, args.params, args.tracking)
            except JobFailedError as e:
                print(f"evaluate {args.experiment}: the evaluation job failed:\n{e}", file=sys.stderr)
                return 1
            return 0
        written = run(params, args.experiment, args.tracking)
    except (ConfigError, FileNotFoundError, ValueError) as e:
        print(f"evaluate {args.experiment}: error: {e}", file=sys.stderr)
        return 2
    print(f"evaluate {args.experiment}: {len(written)} files in {METRICS_ROOT / args.experiment}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
