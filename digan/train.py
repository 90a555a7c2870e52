"""Train DIGAN.

    python -m digan.train --config configs/default.yaml --out runs/default
    python -m digan.train --config configs/default.yaml --set generator.sigma_t=0.5 --out runs/st05
    python -m digan.train --config configs/default.yaml --nproc 2      # DDP, gloo on CPU

Re-running the same command resumes from ``<out>/checkpoint.pt``. Under torchrun or Slurm the
process group is taken from the environment (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT).
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from tqdm import tqdm

from digan.config import Config, ConfigError, load_config
from digan.data.clip_store import ClipStore
from digan.data.synthetic import make_synthetic_dataset
from digan.data.video_io import write_video
from digan.generate import generate_frames, tile_videos, to_uint8
from digan.tracking import Tracker, default_tracking, flatten, make_tracker, run_tags
from digan.training.checkpoint import save_atomic
from digan.training.loop import CHECKPOINT_NAME, METRICS_NAME, NonFiniteLossError, Trainer, TrainingInterrupted

SAMPLE_VIDEOS = 8
SNAPSHOT_DIR = "snapshots"
SAMPLE_FRAMES = 16


def prepare_data(cfg: Config) -> ClipStore:
    """Open the clip store, building the embedded synthetic dataset first when asked to."""
    path = Path(cfg.data.path)
    if cfg.data.synthetic:
        built = make_synthetic_dataset(path.parent, seed=cfg.data.synthetic_seed,
                                       videos_per_class=cfg.data.synthetic_videos_per_class,
                                       resolution=cfg.generator.resolution)
        if built.resolve() != path.resolve():
            raise ConfigError(f"data.path: the synthetic dataset is written to {built}; set data.path to it")
    if not path.exists():
        raise ConfigError(f"data.path: no clip store at {path} (set data.synthetic=true for the embedded "
                          "synthetic dataset, or preprocess a real dataset first)")
    return ClipStore(path)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_samples(trainer: Trainer, step: int) -> list[Path]:
    """A grid of EMA-generator videos from fixed latents, as mp4 and gif; returns the files."""
    g = trainer.cfg.generator
    gen = torch.Generator().manual_seed(1234)
    z = torch.randn(SAMPLE_VIDEOS, g.z_dim, generator=gen).to(trainer.device)
    zm = torch.randn(SAMPLE_VIDEOS, g.motion_z_dim, generator=gen).to(trainer.device)
    labels = (torch.arange(SAMPLE_VIDEOS) % g.num_classes).to(trainer.device) if g.num_classes else None
    times = torch.linspace(0, 1, SAMPLE_FRAMES, device=trainer.device)
    video = generate_frames(trainer.G_ema, z, zm, times, labels=labels)
    grid = tile_videos(to_uint8(video.cpu()), columns=4)
    paths = [trainer.out_dir / "samples" / f"step{step:07d}{suffix}" for suffix in (".mp4", ".gif")]
    for path in paths:
        write_video(path, grid)
    return paths


def write_snapshot(trainer: Trainer, step: int) -> Path:
    """The EMA generator at ``step`` (loadable by digan.generate.load_generator): the points of the FVD curve."""
    path = trainer.out_dir / SNAPSHOT_DIR / f"G_ema_step{step:07d}.pt"
    save_atomic({"config": trainer.cfg.to_dict(), "step": step, "G_ema": trainer.G_ema.state_dict()}, path)
    return path


def last_logged(out_dir: Path) -> dict[str, float]:
    """The last line of the metrics log (also right after a resume that had nothing left to do)."""
    path = out_dir / METRICS_NAME
    lines = path.read_text().splitlines() if path.exists() else []
    return json.loads(lines[-1]) if lines else {}


def run_worker(rank: int, world_size: int, cfg: Config, out_dir: str, device: str,
               master_port: int | None = None, tracking: str = "none", profile: str = "default") -> None:
    """One training process; with ``world_size > 1`` it joins the process group first. Rank 0
    reports to the ``tracking`` backend."""
    if world_size > 1:
        if master_port is not None:
            os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
            os.environ["MASTER_PORT"] = str(master_port)
        backend = "nccl" if device.startswith("cuda") else "gloo"
        dist.init_process_group(backend, rank=rank, world_size=world_size)
    if device.startswith("cuda"):
        local = int(os.environ.get("LOCAL_RANK", rank)) % max(torch.cuda.device_count(), 1)
        device = f"cuda:{local}"
        torch.cuda.set_device(device)
    if cfg.train.num_threads:
        torch.set_num_threads(cfg.train.num_threads)
    try:
        trainer = Trainer(cfg, out_dir, rank=rank, world_size=world_size, device=device)
        resumed = trainer.maybe_resume()
        tracker: Tracker = make_tracker(tracking if rank == 0 else "none", out_dir)
        checkpoint = trainer.out_dir / CHECKPOINT_NAME
        tracker.start(trainer.out_dir.resolve().name, flatten(cfg.to_dict()),
                      run_tags(profile, out_dir, checkpoint))
        bar = None
        if rank == 0:
            print(f"{'resumed at' if resumed else 'starting at'} step {trainer.step}/{cfg.train.steps}; "
                  f"{len(trainer.store)} clips from {cfg.data.path}; {world_size} process(es) on {device}",
                  flush=True)
            bar = tqdm(total=cfg.train.steps, initial=trainer.step, unit="it", dynamic_ncols=True)

        def on_step(step: int, stats: dict[str, float]) -> None:
            if rank == 0 and cfg.train.snapshot_every and step % cfg.train.snapshot_every == 0:
                write_snapshot(trainer, step)
            if bar is not None:
                bar.update(1)
                bar.set_postfix({k: f"{v:.3f}" for k, v in stats.items()}, refresh=False)
            if trainer.is_log_step(step):
                tracker.log_metrics(step, stats)

        def on_sample(step: int) -> None:
            if rank == 0:
                for path in write_samples(trainer, step):
                    tracker.log_artifact(path, "samples")

        status = "FAILED"
        try:
            trainer.run(on_step=on_step, on_sample=on_sample)
            status = "FINISHED"
        except TrainingInterrupted:
            status = "KILLED"
            raise
        finally:
            if bar is not None:
                bar.close()
            tracker.log_json(last_logged(trainer.out_dir), "metrics.json")
            tracker.set_tags({"checkpoint": str(checkpoint.resolve())})
            tracker.finish(status)
    finally:
        if world_size > 1:
            dist.destroy_process_group()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m digan.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=None, help="YAML file; missing keys take the paper's values")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override, e.g. generator.sigma_t=0.5 (repeatable)")
    p.add_argument("--out", default="runs/default", help="run directory (checkpoint, metrics, samples)")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto")
    p.add_argument("--nproc", type=int, default=1, help="DDP processes to spawn on this machine")
    p.add_argument("--tracking", choices=("mlflow", "none"), default=default_tracking(),
                   help="experiment tracking (default: $DIGAN_TRACKING, else mlflow when installed: the "
                        "pipeline extra); MLFLOW_TRACKING_URI overrides the default store ./mlflow.db")
    p.add_argument("--profile", default=os.environ.get("DIGAN_PROFILE", "default"),
                   help="name of the compute profile, recorded as a tag (default: $DIGAN_PROFILE or default)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        cfg = load_config(args.config, args.set)
        # Under torchrun/Slurm only rank 0 prepares data; the others wait in the process-group
        # rendezvous, which rank 0 joins only after this returns.
        if int(os.environ.get("RANK", "0")) == 0:
            prepare_data(cfg)
    except (ConfigError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    Path(args.out).mkdir(parents=True, exist_ok=True)
    env_world = int(os.environ.get("WORLD_SIZE", "1"))
    try:
        if args.nproc > 1:
            mp.spawn(run_worker, nprocs=args.nproc,
                     args=(args.nproc, cfg, args.out, device, _free_port(), args.tracking, args.profile))
        else:
            run_worker(int(os.environ.get("RANK", "0")), env_world, cfg, args.out, device,
                       tracking=args.tracking, profile=args.profile)
    except TrainingInterrupted as e:
        print(str(e), file=sys.stderr)
        return 143
    except NonFiniteLossError as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    except mp.ProcessRaisedException as e:
        print(f"error in a training process:\n{e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
