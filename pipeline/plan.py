"""What ``dvc repro`` would run for a params file, where, how much disk and how many device-hours, before
anything runs: nothing is trained, downloaded or read but params.yaml, dvc.yaml and the cluster profiles.

    python -m pipeline.plan [--params params.yaml | --profile paper] [--device-tflops 50] [--json]

Stage instances come from dvc.yaml's ``foreach`` lists over params, so a stage added there without a plan
here fails loudly. Sizes: pipeline/plan_sizes.py; FLOPs: pipeline/plan_work.py, counted on the meta device
by pipeline/plan_flops.py. Device-hours divide FLOPs by a stated effective throughput, an assumption.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from digan.config import ConfigError
from digan.data.real import SPECS
from digan.data.synthetic import CLASS_NAMES
from digan.data.sources import load_sources
from digan.train import SAMPLE_FRAMES, SAMPLE_VIDEOS
from pipeline.cluster_profiles import load_profile
from pipeline.params import METRICS_ROOT, PROFILES, RUNS_ROOT, WEIGHTS_ROOT, Params, experiment_config, load_params
from pipeline.plan_flops import discriminator_parameters, generator_key, generator_parameters, network_parameters
from pipeline.plan_sizes import (FEATURE_BYTES, FLOAT32, LOG_LINE, METRICS_FILE, checkpoint_bytes, clip_sets,
                                 media_bytes)
from pipeline.plan_work import EvaluationWork, probe_flops, train_flops
from pipeline.results import ANALYSIS_FILES

DVC_YAML = Path(__file__).resolve().parents[1] / "dvc.yaml"
DEFAULT_GPU_TFLOPS = 50.0  # effective fp32 throughput of one data-centre GPU on these networks: an assumption
# Effective throughput of a CPU job or the dvc process, as measured on the 2-core development machine: the
# default profile's nine trainings ran 14.3 TFLOP (this plan's count) in 463 s (README, bench/pipeline.py),
# 0.031 TFLOP/s; the paper-width generator alone reaches 0.07 (bench/generator.py: 185.7 GFLOP in 2.7 s).
DEFAULT_CPU_TFLOPS = 0.03
C3D_MEAN_BYTES = FLOAT32 * 3 * 16 * 128 * 171  # mean2.npz: the [3, 16, 128, 171] float32 mean clip
FEATURE_DIMS = {"i3d": 400, "probe": 128}  # I3D's time-averaged logits; the probe's 4 × width embedding
REPORT_TABLES = 1 << 20  # reports/tables, index.md and the png figures it draws: about a MB
DVC_PROCESS = "dvc (this machine)"


@dataclass(frozen=True)
class Throughput:
    """Effective FLOP/s assumed per GPU and per CPU job (or the dvc process): the plan's one assumption."""

    gpu_tflops: float = DEFAULT_GPU_TFLOPS
    cpu_tflops: float = DEFAULT_CPU_TFLOPS


@dataclass
class Stage:
    """One stage instance: where it runs, what it writes (bytes, None where nothing is known), its FLOPs."""

    name: str
    runs_on: str
    gpus: int = 0  # 0: the work runs on CPUs (this machine's, or a CPU job's)
    outputs: list[tuple[str, int | None]] = field(default_factory=list)
    work: dict[str, int] = field(default_factory=dict)  # FLOPs by part
    notes: list[str] = field(default_factory=list)

    @property
    def flops(self) -> int:
        return sum(self.work.values())

    def hours(self, rate: Throughput) -> tuple[float, float]:
        """(device-hours, wall hours): GPU-hours summed over the job's GPUs, or the CPU's hours."""
        device = self.flops / ((rate.gpu_tflops if self.gpus else rate.cpu_tflops) * 1e12) / 3600
        return device, device / max(self.gpus, 1)


