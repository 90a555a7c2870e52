"""Stage preprocess@dataset: data/raw/<dataset>/ → data/clips/<dataset>/<store>/ + report.json.

Parameters come from the optional ``preprocess`` section of ``--params``; keys set for every
dataset may be overridden per dataset::

    preprocess:
      resolution: 128
      frames: 16
      resample: official           # or ffmpeg: the earlier one-pass swscale crop + scale
      ucf101: {stores: [all]}      # also: stride, step, scale_flags, workers
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from digan.data.preprocess import PreprocessConfig, PreprocessError, preprocess_dataset
from digan.data.real import DATASETS
from pipeline.params import config_from_params

def clip_set_jobs(params: dict[str, Any], name: str,
                  cfg: PreprocessConfig) -> tuple[str, list[tuple[Path, PreprocessConfig]]]:
    """(dataset, [(output directory, config)]) of a clip set: its stores, then the same clips at each scale."""
    clip_sets = params.get("clip_sets") or {}
    if name not in clip_sets:
        return name, [(Path(name), cfg)]
    spec = clip_sets[name]
    cfg = cfg.model_copy(update={k: spec[k] for k in ("resolution", "frames") if spec.get(k) is not None})
    jobs = [(Path(name), cfg)]
    jobs += [(Path(name) / f"x{s}", cfg.model_copy(update={"resolution": cfg.resolution * s}))
             for s in spec.get("scales") or []]
    return spec["dataset"], jobs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name",
                        help="a dataset, or a clip_sets key of --params (its dataset, resolution, frames, scales)")
    parser.add_argument("--raw", type=Path, default=Path("data/raw"))
    parser.add_argument("--out", type=Path, default=Path("data/clips"))
    parser.add_argument("--workers", type=int, default=None, help="decoding processes (default: CPU count)")
    parser.add_argument("--params", type=Path, default=None)
    args = parser.parse_args(argv)
    try:
        params = (yaml.safe_load(args.params.read_text()) or {}) if args.params else {}
        if "experiments" in params:  # the pipeline's params.yaml: checked whole before any decoding
            from pipeline.params import load_params
            load_params(args.params)
        dataset = (params.get("clip_sets") or {}).get(args.name, {}).get("dataset", args.name)
        if dataset not in DATASETS:
            raise ValueError(f"{args.name!r} is neither a dataset {list(DATASETS)} nor a clip_sets key")
        cfg = config_from_params(params, dataset, default_workers=os.cpu_count() or 1)
        if args.workers is not None:
            cfg = cfg.model_copy(update={"workers": args.workers})
        dataset, jobs = clip_set_jobs(params, args.name, cfg)
    except (OSError, ValueError, yaml.YAMLError) as err:
        print(f"preprocess: invalid parameters: {err}", file=sys.stderr)
        return 2
    for rel, job_cfg in jobs:
        out = args.out / rel
        try:
            report = preprocess_dataset(dataset, args.raw / dataset, out, job_cfg)
        except PreprocessError as err:
            print(f"preprocess {args.name}: {err}", file=sys.stderr)
            return 1
        stores = ", ".join(f"{name} {s['clips']} clips" for name, s in report["stores"].items())
        counts = ", ".join(f"{k} {v}" for k, v in sorted(report["counts"].items()))
        print(f"preprocess {args.name} ({job_cfg.resolution}x{job_cfg.resolution}): {report['status']}; {stores}; "
              f"sources: {counts}; report {out / 'report.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
