"""Score anyone's videos with the paper's metrics.

    python -m digan.metrics --real DIR --fake DIR --metrics fvd,kvd,is --backbone i3d \\
        --runs 10 --samples 2048 --frames 16 --out results.json
    python -m digan.metrics --real CLIPS --checkpoint runs/x/checkpoint.pt --metrics fvd,kvd

With ``--checkpoint`` the EMA generator makes fresh videos for every run (times linspace over
``--t-range``), as the official evaluation. DIR is a directory of mp4/avi/gif files (searched recursively) or a clip store. FVD and KVD use
``--backbone`` (i3d for the paper's numbers); IS uses ``--is-backbone`` (c3d for the paper's,
TGAN protocol) on the fake videos. Every result key names its backbone (``fvd_i3d``, ``is_probe``).
Real-video outputs are cached under ``--cache-dir`` with a key that changes when any input changes.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from digan.generate import load_generator
from digan.metrics.backbones.registry import load_backbone
from digan.metrics.features import TooManyBadVideos, VideoSource, cached_outputs, compute_outputs
from digan.metrics.generated import generated_clips
from digan.models.generator import Generator
from digan.metrics.protocol import distance_runs, inception_score_runs

METRICS = ("fvd", "kvd", "is")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m digan.metrics", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--real", help="real videos (needed for fvd and kvd)")
    fake = p.add_mutually_exclusive_group(required=True)
    fake.add_argument("--fake", help="generated videos")
    fake.add_argument("--checkpoint", type=Path, help="a training checkpoint to generate from")
    p.add_argument("--t-range", type=float, nargs=2, default=(0.0, 1.0), metavar=("T0", "T1"),
                   help="with --checkpoint: times of the first and last generated frame")
    p.add_argument("--metrics", default="fvd,kvd", help="comma-separated subset of fvd,kvd,is")
    p.add_argument("--backbone", default="i3d", choices=("i3d", "probe"), help="features for FVD/KVD")
    p.add_argument("--is-backbone", default="c3d", choices=("c3d", "probe"), help="classifier for IS")
    p.add_argument("--probe", type=Path, help="trained probe (python -m digan.metrics.backbones.probe)")
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--samples", type=int, default=2048, help="real and fake clips per FVD/KVD run")
    p.add_argument("--is-samples", type=int, default=10000, help="generated videos per IS run")
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--stride", type=int, default=1, help="take every stride-th frame")
    p.add_argument("--real-split", default="all", help="clip stores: train, test or all")
    p.add_argument("--max-bad-fraction", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--weights-dir", type=Path, default=Path("data/weights"))
    p.add_argument("--cache-dir", type=Path, default=Path("data/cache/features"))
    p.add_argument("--out", type=Path, help="write the JSON here too")
    return p.parse_args(argv)


def _fake_outputs(fn, kind: str, args: argparse.Namespace, fake: VideoSource | None, G: Generator | None,
                  count: int):
    """Outputs for the fake set: one array from a directory, or a fresh array per run from a generator."""
    batch_size = args.batch_size
    if G is None:
        return compute_outputs(fn, fake.clips(), total=len(fake), batch_size=batch_size, desc=f"{kind} of fake")
    return [compute_outputs(fn, generated_clips(G, count, frames=args.frames, t_range=tuple(args.t_range),
                                                seed=args.seed, run=run, num_classes=G.cfg.num_classes),
                            total=count, batch_size=batch_size, desc=f"{kind} of generated run {run}")
            for run in range(args.runs)]


def _describe_fake(args: argparse.Namespace, fake: VideoSource | None, outputs) -> dict:
    if fake is None:
        return {"checkpoint": str(args.checkpoint), "clips_per_run": len(outputs[0]), "t_range": list(args.t_range)}
    return {"path": str(fake.path), "clips": len(outputs), "bad_files": fake.bad_files}


def evaluate(args: argparse.Namespace) -> dict:
    """The library call behind the CLI: same numbers, returned as a dict."""
    wanted = [m.strip() for m in args.metrics.split(",") if m.strip()]
    unknown = sorted(set(wanted) - set(METRICS))
    if unknown or not wanted:
        raise ValueError(f"--metrics: unknown {unknown or 'empty list'}; choose from {', '.join(METRICS)}")
    distances = tuple(m for m in wanted if m in ("fvd", "kvd"))
    if distances and not args.real:
        raise ValueError("--real is needed for fvd and kvd")
    common = dict(frames=args.frames, stride=args.stride, max_bad_fraction=args.max_bad_fraction)
    fake = VideoSource(args.fake, **common) if args.fake else None
    G = load_generator(args.checkpoint) if args.checkpoint else None
    report: dict = {"protocol": {"runs": args.runs, "samples": args.samples, "is_samples": args.is_samples,
                                 "frames": args.frames, "stride": args.stride, "seed": args.seed},
                    "metrics": {}}
    if distances:
        real = VideoSource(args.real, split=args.real_split, **common)
        backbone = load_backbone(args.backbone, weights_dir=args.weights_dir, probe=args.probe)
        real_out = cached_outputs(backbone.features, backbone_identity=backbone.identity, kind="features",
                                  source=real, cache_dir=args.cache_dir, batch_size=args.batch_size)
        report["real"] = {"path": str(real.path), "split": args.real_split, "clips": len(real_out),
                          "bad_files": real.bad_files}
        fake_out = _fake_outputs(backbone.features, "features", args, fake, G, args.samples)
        report["fake"] = _describe_fake(args, fake, fake_out)
        for result in distance_runs(real_out, fake_out, backbone=backbone.name, runs=args.runs,
                                    samples=args.samples, seed=args.seed, metrics=distances):
            report["metrics"][result.key] = result.to_dict()
    if "is" in wanted:
        classifier = load_backbone(args.is_backbone, weights_dir=args.weights_dir, probe=args.probe)
        probs = _fake_outputs(classifier.probabilities, "probabilities", args, fake, G, args.is_samples)
        report.setdefault("fake", _describe_fake(args, fake, probs))
        result = inception_score_runs(probs, backbone=classifier.name, runs=args.runs, samples=args.is_samples,
                                      seed=args.seed)
        report["metrics"][result.key] = result.to_dict()
    return report


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        report = evaluate(args)
    except (ValueError, FileNotFoundError, TooManyBadVideos) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)
    for key, r in report["metrics"].items():
        print(f"{key}: {r['mean']:.4g} ± {r['std']:.2g} over {len(r['runs'])} runs", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
