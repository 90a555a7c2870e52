"""One typed schema for the whole of params.yaml, checked before any stage does work.

Every stage starts with :func:`load_params`; ``python -m pipeline.params`` runs the same check on its
own. An unknown key, a wrong type or an impossible value fails with one message that names the key
(e.g. ``experiments.main.sigma_t``), and each experiment's model configuration is built and validated
through :mod:`digan.config`, so an override that could only fail inside a training job fails here.

The sections (see params.yaml, composed by Hydra from ``conf/``):

- ``profile`` (default | paper) and ``sigma_t``, the σt every experiment shares unless it fixes its own;
- ``launcher``: how train jobs run (submitit ``local`` or ``slurm`` with a cluster profile);
- ``model``: the base DIGAN configuration (generator/discriminator/train) of the profile;
- ``datasets`` / ``preprocess`` (issue 5's sources and preprocessing rules), ``download`` (datasets to
  download), ``clip_sets`` (real clip stores to build), ``synthetic_sets`` (embedded synthetic stores);
- ``weights`` (metric backbones to fetch) and ``probes`` (probe classifiers trained in the pipeline);
- ``evaluate``: the metric protocol; ``experiments``: one named run per table row.
"""
from __future__ import annotations

import argparse
import copy
import sys
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, Field, PlainSerializer, PlainValidator

from digan.config import Config, ConfigError, apply_override, config_from_dict, set_nested
from digan.data.real import SPECS
from digan.data.sources import DATASETS, load_sources
from digan.metrics import METRICS
from digan.schema import SHA256_HEX, Schema, one_of, parse
from pipeline.results import ANALYSES

if typing.TYPE_CHECKING:
    from digan.data.preprocess import PreprocessConfig

PROFILES = ("default", "paper", "paper_ucf101", "paper_smoke", "smoke")
BACKBONES = ("i3d", "c3d")
CLIPS_ROOT = Path("data/clips")
WEIGHTS_ROOT = Path("data/weights")
RUNS_ROOT = Path("runs")
METRICS_ROOT = Path("metrics")


@dataclass(frozen=True)
class BackboneRef:
    """A feature network named in params: ``i3d``, ``c3d``, or ``probe:<name>`` (a probe of ``probes``)."""

    kind: str  # i3d, c3d or probe
    probe: str | None = None  # the probe's name when kind is "probe"

    def __str__(self) -> str:
        return f"probe:{self.probe}" if self.kind == "probe" else self.kind


def _backbone(value: Any) -> BackboneRef:
    if isinstance(value, BackboneRef):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected i3d, c3d or probe:<name>, got {value!r}")
    kind, _, probe = value.partition(":")
    if kind == "probe" and probe:
        return BackboneRef("probe", probe)
    if kind in BACKBONES and not probe:
        return BackboneRef(kind)
    raise ValueError(f"must be one of {list(BACKBONES)} or probe:<name>, got {value!r}")


Backbone = Annotated[BackboneRef, PlainValidator(_backbone), PlainSerializer(str)]
DatasetName = Annotated[str, one_of(DATASETS, "dataset")]
AtLeastOne = Annotated[int, Field(ge=1)]
Scale = Annotated[int, Field(ge=2)]  # an upsampling factor of Table 4


class Launcher(Schema):
    kind: Literal["local", "slurm"] = "local"  # local: submitit LocalExecutor on this machine; slurm: a cluster job
    cluster_profile: str = "local"  # slurm/profiles/<name>.yaml or a path; its tasks_per_node = DDP processes
    # The evaluate stages' jobs (same launcher kind): one process on one device, e.g. one GPU.
    evaluate_cluster_profile: str = "local"


class SyntheticSet(Schema):
    """An embedded synthetic clip store (digan.data.synthetic), built by stage synthesize@<name>."""

    resolution: AtLeastOne = 32
    frames_per_video: AtLeastOne = 24
    clip_frames: AtLeastOne = 16
    videos_per_class: AtLeastOne = 16
    seed: int = 0
    scales: list[Scale] = []  # also render the first videos at these multiples (Table 4)
    scale_videos_per_class: AtLeastOne = 2


class ClipSet(Schema):
    """A real clip store built by stage preprocess@<name> from data/raw/<dataset>."""

    dataset: DatasetName
    resolution: Annotated[int, Field(ge=8)] | None = None  # None: the preprocess section's resolution
    frames: Annotated[int, Field(ge=2)] | None = None  # None: the preprocess section's clip length (128: long)
    scales: list[Scale] = []  # also prepare the clips at these multiples (Table 4)


