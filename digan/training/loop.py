"""DIGAN training: one iteration = G step, D step and, every ``d_reg_interval`` steps, a lazy R1
step (StyleGAN2-ADA's phase schedule), plus the EMA generator.

Everything random comes from explicit generators drawn for the *global* batch; a DDP rank uses its
contiguous slice and gradients are averaged with one all-reduce per phase. Hence one process and N
processes on the same global batch compute the same update, and a resumed run continues exactly
where a checkpoint left it.
"""
from __future__ import annotations

import copy
import json
import math
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from digan.config import Config, config_from_dict
from digan.data.clip_store import ClipStore
from digan.data.datasets import FramePairLoader, RealBatch, rank_slice
from digan.models.discriminator import VideoDiscriminators, image_batch_order, motion_input
from digan.models.generator import Generator
from digan.training.augment import augment_videos, sample_augment_params
from digan.training.checkpoint import load_checkpoint, save_atomic
from digan.training.timesteps import sample_fake_times

CHECKPOINT_NAME = "checkpoint.pt"
METRICS_NAME = "metrics.jsonl"
# Settings that may change between a checkpoint and its resumption without changing the maths.
RESUMABLE_CHANGES = {"steps", "checkpoint_every", "sample_every", "snapshot_every", "log_every", "num_threads"}


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or infinite; parameters were not updated with it."""


class TrainingInterrupted(RuntimeError):
    """SIGTERM/SIGINT arrived; a checkpoint of the last completed step was written."""


def r1_penalty(logits: Tensor, inputs: Tensor) -> Tensor:
    """R1 = ‖∇ D(x)‖² per sample of ``inputs`` (Mescheder et al., 2018), differentiable in D."""
    (grad,) = torch.autograd.grad(logits.sum(), inputs, create_graph=True)
    return grad.square().flatten(1).sum(dim=1)


@dataclass
class FakeBatch:
    frames: Tensor  # [N, 2, 3, H, W]
    delta_t: Tensor
    labels: Tensor | None


def _negated(logits: Tensor | None) -> Tensor | None:
    return -logits if logits is not None else None


def _mean_softplus(*logits: Tensor | None) -> Tensor:
    """Σ mean softplus(x) over the discriminators present: the non-saturating GAN loss."""
    return sum(F.softplus(x).mean() for x in logits if x is not None)


class Trainer:
    def __init__(self, cfg: Config, out_dir: str | Path, *, rank: int = 0, world_size: int = 1,
                 device: str | torch.device = "cpu") -> None:
        self.cfg = cfg
        self.out_dir = Path(out_dir)
        self.rank, self.world_size = rank, world_size
        self.device = torch.device(device)
        t = cfg.train
        if t.batch_size % world_size:
            raise ValueError(f"train.batch_size {t.batch_size} is not divisible by {world_size} processes")
        self.store = ClipStore(cfg.data.path)
        side = cfg.generator.resolution
        if self.store.resolution != (side, side):
            raise ValueError(f"clip store {cfg.data.path} is {self.store.resolution} but "
                             f"generator.resolution is {side}")
        num_classes = cfg.generator.num_classes
        if num_classes and num_classes != len(self.store.class_names):
            raise ValueError(f"generator.num_classes={num_classes} but the clip store has "
                             f"{len(self.store.class_names)} classes")
        torch.manual_seed(t.seed)  # parameter initialisation is identical on every rank
        self.G = Generator(cfg.generator).to(self.device)
        self.D = VideoDiscriminators(cfg.discriminator, cfg.generator.resolution, num_classes).to(self.device)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.opt_G = self._adam(self.G, t.g_reg_interval)
        self.opt_D = self._adam(self.D, t.d_reg_interval)
        self.latent_gen = torch.Generator().manual_seed(t.seed + 1)
        self.aug_gen = torch.Generator().manual_seed(t.seed + 2)
        self.loader = FramePairLoader(self.store, t.batch_size, t.seed + 3, split=cfg.data.split,
                                      xflip=cfg.data.xflip,
                                      delta_t_rule=t.delta_t_rule)
        self.step = 0
        self._stop_signal: int | None = None

    def _adam(self, module: nn.Module, reg_interval: int) -> torch.optim.Adam:
        # Lazy regularisation: StyleGAN2 rescales lr and betas by interval / (interval + 1).
        t = self.cfg.train
        ratio = reg_interval / (reg_interval + 1)
        return torch.optim.Adam(module.parameters(), lr=t.lr * ratio,
                                betas=tuple(b ** ratio for b in t.betas), eps=1e-8)

    # ----------------------------------------------------------------------------------- sampling
    def _local(self, x: Tensor) -> Tensor:
        return x[rank_slice(x.shape[0], self.rank, self.world_size)].to(self.device)

    def _sample_fake(self) -> FakeBatch:
        g, t = self.cfg.generator, self.cfg.train
        n = t.batch_size
        z = torch.randn(n, g.z_dim, generator=self.latent_gen)
        z_motion = torch.randn(n, g.motion_z_dim, generator=self.latent_gen)
        labels = None
        if g.num_classes:
            # Fake labels follow the training split's class frequencies, as StyleGAN2-ADA.
            pick = torch.randint(len(self.loader.indices), (n,), generator=self.latent_gen)
            labels = self._local(torch.from_numpy(self.store.labels[self.loader.indices[pick.numpy()]]))
        times = sample_fake_times(n, self.latent_gen, t.delta_t_rule)
        times = self._local(times)
        frames = self.G(self._local(z), self._local(z_motion), times, labels)
        return FakeBatch(frames, times[:, 1] - times[:, 0], labels)

    def _discriminate(self, frames: Tensor, delta_t: Tensor, labels: Tensor | None,
                      requires_input_grad: bool = False) -> tuple[Tensor, Tensor, Tensor | None]:
        """Image-D and motion-D logits of augmented frame pairs (motion logits None without the
        motion D); with ``requires_input_grad`` also the R1 penalty per video.

        R1 follows the official loss (``src/training/loss.py``, where DiffAug runs inside D's
        forward): the motion D's gradient is taken w.r.t. its *un-augmented* 7-channel input
        (frames and Δt plane, through the augmentation), the image D's w.r.t. the augmented frames.
        """
        n, _, c, h, w = frames.shape
        params = sample_augment_params(self.cfg.train.batch_size, w, self.aug_gen)
        params = params.slice(rank_slice(self.cfg.train.batch_size, self.rank, self.world_size))
        pairs = motion_input(frames[:, 0], frames[:, 1], delta_t)  # [n, 7, H, W], un-augmented
        if requires_input_grad:
            pairs = pairs.detach().requires_grad_(True)
        augmented = augment_videos(pairs[:, :6].reshape(n, 2, c, h, w), params, self.cfg.train.diffaug)
        order = image_batch_order(n, self.cfg.discriminator.mbstd_group).to(frames.device)
        images = augmented.reshape(2 * n, c, h, w)[order]
        image_labels = labels.repeat_interleave(2)[order] if labels is not None else None
        logits_img = self.D.image(images, image_labels)
        logits_mot = None
        if self.cfg.generator.motion:  # the image INR-GAN baseline has no motion D
            logits_mot = self.D.motion(torch.cat([augmented.reshape(n, 2 * c, h, w), pairs[:, 6:]], dim=1),
                                       labels)
        if not requires_input_grad:
            return logits_img, logits_mot, None
        # Mean of each video's two frame penalties (frame k of the batch belongs to video order[k] // 2).
        r1 = frames.new_zeros(n).index_add(0, order // 2, r1_penalty(logits_img, images)) / 2
        if logits_mot is not None:
            r1 = r1 + r1_penalty(logits_mot, pairs)
        return logits_img, logits_mot, r1

    # ---------------------------------------------------------------------------------- phases
    def _apply(self, module: nn.Module, opt: torch.optim.Optimizer, loss: Tensor, phase: str) -> float:
        """Backward, average gradients over ranks, refuse non-finite values, step."""
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        value = loss.detach().view(1)
        if self.world_size > 1:
            flat = torch.cat([g.flatten() for g in grads] + [value])
            dist.all_reduce(flat)
            flat /= self.world_size
            offset = 0
            for g in grads:
                g.copy_(flat[offset:offset + g.numel()].view_as(g))
                offset += g.numel()
            value = flat[-1:]
        # One host sync: NaN or inf anywhere in the loss or the gradients makes this sum non-finite.
        check = float(value + torch.nn.utils.get_total_norm(grads))
        if not math.isfinite(check):
            last = self.out_dir / CHECKPOINT_NAME
            raise NonFiniteLossError(
                f"non-finite {phase} loss or gradient (loss {float(value)}) at step {self.step}; parameters "
                f"were not updated. The last good checkpoint is {last if last.exists() else 'not written yet'}. "
                "Lower train.lr or check the data.")
        opt.step()
        return float(value)

    def train_step(self) -> dict[str, float]:
        t = self.cfg.train
        real = self.loader.next_batch(self.rank, self.world_size)
        real = RealBatch(real.frames.to(self.device), real.delta_t.to(self.device), real.labels.to(self.device))
        real_labels = real.labels if self.cfg.generator.num_classes else None
        stats: dict[str, float] = {}

        # G: non-saturating loss through both discriminators.
        self.D.requires_grad_(False)
        self.G.requires_grad_(True)
        fake = self._sample_fake()
        logits_img, logits_mot, _ = self._discriminate(fake.frames, fake.delta_t, fake.labels)
        loss_g = _mean_softplus(-logits_img, _negated(logits_mot))
        stats["loss_G"] = self._apply(self.G, self.opt_G, loss_g, "generator")

        # D: fakes down, reals up.
        self.G.requires_grad_(False)
        self.D.requires_grad_(True)
        with torch.no_grad():
            fake = self._sample_fake()
        f_img, f_mot, _ = self._discriminate(fake.frames, fake.delta_t, fake.labels)
        r_img, r_mot, _ = self._discriminate(real.frames, real.delta_t, real_labels)
        loss_d = _mean_softplus(f_img, f_mot, -r_img, _negated(r_mot))
        stats["loss_D"] = self._apply(self.D, self.opt_D, loss_d, "discriminator")
        # D_real/D_fake follow the motion D, which judges dynamics (the image D's without it).
        stats["D_real"] = float((r_mot if r_mot is not None else r_img).detach().mean())
        stats["D_fake"] = float((f_mot if f_mot is not None else f_img).detach().mean())

        # Lazy R1 on both discriminators, γ/2·R1 scaled by the interval.
        if t.r1_gamma > 0 and self.step % t.d_reg_interval == 0:
            logits_img, logits_mot, r1 = self._discriminate(real.frames, real.delta_t, real_labels,
                                                            requires_input_grad=True)
            loss_r1 = (r1 * (t.r1_gamma / 2)).mean() * t.d_reg_interval
            # The output bias does not reach ∇ₓD; a zero term gives it a (zero) gradient so every
            # parameter gets an Adam update on every rank, as in StyleGAN2-ADA.
            loss_r1 = loss_r1 + 0 * sum(x.sum() for x in (logits_img, logits_mot) if x is not None)
            stats["loss_R1"] = self._apply(self.D, self.opt_D, loss_r1, "R1")
        self.D.requires_grad_(False)

        self._update_ema()
        self.step += 1
        return stats

    @torch.no_grad()
    def _update_ema(self) -> None:
        t = self.cfg.train
        nimg = self.step * t.batch_size
        ema_nimg = t.ema_kimg * 1000
        if t.ema_rampup > 0:
            ema_nimg = min(ema_nimg, nimg * t.ema_rampup)
        beta = 0.5 ** (t.batch_size / max(ema_nimg, 1e-8))
        for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
            p_ema.copy_(p.detach().lerp(p_ema, beta))

    # ------------------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        return {
            "config": self.cfg.to_dict(),
            "step": self.step,
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "G_ema": self.G_ema.state_dict(),
            "opt_G": self.opt_G.state_dict(),
            "opt_D": self.opt_D.state_dict(),
            "rng": {"latent": self.latent_gen.get_state(), "augment": self.aug_gen.get_state(),
                    "torch": torch.get_rng_state()},
            "data": self.loader.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        saved = config_from_dict(state["config"]).to_dict()
        mine = self.cfg.to_dict()
        for section in saved:
            for key, value in saved[section].items():
                if mine[section][key] != value and not (section == "train" and key in RESUMABLE_CHANGES):
                    raise ValueError(f"cannot resume: {section}.{key} is {mine[section][key]!r} here but "
                                     f"{value!r} in the checkpoint; use a new output directory")
        self.step = int(state["step"])
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.G_ema.load_state_dict(state["G_ema"])
        self.opt_G.load_state_dict(state["opt_G"])
        self.opt_D.load_state_dict(state["opt_D"])
        self.latent_gen.set_state(state["rng"]["latent"])
        self.aug_gen.set_state(state["rng"]["augment"])
        torch.set_rng_state(state["rng"]["torch"])
        self.loader.load_state_dict(state["data"])

    def save_checkpoint(self) -> Path:
        path = self.out_dir / CHECKPOINT_NAME
        if self.rank == 0:
            save_atomic(self.state_dict(), path)
        if self.world_size > 1:
            dist.barrier()
        return path

    def maybe_resume(self) -> bool:
        path = self.out_dir / CHECKPOINT_NAME
        if not path.exists():
            return False
        self.load_state_dict(load_checkpoint(path))
        _truncate_metrics(self.out_dir / METRICS_NAME, self.step)
        return True

    # ------------------------------------------------------------------------------------ loop
    def is_log_step(self, step: int) -> bool:
        """Steps whose losses go to the metrics log (and to experiment tracking)."""
        return step % self.cfg.train.log_every == 0 or step == self.cfg.train.steps

    def _on_signal(self, signum: int, _frame: object) -> None:
        self._stop_signal = signum

    def _stop_agreed(self) -> bool:
        """Whether any rank was signalled to stop. Every rank stops after the same step: a rank that
        stopped alone would wait in the checkpoint barrier while the others enter the next gradient
        all-reduce, and the job would hang (nccl) until Slurm killed it, never requeued."""
        stop = self._stop_signal is not None
        if self.world_size == 1:
            return stop
        flag = torch.tensor([float(stop)], device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    def run(self, on_step: Callable[[int, dict[str, float]], None] | None = None,
            on_sample: Callable[[int], None] | None = None) -> None:
        """Train until ``train.steps``. SIGTERM/SIGINT finish the current step, checkpoint and raise
        :class:`TrainingInterrupted`; a non-finite loss raises before touching the parameters."""
        t = self.cfg.train
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        metrics = (self.out_dir / METRICS_NAME).open("a") if self.rank == 0 else None
        try:
            while self.step < t.steps:
                stats = self.train_step()
                if metrics is not None and self.is_log_step(self.step):
                    metrics.write(json.dumps({"step": self.step, **stats}) + "\n")
                    metrics.flush()
                if on_step is not None:
                    on_step(self.step, stats)
                if self.step % t.checkpoint_every == 0 or self.step == t.steps:
                    self.save_checkpoint()
                if on_sample is not None and self.step % t.sample_every == 0:
                    on_sample(self.step)
                if self._stop_agreed():
                    self.save_checkpoint()
                    cause = "a signal to another rank" if self._stop_signal is None else f"signal {self._stop_signal}"
                    raise TrainingInterrupted(
                        f"{cause} at step {self.step}: checkpoint written to "
                        f"{self.out_dir / CHECKPOINT_NAME}; run the same command again to resume")
        finally:
            if metrics is not None:
                metrics.close()
            for s, handler in previous.items():
                signal.signal(s, handler)


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop log lines past the checkpoint so a resumed run does not duplicate them."""
    if not path.exists():
        return
    lines = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= step]
    path.write_text("".join(line + "\n" for line in lines))
