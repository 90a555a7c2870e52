"""The default profile's learning targets (issue 14), from the metrics files a `dvc repro` measured.

Main's probe IS against the probe IS of real training clips (target ≥ 0.75×), its probe FVD against the
real-vs-real probe FVD (≤ 3×), and its FVD fall over the last half of training against that FVD's
run-to-run std (converged for its size). Every number is read from metrics/<experiment>/ (written by
the evaluate stages); nothing is asserted, and the exit status is 0 whether a target is met or not.

    dvc repro && python bench/default_targets.py [--params params.yaml] [--metrics metrics]
"""
from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.report.stage import load_inputs
from pipeline.report.targets import targets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--metrics", type=Path, default=Path("metrics"))
    args = parser.parse_args()
    inp = load_inputs(args.params, args.metrics, Path("runs"), Path("reports/reference/paper_numbers.csv"))
    found = targets(inp)
    print(f"profile {inp.profile}: {sum(t.met for t in found)} of {len(found)} targets met")
    for target in found:
        print("  " + target.line())


if __name__ == "__main__":
    main()
