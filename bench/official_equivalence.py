"""Output equivalence of `python -m digan.official` with the REAL official DIGAN code.

Builds the official Generator and OurDiscriminator as src/train.py does (configs/digan.yml with the
configs/main.yml launch settings: 'auto' config, 8 GPUs → mbstd group 4, fmaps 1, 2 mapping layers,
G in fp32), randomises every parameter including biases (f_M's biases then matter), writes a
snapshot with the official persistence exactly as src/training/training_loop.py does, imports it with
`python -m digan.official` (the project's interpreter) and feeds both sides the same inputs:

- G_ema and G: the official ``mapping(z, c)`` and ``synthesis(ws, Ts, z_motion)`` called directly (so
  z_M and t are ours to choose) against our ``Generator(z, z_M, t)``, for t = linspace(0, 1, 16)
  and t = linspace(−0.5, 2, 6), batch 2: max |Δ| of the frames.
- D: the official ``D(vid, c)`` on one 7-channel input of 4 videos against our motion D on the same
  input and our image D on its 8 frames in ``image_batch_order``: max |Δ| of the logits relative to
  their spread (max − min).

The official code is imported only from ``--official`` and only by this script, run in an environment
of its own (it needs einops and omegaconf; numpy 2 lacks ``np.float``, which the official
src/training/layers.py uses at import time, so it is set here, not edited there):

    git -C /work/.mirror/sihyun-yu+digan/repo archive HEAD | tar -x -C /tmp/digan_official
    python -m venv --system-site-packages /tmp/offenv && /tmp/offenv/bin/pip install einops
    /tmp/offenv/bin/python bench/official_equivalence.py --official /tmp/digan_official \\
        --project-python "$(which python)"
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
TOLERANCE = 1e-4


def import_official(path: Path):
    """The official modules from ``path`` (repository root or its src/)."""
    src = path / "src" if (path / "src" / "training").is_dir() else path
    if not (src / "training" / "networks.py").is_file():
        raise SystemExit(f"--official {path}: no src/training/networks.py there")
    np.float = float  # removed in numpy 2; src/training/layers.py uses it in a default argument
    sys.path.insert(0, str(src))
    import dnnlib  # noqa: F401  (official)
    from training import networks  # noqa: F401  (official)
    return src.parent if src.name == "src" else src


def build_official(root: Path, resolution: int, classes: int, small: bool):
    """G, G_ema and D as src/train.py + src/training/training_loop.py construct them."""
    import dnnlib
    from omegaconf import OmegaConf

    hydra_cfg = OmegaConf.load(root / "configs" / "digan.yml")  # no defaults list: what compose() returns
    launch = OmegaConf.load(root / "configs" / "main.yml")
    gpus = int(launch.num_gpus)
    mb = max(min(gpus * min(4096 // resolution, 32), 64), gpus)  # src/train.py cfg 'auto'
    spec = dict(mb=mb, mbstd=min(mb // gpus, 4), fmaps=1 if resolution >= 512 else 0.5, map=2)
    zw = 512
    G_kwargs = dnnlib.EasyDict(class_name="training.networks.Generator", z_dim=zw, w_dim=zw,
                               mapping_kwargs=dnnlib.EasyDict(), synthesis_kwargs=dnnlib.EasyDict())
    D_kwargs = dnnlib.EasyDict(class_name="training.networks.OurDiscriminator", block_kwargs=dnnlib.EasyDict(),
                               mapping_kwargs=dnnlib.EasyDict(), epilogue_kwargs=dnnlib.EasyDict())
    G_kwargs.synthesis_kwargs.channel_base = int(hydra_cfg.generator.get("fmaps", spec["fmaps"]) * 32768)
    D_kwargs.channel_base = int(hydra_cfg.get("discriminator", {}).get("fmaps", spec["fmaps"]) * 32768)
    G_kwargs.synthesis_kwargs.channel_max = D_kwargs.channel_max = 512
    G_kwargs.mapping_kwargs.num_layers = hydra_cfg.generator.get("mapping_net_n_layers", spec["map"])
    G_kwargs.synthesis_kwargs.num_fp16_res = D_kwargs.num_fp16_res = 4
    G_kwargs.synthesis_kwargs.conv_clamp = D_kwargs.conv_clamp = 256
    G_kwargs.cfg = OmegaConf.to_container(hydra_cfg.generator)
    D_kwargs.epilogue_kwargs.mbstd_group_size = spec["mbstd"]
    if hydra_cfg.generator.get("fp32"):
        G_kwargs.synthesis_kwargs.num_fp16_res = 0
        G_kwargs.synthesis_kwargs.conv_clamp = None
    if small:  # quick self-check of the harness: narrow networks, same structure
        G_kwargs.synthesis_kwargs.channel_base = D_kwargs.channel_base = 2048
        G_kwargs.synthesis_kwargs.channel_max = D_kwargs.channel_max = 32
    common = dict(c_dim=classes, img_resolution=resolution, img_channels=3, ours=True)
    G = dnnlib.util.construct_class_by_name(**G_kwargs, **common).train().requires_grad_(False)
    D = dnnlib.util.construct_class_by_name(**D_kwargs, **common).train().requires_grad_(False)
    G_ema = copy.deepcopy(G).eval()
    return G, G_ema, D, spec


@torch.no_grad()
def randomise(module: torch.nn.Module, gen: torch.Generator) -> None:
    """Every parameter random: weights N(0, 1) (their stored scale), biases init + 0.2·N(0, 1)."""
    for name, p in module.named_parameters():
        noise = torch.randn(p.shape, generator=gen)
        if name.endswith("bias"):
            p.add_(0.2 * noise)
        else:
            p.copy_(noise)
    for name, b in module.named_buffers():
        if name.endswith("w_avg"):
            b.copy_(torch.randn(b.shape, generator=gen))


def write_snapshot(path: Path, G, D, G_ema, resolution: int, classes: int) -> None:
    """src/training/training_loop.py 'Save network snapshot', verbatim in structure."""
    import dnnlib

    training_set_kwargs = dnnlib.EasyDict(class_name="training.dataset.ImageFolderDataset", path="/data/sky",
                                          use_labels=classes > 0, resolution=resolution, max_size=1,
                                          xflip=True, train=True)
    snapshot = dict(training_set_kwargs=dict(training_set_kwargs))
    for name, module in [("G", G), ("D", D), ("G_ema", G_ema), ("augment_pipe", None)]:
        if module is not None:
            module = copy.deepcopy(module).eval().requires_grad_(False).cpu()
        snapshot[name] = module
    with open(path, "wb") as f:
        pickle.dump(snapshot, f)


def run_importer(python: str, snapshot: Path, out: Path) -> str:
    proc = subprocess.run([python, "-m", "digan.official", str(snapshot), "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"python -m digan.official failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def official_frames(G, z, z_motion, times, c) -> torch.Tensor:
    """[B, T, 3, H, W] from the official mapping + synthesis with our z_M and t."""
    b, t = z.shape[0], times.shape[0]
    ws = G.mapping(z, c)
    Ts = times.view(1, t, 1, 1, 1).repeat(b, 1, 1, 1, 1).view(-1, 1, 1, 1)  # (b t) order, as Generator.forward
    img = G.synthesis(ws, Ts, z_motion)
    return img.view(b, t, *img.shape[1:])


@torch.no_grad()
def compare_generators(official, ours, gen: torch.Generator, classes: int, name: str, grids) -> list[dict]:
    rows = []
    for label, times in grids:
        z = torch.randn(2, ours.cfg.z_dim, generator=gen)
        z_motion = torch.randn(2, ours.cfg.motion_z_dim, generator=gen)
        labels = torch.tensor([0, classes - 1]) if classes else None
        c = torch.nn.functional.one_hot(labels, classes).float() if classes else torch.zeros(2, 0)
        start = time.perf_counter()
        a = official_frames(official, z, z_motion, times, c)
        mid = time.perf_counter()
        b = ours(z, z_motion, times, labels)
        end = time.perf_counter()
        rows.append({"network": name, "times": label, "max_abs_diff": float((a - b).abs().max()),
                     "output_abs_max": float(a.abs().max()), "official_s": mid - start, "ours_s": end - mid})
        print(f"  {name} at t = {label}: max |Δ| {rows[-1]['max_abs_diff']:.3e}", flush=True)
        del a, b
    return rows


def discriminator_input(gen: torch.Generator, resolution: int, classes: int, n: int = 4):
    """One 7-channel motion-D input of ``n`` videos (frame t1, frame t2, Δt plane) and labels."""
    from digan.models.discriminator import motion_input

    frames = torch.rand(n, 2, 3, resolution, resolution, generator=gen) * 2 - 1
    vid = motion_input(frames[:, 0], frames[:, 1], torch.rand(n, generator=gen))
    labels = torch.arange(n) % classes if classes else None
    return vid, labels


@torch.no_grad()
def compare_discriminators(official_D, ours_D, vid: torch.Tensor, labels, classes: int, group: int,
                           force_fp32: bool) -> dict:
    """Official D(vid, c) vs our motion D on ``vid`` and image D on its frames in image_batch_order."""
    from digan.models.discriminator import image_batch_order

    n = vid.shape[0]
    c = torch.nn.functional.one_hot(labels, classes).float() if classes else torch.zeros(n, 0)
    x_vid, x_img, img = official_D(vid, c, force_fp32=force_fp32)  # img: frames in (b t) order
    motion = ours_D.motion(vid, labels)
    order = image_batch_order(n, group)  # frame-major within groups of videos
    image_labels = labels.repeat_interleave(2)[order] if classes else None
    image = torch.empty_like(x_img)
    image[order] = ours_D.image(img[order], image_labels)  # back to the official order

    def rel(a: torch.Tensor, b: torch.Tensor) -> dict:
        spread = float(a.max() - a.min())
        diff = float((a.float() - b).abs().max())
        return {"max_abs_diff": diff, "spread": spread, "relative": diff / spread if spread else math.inf}

    return {"force_fp32": force_fp32, "motion_D": rel(x_vid, motion), "image_D": rel(x_img, image)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--official", type=Path, required=True, help="official DIGAN work tree (or its src/)")
    p.add_argument("--project-python", default=sys.executable,
                   help="interpreter that runs `python -m digan.official` (default: this one)")
    p.add_argument("--work", type=Path, default=None, help="where the snapshot and checkpoint go (default: a temp dir)")
    p.add_argument("--resolution", type=int, default=128)
    p.add_argument("--classes", type=int, default=0, help="> 0: class-conditional G and D")
    p.add_argument("--small", action="store_true", help="narrow widths (quick check of the harness)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--fp16-d", action="store_true",
                   help="also run the official D as trained (float16 in its 4 highest-resolution blocks); "
                        "informational, and very slow on CPU (no fast half-precision convolution)")
    p.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    root = import_official(args.official)
    sys.path.insert(0, str(REPO))
    from digan.config import config_from_dict
    from digan.generate import load_generator
    from digan.models.discriminator import VideoDiscriminators
    from digan.training.checkpoint import load_checkpoint

    gen = torch.Generator().manual_seed(args.seed)
    torch.manual_seed(args.seed)
    G, G_ema, D, spec = build_official(root, args.resolution, args.classes, args.small)
    for module in (G, G_ema, D):
        randomise(module, gen)
    work = args.work or Path(tempfile.mkdtemp(prefix="digan_official_eq_"))
    work.mkdir(parents=True, exist_ok=True)
    snapshot, ckpt = work / "network-snapshot-001200.pkl", work / "checkpoint.pt"
    write_snapshot(snapshot, G, D, G_ema, args.resolution, args.classes)
    print(f"official snapshot {snapshot} ({snapshot.stat().st_size / 2**20:.0f} MiB); importing with "
          f"{args.project_python} -m digan.official")
    print(run_importer(args.project_python, snapshot, ckpt), flush=True)

    grids = [("linspace(0, 1, 16)", torch.linspace(0, 1, 16)), ("linspace(-0.5, 2, 6)", torch.linspace(-0.5, 2, 6))]
    rows = compare_generators(G_ema.eval(), load_generator(ckpt), gen, args.classes, "G_ema", grids)
    rows += compare_generators(G.eval(), load_generator(ckpt, ema=False), gen, args.classes, "G", grids[:1])
    state = load_checkpoint(ckpt)
    cfg = config_from_dict(state["config"])
    ours_D = VideoDiscriminators(cfg.discriminator, cfg.generator.resolution, cfg.generator.num_classes)
    ours_D.load_state_dict(state["D"])
    ours_D.eval()
    vid, labels = discriminator_input(gen, args.resolution, args.classes)
    group = cfg.discriminator.mbstd_group
    d_rows = [compare_discriminators(D.eval(), ours_D, vid, labels, args.classes, group, force_fp32=True)]
    if args.fp16_d:
        try:
            d_rows.append(compare_discriminators(D, ours_D, vid, labels, args.classes, group, force_fp32=False))
        except RuntimeError as e:
            d_rows.append({"force_fp32": False, "error": str(e).splitlines()[0]})

    print(f"{'network':7} {'times':22} {'max|Δ| frames':>14} {'max|frame|':>10} {'official s':>10} {'ours s':>7}")
    for r in rows:
        print(f"{r['network']:7} {r['times']:22} {r['max_abs_diff']:14.3e} {r['output_abs_max']:10.3f} "
              f"{r['official_s']:10.1f} {r['ours_s']:7.1f}")
    for d in d_rows:
        if "error" in d:
            print(f"D (official fp16 blocks): not run on this machine: {d['error']}")
            continue
        for key in ("motion_D", "image_D"):
            v = d[key]
            print(f"{key:8} force_fp32={d['force_fp32']!s:5} max|Δ| logits {v['max_abs_diff']:.3e} "
                  f"spread {v['spread']:.3f} relative {v['relative']:.2e}")
    ok = all(r["max_abs_diff"] <= TOLERANCE for r in rows) and all(
        d[k]["relative"] <= TOLERANCE for d in d_rows[:1] for k in ("motion_D", "image_D"))
    print(f"{'PASS' if ok else 'FAIL'}: frames and fp32 D logits within {TOLERANCE:g}")
    if args.json:
        args.json.write_text(json.dumps({"generator": rows, "discriminator": d_rows, "spec": spec,
                                         "resolution": args.resolution, "classes": args.classes,
                                         "small": args.small, "pass": ok}, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