class Probe(Schema):
    """A probe classifier trained on a synthetic store: the default profile's IS and fast FVD features."""

    synthetic_set: str
    steps: AtLeastOne = 300
    seed: int = 0


class WeightFile(Schema):
    """Where one file of a backbone's weights is fetched from (a mirror, or a local server)."""

    url: str
    sha256: Annotated[str, Field(pattern=f"^{SHA256_HEX.pattern}$")] | None = None  # None: recorded on first use


class WeightSources(Schema):
    """Overrides of the backbones' download sources; a file left out keeps its published URL."""

    c3d: dict[Literal["conv3d_deepnetA_ucf.npz", "mean2.npz"], WeightFile] = {}


class Evaluate(Schema):
    """The metric protocol (paper Appendix A.2: 10 runs of 2,048 clips; IS over 10,000 videos)."""

    backbone: Backbone = BackboneRef("i3d")  # FVD/KVD features: i3d, or probe:<name> of the probes section
    is_backbone: Backbone = BackboneRef("c3d")  # IS classifier: c3d or probe:<name>
    runs: AtLeastOne = 10
    samples: AtLeastOne = 2048
    is_samples: AtLeastOne = 10000
    analysis_runs: AtLeastOne = 5  # runs for Tables 2 and 4 (paper: 5 for analyses)
    analysis_samples: AtLeastOne = 2048
    projection_steps: AtLeastOne = 20000  # paper Appendix E: 20,000 iterations
    projection_clips: AtLeastOne = 64
    speed_repeats: AtLeastOne = 3
    seed: int = 0
    # GB that generation, rendering, projection and scoring may hold at once (digan.memory; its
    # DEFAULT_BUDGET_GB, not imported here so that params load without torch)
    memory_budget_gb: float = Field(8.0, gt=0)
    # Beside every quality score, the same metrics at the same counts for two references: the training split's
    # clips against the same real clips (real vs real), and the generator at its initialisation.
    floors: bool = False


def _checkpoint_path(path: str) -> str:
    if not path.endswith((".pkl", ".pt")):
        raise ValueError(f"an official snapshot (.pkl) or a checkpoint of this project (.pt), got {path!r}")
    return path


def _sha256_or_empty(digest: str) -> str:
    if digest and not SHA256_HEX.fullmatch(digest):
        raise ValueError(f"64 lower-case hex digits, or empty; got {digest!r}")
    return digest


class Pretrained(Schema):
    """A released checkpoint to evaluate instead of training: an official DIGAN snapshot
    (``network-snapshot-*.pkl``, imported by digan.official) or a checkpoint of this project (``.pt``)."""

    path: Annotated[str, AfterValidator(_checkpoint_path)]
    # pin it: the train stage refuses a file with another digest ("": print it, do not check)
    sha256: Annotated[str, AfterValidator(_sha256_or_empty)] = ""


class ExtraScore(Schema):
    """FVD/KVD of an experiment's final generator with one more backbone, at its own (smaller) counts: the
    default profile scores main with the real I3D beside the probe."""

    backbone: Backbone
    runs: AtLeastOne = 2
    samples: AtLeastOne = 32


class Experiment(Schema):
    """One trained model (or, with ``pretrained``, a released one) and what is measured on it.

    ``clips``, ``store``, ``sigma_t_param`` and ``set`` have no default: dvc.yaml names them (as params
    and in ``${item...}`` interpolation), so params.yaml must write them out."""

    clips: str  # a synthetic_sets or clip_sets name
    store: str  # the store inside data/clips/<clips>/ (real datasets: all, train, test, ...)
    label: str = ""
    tables: list[Annotated[int, Field(ge=1, le=8)]] = []
    analyses: list[Annotated[str, one_of(ANALYSES, "analysis")]] = ["quality"]
    sigma_t_param: str  # where σt comes from: the shared top-level key or this experiment's own
    sigma_t: Annotated[float, Field(gt=0)] | None = None
    set: dict[str, Any]  # model overrides, dotted keys (train.steps: 300)
    # Real clips the metrics compare with: the store of this clip set ("": the training store) and its
    # manifest split. The paper profile scores as the paper (App. A.2) and the official
    # src/scripts/compute_fvd_kvd.py (train=False): UCF-101 and TaiChi all clips, Sky its test split,
    # Kinetics-food its validation set; the default profile the synthetic test split.
    real_store: str = ""
    real_split: Literal["all", "train", "test", "validate"] = "all"
    space_scales: list[int] = []  # Table 4: upsampling factors (the clip set's scales)
    metrics: list[Literal[METRICS]] = Field(["fvd", "kvd"], min_length=1)  # quality metrics; add is for IS
    also_scored_with: list[ExtraScore] = []  # quality: FVD/KVD with these backbones too
    pretrained: Pretrained | None = None


