"""Stage preprocess@dataset: data/raw/<dataset>/ → data/clips/<dataset>/<store>/ + report.json.

Parameters come from the optional ``preprocess`` section of ``--params``; keys set for every
dataset may be overridden per dataset::

    preprocess:
      resolution: 128
      frames: 16
      ucf101: {stores: [all]}      # also: stride, step, scale_flags, workers
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from digan.data.preprocess import PreprocessConfig, PreprocessError, preprocess_dataset
from digan.data.sources import DATASETS

_INT_KEYS = ("resolution", "frames", "stride", "step", "workers")


def config_from_params(params: dict[str, Any], dataset: str, default_workers: int = 1) -> PreprocessConfig:
    """Validate the ``preprocess`` section and merge its per-dataset overrides."""
    section = params.get("preprocess") or {}
    if not isinstance(section, dict):
        raise ValueError("params 'preprocess' must be a mapping")
    names = {f.name for f in dataclasses.fields(PreprocessConfig)}
    unknown = set(section) - names - set(DATASETS)
    if unknown:
        raise ValueError(f"unknown keys preprocess.{sorted(unknown)}; allowed: {sorted(names | set(DATASETS))}")
    values = {"workers": default_workers, **{k: v for k, v in section.items() if k in names}}
    override = section.get(dataset) or {}
    if not isinstance(override, dict) or set(override) - names:
        raise ValueError(f"preprocess.{dataset} must be a mapping with keys from {sorted(names)}")
    values.update(override)
    for key, value in values.items():
        if key in _INT_KEYS and not (value is None or (isinstance(value, int) and not isinstance(value, bool))):
            raise ValueError(f"preprocess.{key} must be an integer, got {value!r}")
        if key == "scale_flags" and not (value is None or isinstance(value, str)):
            raise ValueError(f"preprocess.scale_flags must be a string, got {value!r}")
        if key == "stores" and not (value is None or (isinstance(value, list) and all(isinstance(s, str) for s in value))):
            raise ValueError(f"preprocess.stores must be a list of store names, got {value!r}")
    if values.get("stores") is not None:
        values["stores"] = tuple(values["stores"])
    cfg = PreprocessConfig(**values)
    cfg.resolved(dataset)  # fail on impossible values before any decoding
    return cfg


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=DATASETS)
    parser.add_argument("--raw", type=Path, default=Path("data/raw"))
    parser.add_argument("--out", type=Path, default=Path("data/clips"))
    parser.add_argument("--workers", type=int, default=None, help="decoding processes (default: CPU count)")
    parser.add_argument("--params", type=Path, default=None)
    args = parser.parse_args(argv)
    try:
        params = (yaml.safe_load(args.params.read_text()) or {}) if args.params else {}
        cfg = config_from_params(params, args.dataset, default_workers=os.cpu_count() or 1)
    except (OSError, ValueError, yaml.YAMLError) as err:
        print(f"preprocess: invalid parameters: {err}", file=sys.stderr)
        return 2
    if args.workers is not None:
        cfg = dataclasses.replace(cfg, workers=args.workers)
    out = args.out / args.dataset
    try:
        report = preprocess_dataset(args.dataset, args.raw / args.dataset, out, cfg)
    except PreprocessError as err:
        print(f"preprocess {args.dataset}: {err}", file=sys.stderr)
        return 1
    stores = ", ".join(f"{name} {s['clips']} clips" for name, s in report["stores"].items())
    counts = ", ".join(f"{k} {v}" for k, v in sorted(report["counts"].items()))
    print(f"preprocess {args.dataset}: {report['status']}; {stores}; sources: {counts}; report {out / 'report.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
