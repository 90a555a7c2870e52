"""Stage synthesize@<name>: the embedded synthetic video dataset → data/clips/<name>/ (+ x<scale>/).

Videos are rendered, encoded to mp4 with ffmpeg and decoded back into a clip store (``clips/``), the same
path real videos take, so the default profile exercises the real decoding code.
"""
from __future__ import annotations

import argparse
import sys

from digan.config import ConfigError
from digan.data.synthetic import make_synthetic_dataset
from pipeline.params import clip_store_path, load_params


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pipeline.synthesize", description=__doc__.split("\n")[0])
    p.add_argument("name", help="a key of synthetic_sets in params.yaml")
    p.add_argument("--params", default="params.yaml")
    args = p.parse_args(argv)
    try:
        params = load_params(args.params)
        spec = params.synthetic_sets.get(args.name)
        if spec is None:
            raise ConfigError(f"synthetic_sets.{args.name}: not in {sorted(params.synthetic_sets)}")
    except ConfigError as e:
        print(f"synthesize: invalid params: {e}", file=sys.stderr)
        return 2
    for scale in (1, *spec.scales):
        # The same seed renders the same videos; the scaled copies hold the first few of each class.
        store = make_synthetic_dataset(
            clip_store_path(args.name, "", scale), seed=spec.seed, frames_per_video=spec.frames_per_video,
            videos_per_class=spec.videos_per_class if scale == 1 else spec.scale_videos_per_class,
            clip_frames=spec.clip_frames, resolution=spec.resolution * scale)
        print(f"synthesize {args.name}: clip store {store}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