class Params(Schema):
    profile: Literal[PROFILES] = "default"
    sigma_t: float = Field(0.25, gt=0, description="paper: 0.25; 0.5 for 128 frames")
    launcher: Launcher = Field(default_factory=Launcher)
    model: dict[str, Any] = {}  # generator/discriminator/train of digan.config, checked as model.<key>
    datasets: dict[str, Any] = {}
    preprocess: dict[str, Any] = {}
    download: list[DatasetName] = []
    clip_sets: dict[str, ClipSet] = {}
    synthetic_sets: dict[str, SyntheticSet] = {}
    weights: list[Annotated[str, one_of(BACKBONES, "backbone")]] = []
    weight_sources: WeightSources = Field(default_factory=WeightSources)
    probes: dict[str, Probe] = {}
    evaluate: Evaluate = Field(default_factory=Evaluate)
    experiments: dict[str, Experiment] = {}


def _check(cond: bool, key: str, why: str) -> None:
    if not cond:
        raise ConfigError(f"{key}: {why}")


# --------------------------------------------------------------------------------------- validation
def config_from_params(params: dict[str, Any], dataset: str, default_workers: int = 1) -> PreprocessConfig:
    """Validate the ``preprocess`` section and merge its per-dataset overrides."""
    from digan.data.preprocess_config import preprocess_config  # the schema lives with the dataset rules
    return preprocess_config(params, dataset, default_workers)


def dataset_stores(dataset: str) -> list[str]:
    """The clip stores preprocess@ builds for a real dataset (its module in digan.data.real)."""
    return list(SPECS[dataset].stores)


def clip_store_path(clips: str, store: str, scale: int = 1) -> Path:
    """Where a clip store lives: data/clips/<clips>/<store>, and data/clips/<clips>/x<scale>/<store> for the
    same clips prepared at ``scale`` times the resolution."""
    return CLIPS_ROOT / clips / (f"x{scale}" if scale != 1 else "") / store


def _backbone_ok(params: Params, ref: BackboneRef, allowed: str, key: str) -> None:
    if ref.kind == "probe":
        _check(ref.probe in params.probes, key, f"no probe {ref.probe!r} in probes ({sorted(params.probes)})")
    else:
        _check(ref.kind == allowed, key, f"must be {allowed} or probe:<name>, got {ref.kind!r}")
        _check(ref.kind in params.weights, key, f"{ref.kind} weights are not fetched: add it to weights")


def experiment_config(params: Params, name: str) -> Config:
    """The full, validated model configuration of one experiment."""
    exp = params.experiments[name]
    data = copy.deepcopy(params.model)
    data["data"] = {**data.get("data", {}), "path": str(clip_store_path(exp.clips, exp.store))}
    data.setdefault("generator", {})["sigma_t"] = params.sigma_t if exp.sigma_t is None else exp.sigma_t
    for key, value in exp.set.items():
        _check(key != "generator.sigma_t", f"experiments.{name}.set.{key}",
               "set σt with the experiment's sigma_t and sigma_t_param keys, so DVC knows what it depends on")
        set_nested(data, key.split("."), value, f"experiments.{name}.set.{key}")
    try:
        return config_from_dict(data)
    except ConfigError as e:
        raise ConfigError(f"experiments.{name} (model + set): {e}") from None


