"""Score anyone's videos with the paper's metrics.

    python -m digan.metrics --real DIR --fake DIR --metrics fvd,kvd,is --backbone i3d \\
        --runs 10 --samples 2048 --frames 16 --out results.json
    python -m digan.metrics --real CLIPS --checkpoint runs/x/checkpoint.pt --metrics fvd,kvd

With ``--checkpoint`` the EMA generator makes fresh videos for every run (times linspace over
``--t-range``), as the official evaluation. DIR is a directory of mp4/avi/gif files (searched
recursively) or a clip store. FVD and KVD use ``--backbone`` (i3d for the paper's numbers); IS uses
``--is-backbone`` (c3d for the paper's, TGAN protocol) on the fake videos. Every result key names its
backbone (``fvd_i3d``, ``is_probe``). Real-video outputs are cached under ``--cache-dir`` with a key that
changes when any input changes. The CLI is a thin layer over :func:`digan.metrics.evaluation.evaluate`.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from digan.generate import load_generator
from digan.metrics.backbones.registry import load_backbone
from digan.metrics.evaluation import Backbones, Clips, Generated, Protocol, evaluate, parse_metrics
from digan.metrics.features import TooManyBadVideos


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


def from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The CLI's options as typed arguments of :func:`digan.metrics.evaluation.evaluate`: same numbers."""
    protocol = Protocol(metrics=parse_metrics(args.metrics), runs=args.runs, samples=args.samples,
                        is_samples=args.is_samples, frames=args.frames, stride=args.stride, seed=args.seed,
                        max_bad_fraction=args.max_bad_fraction, batch_size=args.batch_size)
    real = Clips(args.real, args.real_split) if args.real else None
    fake = (Generated(load_generator(args.checkpoint), str(args.checkpoint), tuple(args.t_range)) if args.checkpoint
            else Clips(args.fake))
    load = {"weights_dir": args.weights_dir, "probe": args.probe}
    backbones = Backbones(features=load_backbone(args.backbone, **load) if protocol.distances else None,
                          classifier=load_backbone(args.is_backbone, **load) if "is" in protocol.metrics else None)
    return evaluate(real, fake, backbones, protocol, cache_dir=args.cache_dir)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        report = from_args(args)
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