class Planner:
    """Builds every stage of one params file; sizes and FLOPs are cached per store and network."""

    def __init__(self, params: Params) -> None:
        self.params = params
        self.stores = clip_sets(params)
        self.evaluation = EvaluationWork(params, self.stores)
        self.media: dict[str, int] = {}  # experiment -> bytes of its media, for the report
        self.kinds: dict[str, Callable[[str | None], Stage]] = {
            "download": self.download, "preprocess": self.preprocess, "synthesize": self.synthesize,
            "weights": self.weights, "probe": self.probe, "train": self.train, "evaluate": self.evaluate,
            "report": self.report}

    def stages(self, dvc_yaml: Path = DVC_YAML) -> list[Stage]:
        """Every instance dvc.yaml defines for these params, in dvc.yaml's order."""
        out = []
        for kind, key in stage_instances(self.params, dvc_yaml):
            if kind not in self.kinds:
                raise NotImplementedError(f"{dvc_yaml}: stage {kind} has no plan in pipeline/plan.py")
            out.append(self.kinds[kind](key))
        return out

    def job(self, profile_key: str) -> tuple[str, int]:
        """Where a train or evaluate job runs (launcher.kind with the cluster profile of ``profile_key``):
        the text says nodes x tasks_per_node and the job's GPUs."""
        la = self.params.launcher
        if la.kind == "local":
            return "local job (this machine, 1 process)", 0
        name = getattr(la, profile_key)
        profile = load_profile(name)
        nodes, tasks = profile.get("nodes", 1), profile.get("tasks_per_node", 1)
        gpus = nodes * profile.get("gpus_per_node", 0)
        return f"slurm {name}: {nodes}x{tasks} tasks, {gpus} GPU", gpus

    def download(self, dataset: str | None) -> Stage:
        source = load_sources({"datasets": self.params.datasets})[dataset]
        stage = Stage(f"download@{dataset}", DVC_PROCESS)
        if source.local_dir is not None:
            stage.outputs.append((f"data/raw/{dataset}", 0))
            stage.notes.append(f"links {source.local_dir}; fetches the metadata only")
        elif source.files:
            stage.outputs.append((f"data/raw/{dataset}", SPECS[dataset].known.download_bytes))
            stage.notes.append("archives in data/raw/.downloads/ and their unpacked copy")
        else:
            stage.outputs.append((f"data/raw/{dataset}", None))
            stage.notes.append(f"needs datasets.{dataset}.local_dir: nothing to download")
        return stage

    def _stores(self, stage: Stage, name: str) -> Stage:
        for s in self.stores[name]:
            stage.outputs.append((str(s.path), s.bytes))
            splits = ", ".join(f"{k} {v:,}" for k, v in s.splits.items())
            stage.notes.append(f"{s.path}: {s.clips:,} clips of {s.frames} x {s.resolution}² ({splits})")
        return stage

    def preprocess(self, name: str | None) -> Stage:
        dataset = self.params.clip_sets[name].dataset
        stage = Stage(f"preprocess@{name}", DVC_PROCESS,
                      notes=[f"clips cut from the published video lengths (KNOWN in digan/data/real/{dataset}.py)"])
        return self._stores(stage, name)

    def synthesize(self, name: str | None) -> Stage:
        stage = Stage(f"synthesize@{name}", DVC_PROCESS, notes=["the rendered mp4 files beside them are not counted"])
        return self._stores(stage, name)

    def weights(self, backbone: str | None) -> Stage:
        params = network_parameters(backbone) * FLOAT32
        size = 2 * params if backbone == "i3d" else params + C3D_MEAN_BYTES  # i3d: checkpoint + converted .pt
        return Stage(f"weights@{backbone}", DVC_PROCESS, outputs=[(str(WEIGHTS_ROOT / backbone), size)])

    def probe(self, name: str | None) -> Stage:
        size = FLOAT32 * network_parameters("probe", len(CLASS_NAMES))
        return Stage(f"probe@{name}", DVC_PROCESS, outputs=[(str(WEIGHTS_ROOT / f"probe_{name}.pt"), size)],
                     work={"training": probe_flops(self.params, name, self.stores)})

    def train(self, name: str | None) -> Stage:
        exp = self.params.experiments[name]
        cfg = experiment_config(self.params, name)
        g = generator_parameters(generator_key(cfg.generator))
        d = discriminator_parameters(cfg.discriminator.model_dump_json(), cfg.generator.resolution,
                                     cfg.generator.num_classes)
        where, gpus = self.job("cluster_profile")
        t = cfg.train
        log = t.steps // t.log_every * LOG_LINE
        if exp.pretrained is not None:
            imported = checkpoint_bytes(g, d, optimizer=False)
            return Stage(f"train@{name}", where, gpus, [(str(RUNS_ROOT / name), imported), (f"curves/{name}.csv", 0)],
                         notes=[f"imports {exp.pretrained.path}: not trained"])
        snapshots = t.steps // t.snapshot_every if t.snapshot_every else 0
        samples = t.steps // t.sample_every * media_bytes(SAMPLE_VIDEOS * SAMPLE_FRAMES * cfg.generator.resolution ** 2)
        run_dir = checkpoint_bytes(g, d) + snapshots * FLOAT32 * g + samples + log
        notes = [f"{t.steps} steps x batch {t.batch_size}; G {g / 1e6:.1f} M, D {d / 1e6:.1f} M parameters"]
        notes += [f"{snapshots} EMA snapshots of {FLOAT32 * g / 1e6:.0f} MB"] if snapshots else []
        return Stage(f"train@{name}", where, gpus, [(str(RUNS_ROOT / name), run_dir), (f"curves/{name}.csv", log)],
                     work=train_flops(cfg), notes=notes)

    def evaluate(self, name: str | None) -> Stage:
        exp = self.params.experiments[name]
        work, pixels, first = self.evaluation.experiment(name)
        where, gpus = self.job("evaluate_cluster_profile")
        files = sum(len(ANALYSIS_FILES[a]) for a in exp.analyses)
        self.media[name] = media_bytes(pixels)
        outputs = [(str(METRICS_ROOT / name), files * METRICS_FILE + self.media[name]), (f"summary/{name}.json", 4096)]
        stage = Stage(f"evaluate@{name}", where, gpus, outputs, work=work)
        if exp.pretrained is not None:
            stage.notes.append("a released model: counted at the profile's model configuration")
        backbone = self.params.evaluate.backbone.kind
        if first:
            stage.outputs.append(("data/cache/features", sum(n for _, n in first) * FEATURE_DIMS.get(backbone, 0)
                                  * FEATURE_BYTES))
            stage.notes.append("first to score " + ", ".join(f"{s.path} ({n:,} clips)" for s, n in first))
        return stage

    def report(self, _: str | None) -> Stage:
        return Stage("report", DVC_PROCESS, outputs=[("reports", REPORT_TABLES + sum(self.media.values()))],
                     notes=["figures: copies of the evaluate stages' media (at most all of them)"])