def validate(params: Params, *, check_profile_file: bool = True) -> Params:
    """The rules that relate sections or need other files, with the key of the first problem."""
    la = params.launcher
    if check_profile_file and la.kind == "slurm":
        from pipeline.cluster_profiles import ProfileError, load_profile
        for key in ("cluster_profile", "evaluate_cluster_profile"):
            try:
                profile = load_profile(getattr(la, key))
            except ProfileError as e:
                raise ConfigError(f"launcher.{key}: {e}") from None
            _check(key == "cluster_profile" or profile.get("nodes", 1) * profile.get("tasks_per_node", 1) == 1,
                   f"launcher.{key}", "an evaluation job runs one process: nodes and tasks_per_node must be 1")
    parse(Config, params.model, "model")
    load_sources({"datasets": params.datasets})  # its errors name the key (datasets.<name>...)
    for dataset in DATASETS:
        config_from_params({"preprocess": params.preprocess}, dataset)
    for name, cs in params.clip_sets.items():
        _check(cs.dataset in params.download, f"clip_sets.{name}.dataset", f"{cs.dataset} is not in download")
        _check(name not in params.synthetic_sets, f"clip_sets.{name}", "also a synthetic_sets name")
    for name, ss in params.synthetic_sets.items():
        _check(ss.frames_per_video >= ss.clip_frames, f"synthetic_sets.{name}.frames_per_video",
               "must be >= clip_frames")
    for name, probe in params.probes.items():
        _check(probe.synthetic_set in params.synthetic_sets, f"probes.{name}.synthetic_set",
               f"no synthetic set {probe.synthetic_set!r}")
    _backbone_ok(params, params.evaluate.backbone, "i3d", "evaluate.backbone")
    _backbone_ok(params, params.evaluate.is_backbone, "c3d", "evaluate.is_backbone")
    _check(bool(params.experiments), "experiments", "at least one experiment is needed")
    for name, exp in params.experiments.items():
        _validate_experiment(params, name, exp)
    return params


def _validate_experiment(params: Params, name: str, exp: Experiment) -> None:
    key = f"experiments.{name}"
    known = {**params.synthetic_sets, **params.clip_sets}
    _check(exp.clips in known, f"{key}.clips", f"no clip set {exp.clips!r}; known: {sorted(known)}")
    if exp.clips in params.synthetic_sets:
        _check(exp.store == "clips", f"{key}.store", "a synthetic set has one store, 'clips'")
        _check(exp.real_store in ("", "clips"), f"{key}.real_store", "a synthetic set has one store, 'clips'")
    else:
        stores = dataset_stores(params.clip_sets[exp.clips].dataset)
        for field_name in ("store", "real_store"):
            value = getattr(exp, field_name)
            _check(value == "" and field_name == "real_store" or value in stores, f"{key}.{field_name}",
                   f"dataset {params.clip_sets[exp.clips].dataset} has the stores {stores}, got {value!r}")
    own = f"{key}.sigma_t"
    _check(exp.sigma_t_param in ("sigma_t", own), f"{key}.sigma_t_param",
           f"must be 'sigma_t' (the shared value) or '{own}' (this experiment's own), got {exp.sigma_t_param!r}")
    if exp.sigma_t_param == "sigma_t":
        _check(exp.sigma_t is None, own, "remove it, or set sigma_t_param to " + own)
    else:
        _check(exp.sigma_t is not None, own, "must be a positive number (this experiment's own σt)")
    prepared = known[exp.clips].scales
    for scale in exp.space_scales:
        _check(scale in prepared, f"{key}.space_scales",
               f"clip set {exp.clips} is not prepared at x{scale} (its scales: {prepared})")
    _check("space" not in exp.analyses or bool(exp.space_scales), f"{key}.space_scales",
           "the space analysis needs at least one upsampling factor")
    for i, extra in enumerate(exp.also_scored_with):
        _backbone_ok(params, extra.backbone, "i3d", f"{key}.also_scored_with[{i}].backbone")
        _check(extra.backbone.kind != params.evaluate.backbone.kind, f"{key}.also_scored_with[{i}].backbone",
               f"evaluate.backbone is a {params.evaluate.backbone.kind} already (the metric keys would clash)")
        _check("quality" in exp.analyses, f"{key}.also_scored_with", "scores the quality analysis; add it to analyses")
    if exp.pretrained is not None:
        _check(not exp.set, f"{key}.set", "a pretrained experiment is not trained: its model comes from the checkpoint")
        _check(exp.sigma_t_param == own, f"{key}.sigma_t_param",
               f"a pretrained model has its own σt: use '{own}' so a shared-σt change does not re-import it")
    experiment_config(params, name)


def load_params(path: str | Path = "params.yaml", overrides: list[str] | tuple[str, ...] = (),
                *, check_profile_file: bool = True) -> Params:
    """Read and validate params.yaml (plus ``a.b=value`` overrides, as ``dvc exp run -S``)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such params file")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    for text in overrides:
        apply_override(data, text)
    return validate(parse(Params, data), check_profile_file=check_profile_file)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pipeline.params", description=__doc__.split("\n")[0])
    p.add_argument("--params", default="params.yaml")
    p.add_argument("-S", "--set", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args(argv)
    try:
        params = load_params(args.params, args.set)
    except ConfigError as e:
        print(f"invalid params: {e}", file=sys.stderr)
        return 2
    print(f"{args.params}: valid ({params.profile} profile, {len(params.experiments)} experiments)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