def stage_instances(params: Params, dvc_yaml: Path = DVC_YAML) -> list[tuple[str, str | None]]:
    """(stage, foreach key) of every stage instance dvc.yaml defines for ``params``: its ``foreach: ${x}``
    over the list or mapping ``x`` of params (None for a stage without foreach)."""
    out: list[tuple[str, str | None]] = []
    for stage, body in yaml.safe_load(dvc_yaml.read_text())["stages"].items():
        if "foreach" not in body:
            out.append((stage, None))
            continue
        match = re.fullmatch(r"\$\{(\w+)\}", body["foreach"])
        if match is None:
            raise NotImplementedError(f"{dvc_yaml}: stage {stage}: foreach {body['foreach']!r} is not "
                                      "${<params key>}")
        out += [(stage, str(key)) for key in getattr(params, match.group(1))]
    return out


# ------------------------------------------------------------------------------------------------ output
def _bytes(n: int | None) -> str:
    if n is None:
        return "unknown"
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def _number(x: float) -> str:
    if x == 0:
        return "-"
    if x >= 100:
        return f"{x:,.0f}"
    return f"{x:.1f}" if x >= 1 else f"{x:.2g}"


def totals(stages: list[Stage], rate: Throughput) -> dict[str, float]:
    """Bytes, FLOPs, GPU-hours, CPU hours, and wall hours with the stages run one after another (dvc repro)."""
    out = {"bytes": 0, "flops": 0, "gpu_hours": 0.0, "cpu_hours": 0.0, "wall_hours": 0.0}
    for s in stages:
        device, wall = s.hours(rate)
        out["bytes"] += sum(b or 0 for _, b in s.outputs)
        out["flops"] += s.flops
        out["gpu_hours" if s.gpus else "cpu_hours"] += device
        out["wall_hours"] += wall
    return out


def to_json(source: str, params: Params, stages: list[Stage], rate: Throughput) -> dict[str, Any]:
    rows = []
    for s in stages:
        device, wall = s.hours(rate)
        rows.append({**asdict(s), "outputs": [{"path": p, "bytes": b} for p, b in s.outputs], "flops": s.flops,
                     "device": "gpu" if s.gpus else "cpu", "device_hours": device, "wall_hours": wall})
    return {"params": source, "profile": params.profile, "throughput_tflops": asdict(rate),
            "assumptions": ASSUMPTIONS, "stages": rows, "totals": totals(stages, rate)}


ASSUMPTIONS = ("device-hours = FLOPs / the assumed effective throughput (--device-tflops per GPU, --cpu-tflops per "
               "CPU job or dvc process; a local job counts as this machine's CPU); wall hours divide by the job's "
               "GPUs (perfect scaling) and add up as dvc repro runs the stages one after another. FLOPs count the "
               "matmuls and convolutions of the real networks on the meta device (2 per multiply-add); decoding, "
               "I/O and elementwise work are not counted. evaluate@ stages are planned as jobs of "
               "launcher.evaluate_cluster_profile.")


def to_table(source: str, params: Params, stages: list[Stage], rate: Throughput) -> str:
    """Fixed-width text: one line per output of each stage, then the totals and the notes."""
    header = ("stage", "runs on", "output", "size", "PFLOP", "device-h", "wall-h")
    rows = []
    for s in stages:
        device, wall = s.hours(rate)
        kind = "GPU-h" if s.gpus else "CPU-h"
        first = (s.name, s.runs_on, *(_out(s.outputs[0]) if s.outputs else ("", "")), _number(s.flops / 1e15),
                 f"{_number(device)} {kind}" if s.flops else "-", _number(wall))
        rows.append(first)
        rows += [("", "", *_out(o), "", "", "") for o in s.outputs[1:]]
    t = totals(stages, rate)
    rows.append(("total", "", f"{len(stages)} stages", _bytes(t["bytes"]), _number(t["flops"] / 1e15),
                 f"{_number(t['gpu_hours'])} GPU-h", _number(t["wall_hours"])))
    rows.append(("", "", "", "", "", f"{_number(t['cpu_hours'])} CPU-h", ""))
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    right = {3, 4, 5, 6}

    def line(r: tuple[str, ...]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()

    rule = "-" * len(line(header))
    lines = [f"Plan of {source} (profile {params.profile}): every stage dvc repro would run, nothing run yet.",
             f"Assumed effective throughput: {rate.gpu_tflops:g} TFLOP/s per GPU, {rate.cpu_tflops:g} TFLOP/s per "
             "CPU job or dvc process.", "", line(header), rule]
    lines += [line(r) for r in rows[:-2]] + [rule] + [line(r) for r in rows[-2:]]
    lines += ["", "Notes:"] + [f"  {s.name}: {n}" for s in stages for n in s.notes]
    lines += [""] + textwrap.wrap(ASSUMPTIONS, 116, initial_indent="  ", subsequent_indent="  ")
    return "\n".join(lines) + "\n"


def _out(output: tuple[str, int | None]) -> tuple[str, str]:
    return output[0], _bytes(output[1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pipeline.plan", description=__doc__.split("\n")[0])
    source = p.add_mutually_exclusive_group()
    source.add_argument("--params", default="params.yaml", help="a params file (default: params.yaml)")
    source.add_argument("--profile", choices=PROFILES, help="compose this profile from conf/ instead, as "
                        "dvc exp run -S profile=NAME would (params.yaml is left as it is)")
    p.add_argument("--device-tflops", type=float, default=DEFAULT_GPU_TFLOPS,
                   help=f"assumed effective TFLOP/s of one GPU (default {DEFAULT_GPU_TFLOPS:g})")
    p.add_argument("--cpu-tflops", type=float, default=DEFAULT_CPU_TFLOPS,
                   help=f"assumed effective TFLOP/s of a CPU job or the dvc process (default {DEFAULT_CPU_TFLOPS:g})")
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = p.parse_args(argv)
    if args.device_tflops <= 0 or args.cpu_tflops <= 0:
        p.error("throughputs must be positive")
    try:
        if args.profile is not None:
            from pipeline.configs import profile_params

            params, name = profile_params(args.profile), f"conf/ with profile={args.profile}"
        else:
            params, name = load_params(args.params), args.params
        stages = Planner(params).stages()
    except ConfigError as e:
        print(f"invalid params: {e}", file=sys.stderr)
        return 2
    rate = Throughput(args.device_tflops, args.cpu_tflops)
    if args.json:
        print(json.dumps(to_json(name, params, stages, rate), indent=2))
    else:
        print(to_table(name, params, stages, rate), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
