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
import dataclasses
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from digan.config import Config, ConfigError, apply_override, config_from_dict, set_nested
from digan.data.sources import DATASETS, load_sources
from pipeline.results import ANALYSES

if typing.TYPE_CHECKING:
    from digan.data.preprocess import PreprocessConfig

PROFILES = ("default", "paper", "smoke")
LAUNCHERS = ("local", "slurm")
BACKBONES = ("i3d", "c3d")
TABLES = tuple(range(1, 9))
CLIPS_ROOT = Path("data/clips")
WEIGHTS_ROOT = Path("data/weights")
RUNS_ROOT = Path("runs")
METRICS_ROOT = Path("metrics")


@dataclass
class Launcher:
    kind: str = "local"  # local: submitit LocalExecutor on this machine; slurm: a cluster job
    cluster_profile: str = "local"  # slurm/profiles/<name>.yaml or a path; its tasks_per_node = DDP processes


@dataclass
class SyntheticSet:
    """An embedded synthetic clip store (digan.data.synthetic), built by stage synthesize@<name>."""

    resolution: int = 32
    frames_per_video: int = 24
    clip_frames: int = 16
    videos_per_class: int = 16
    seed: int = 0
    scales: list[int] = field(default_factory=list)  # also render the first videos at these multiples (Table 4)
    scale_videos_per_class: int = 2


@dataclass
class ClipSet:
    """A real clip store built by stage preprocess@<name> from data/raw/<dataset>."""

    dataset: str = ""
    resolution: int | None = None  # None: the preprocess section's resolution
    frames: int | None = None  # None: the preprocess section's clip length (128 for long-video runs)
    scales: list[int] = field(default_factory=list)  # also prepare the clips at these multiples (Table 4)


@dataclass
class Probe:
    """A probe classifier trained on a synthetic store: the default profile's IS and fast FVD features."""

    synthetic_set: str = ""
    steps: int = 300
    seed: int = 0


@dataclass
class Evaluate:
    """The metric protocol (paper Appendix A.2: 10 runs of 2,048 clips; IS over 10,000 videos)."""

    backbone: str = "i3d"  # FVD/KVD features: i3d, or probe:<name> of the probes section
    is_backbone: str = "c3d"  # IS classifier: c3d or probe:<name>
    runs: int = 10
    samples: int = 2048
    is_samples: int = 10000
    analysis_runs: int = 5  # runs for Tables 2 and 4 (paper: 5 for analyses)
    analysis_samples: int = 2048
    projection_steps: int = 20000  # paper Appendix E: 20,000 iterations
    projection_clips: int = 64
    speed_repeats: int = 3
    seed: int = 0


@dataclass
class Pretrained:
    """A released checkpoint to evaluate instead of training: an official DIGAN snapshot
    (``network-snapshot-*.pkl``, imported by digan.official) or a checkpoint of this project (``.pt``)."""

    path: str = ""
    sha256: str = ""  # pin it: the train stage refuses a file with another digest ("": print it, do not check)


@dataclass
class Experiment:
    """One trained model (or, with ``pretrained``, a released one) and what is measured on it."""

    clips: str = ""  # a synthetic_sets or clip_sets name
    store: str = "clips"  # the store inside data/clips/<clips>/ (real datasets: all, train, test, ...)
    label: str = ""
    tables: list[int] = field(default_factory=list)
    analyses: list[str] = field(default_factory=lambda: ["quality"])
    sigma_t_param: str = "sigma_t"  # where σt comes from: the shared top-level key or this experiment's own
    sigma_t: float | None = None
    set: dict[str, Any] = field(default_factory=dict)  # model overrides, dotted keys (train.steps: 300)
    # Real clips the metrics compare with: the store of this clip set ("": the training store) and its
    # manifest split. The paper profile scores as the paper (App. A.2) and the official
    # src/scripts/compute_fvd_kvd.py (train=False): UCF-101 and TaiChi all clips, Sky its test split,
    # Kinetics-food its validation set; the default profile the synthetic test split.
    real_store: str = ""
    real_split: str = "all"
    space_scales: list[int] = field(default_factory=list)  # Table 4: upsampling factors (the clip set's scales)
    metrics: str = "fvd,kvd"  # quality metrics; add ",is" for IS
    pretrained: Pretrained | None = None


@dataclass
class Params:
    profile: str = "default"
    sigma_t: float = 0.25
    launcher: Launcher = field(default_factory=Launcher)
    model: dict[str, Any] = field(default_factory=dict)
    datasets: dict[str, Any] = field(default_factory=dict)
    preprocess: dict[str, Any] = field(default_factory=dict)
    download: list[str] = field(default_factory=list)
    clip_sets: dict[str, ClipSet] = field(default_factory=dict)
    synthetic_sets: dict[str, SyntheticSet] = field(default_factory=dict)
    weights: list[str] = field(default_factory=list)
    probes: dict[str, Probe] = field(default_factory=dict)
    evaluate: Evaluate = field(default_factory=Evaluate)
    experiments: dict[str, Experiment] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------ parsing
def _typed(value: Any, hint: Any, key: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key)
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        if value is None and type(None) in args:
            return None
        return _typed(value, next(a for a in args if a is not type(None)), key)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return [_typed(v, args[0], f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return {_typed(k, args[0], f"{key} key"): _typed(v, args[1], f"{key}.{k}") for k, v in value.items()}
    if hint is Any:
        return value
    if hint is bool and isinstance(value, bool):
        return value
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint is str and isinstance(value, str):
        return value
    raise ConfigError(f"{key}: expected {getattr(hint, '__name__', hint)}, got {value!r}")


def _build(cls: type, data: Any, prefix: str) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or 'params'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        where = f"{prefix}." if prefix else ""
        raise ConfigError(f"unknown key {where}{unknown[0]} (known: {', '.join(names)})")
    return cls(**{k: _typed(v, hints[k], f"{prefix}.{k}" if prefix else k) for k, v in data.items()})


def _check(cond: bool, key: str, why: str) -> None:
    if not cond:
        raise ConfigError(f"{key}: {why}")


# --------------------------------------------------------------------------------------- validation
_INT_KEYS = ("resolution", "frames", "stride", "step", "workers")


def config_from_params(params: dict[str, Any], dataset: str, default_workers: int = 1) -> PreprocessConfig:
    """Validate the ``preprocess`` section and merge its per-dataset overrides."""
    from digan.data.preprocess import PreprocessConfig  # imports torch: kept out of module import
    section = params.get("preprocess") or {}
    if not isinstance(section, dict):
        raise ConfigError("preprocess: expected a mapping")
    names = {f.name for f in dataclasses.fields(PreprocessConfig)}
    unknown = sorted(set(section) - names - set(DATASETS))
    if unknown:
        raise ConfigError(f"unknown key preprocess.{unknown[0]} (known: {', '.join(sorted(names | set(DATASETS)))})")
    values = {"workers": default_workers, **{k: v for k, v in section.items() if k in names}}
    override = section.get(dataset) or {}
    if not isinstance(override, dict):
        raise ConfigError(f"preprocess.{dataset}: expected a mapping, got {override!r}")
    if set(override) - names:
        raise ConfigError(f"unknown key preprocess.{dataset}.{sorted(set(override) - names)[0]} "
                          f"(known: {', '.join(sorted(names))})")
    values.update(override)
    for key, value in values.items():
        if key in _INT_KEYS and not (value is None or (isinstance(value, int) and not isinstance(value, bool))):
            raise ConfigError(f"preprocess.{key}: expected an integer, got {value!r}")
        if key in ("scale_flags", "resample") and not (value is None or isinstance(value, str)):
            raise ConfigError(f"preprocess.{key}: expected a string, got {value!r}")
        store_names = isinstance(value, list) and all(isinstance(s, str) for s in value)
        if key == "stores" and not (value is None or store_names):
            raise ConfigError(f"preprocess.stores: expected a list of store names, got {value!r}")
    if values.get("stores") is not None:
        values["stores"] = tuple(values["stores"])
    cfg = PreprocessConfig(**values)
    try:
        cfg.resolved(dataset)  # fail on impossible values before any decoding
    except ValueError as e:
        raise ConfigError(f"preprocess ({dataset}): {e}") from None
    return cfg


def dataset_stores(dataset: str) -> list[str]:
    """The clip stores preprocess@ builds for a real dataset (digan.data.preprocess.SPECS)."""
    from digan.data.preprocess import SPECS

    return list(SPECS[dataset].stores)


def clip_store_path(clips: str, store: str, scale: int = 1) -> Path:
    """Where a clip store lives: data/clips/<clips>/<store>, and data/clips/<clips>/x<scale>/<store> for the
    same clips prepared at ``scale`` times the resolution."""
    return CLIPS_ROOT / clips / (f"x{scale}" if scale != 1 else "") / store


def _backbone_ok(params: Params, name: str, allowed: tuple[str, ...], key: str) -> None:
    if name.startswith("probe:"):
        _check(name[6:] in params.probes, key, f"no probe {name[6:]!r} in probes ({sorted(params.probes)})")
    else:
        _check(name in allowed, key, f"must be one of {list(allowed)} or probe:<name>, got {name!r}")
        _check(name in params.weights, key, f"{name} weights are not fetched: add it to weights")


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
    """Everything that can be checked without touching data, with the key of the first problem."""
    _check(params.profile in PROFILES, "profile", f"must be one of {list(PROFILES)}, got {params.profile!r}")
    _check(params.sigma_t > 0, "sigma_t", f"must be positive (paper: 0.25; 0.5 for 128 frames), got {params.sigma_t}")
    la = params.launcher
    _check(la.kind in LAUNCHERS, "launcher.kind", f"must be one of {list(LAUNCHERS)}, got {la.kind!r}")
    if check_profile_file and la.kind == "slurm":
        from pipeline.cluster_profiles import ProfileError, load_profile
        try:
            load_profile(la.cluster_profile)
        except ProfileError as e:
            raise ConfigError(f"launcher.cluster_profile: {e}") from None
    try:
        load_sources({"datasets": params.datasets})
    except ConfigError as e:
        raise ConfigError(f"datasets: {e}") from None
    for dataset in DATASETS:
        config_from_params({"preprocess": params.preprocess}, dataset)
    for i, name in enumerate(params.download):
        _check(name in DATASETS, f"download[{i}]", f"unknown dataset {name!r}; known: {list(DATASETS)}")
    for name, cs in params.clip_sets.items():
        _check(cs.dataset in DATASETS, f"clip_sets.{name}.dataset",
               f"unknown dataset {cs.dataset!r}; known: {list(DATASETS)}")
        _check(cs.dataset in params.download, f"clip_sets.{name}.dataset", f"{cs.dataset} is not in download")
        _check(cs.resolution is None or cs.resolution >= 8, f"clip_sets.{name}.resolution", "must be >= 8")
        _check(cs.frames is None or cs.frames >= 2, f"clip_sets.{name}.frames", "must be >= 2")
        _check(all(s >= 2 for s in cs.scales), f"clip_sets.{name}.scales", "must be >= 2")
        _check(name not in params.synthetic_sets, f"clip_sets.{name}", "also a synthetic_sets name")
    for name, ss in params.synthetic_sets.items():
        for key in ("resolution", "frames_per_video", "clip_frames", "videos_per_class"):
            _check(getattr(ss, key) >= 1, f"synthetic_sets.{name}.{key}", "must be >= 1")
        _check(ss.frames_per_video >= ss.clip_frames, f"synthetic_sets.{name}.frames_per_video",
               "must be >= clip_frames")
        _check(all(s >= 2 for s in ss.scales), f"synthetic_sets.{name}.scales", "must be >= 2")
        _check(ss.scale_videos_per_class >= 1, f"synthetic_sets.{name}.scale_videos_per_class", "must be >= 1")
    for i, name in enumerate(params.weights):
        _check(name in BACKBONES, f"weights[{i}]", f"unknown backbone {name!r}; known: {list(BACKBONES)}")
    for name, probe in params.probes.items():
        _check(probe.synthetic_set in params.synthetic_sets, f"probes.{name}.synthetic_set",
               f"no synthetic set {probe.synthetic_set!r}")
        _check(probe.steps >= 1, f"probes.{name}.steps", "must be >= 1")
    ev = params.evaluate
    _backbone_ok(params, ev.backbone, ("i3d",), "evaluate.backbone")
    _backbone_ok(params, ev.is_backbone, ("c3d",), "evaluate.is_backbone")
    for key in ("runs", "samples", "is_samples", "analysis_runs", "analysis_samples", "projection_steps",
                "projection_clips", "speed_repeats"):
        _check(getattr(ev, key) >= 1, f"evaluate.{key}", "must be >= 1")
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
    _check(exp.real_split in ("all", "train", "test", "validate"), f"{key}.real_split",
           f"must be all, train, test or validate, got {exp.real_split!r}")
    for i, t in enumerate(exp.tables):
        _check(t in TABLES, f"{key}.tables[{i}]", f"tables are 1..8, got {t}")
    for i, a in enumerate(exp.analyses):
        _check(a in ANALYSES, f"{key}.analyses[{i}]", f"unknown analysis {a!r}; known: {list(ANALYSES)}")
    own = f"{key}.sigma_t"
    _check(exp.sigma_t_param in ("sigma_t", own), f"{key}.sigma_t_param",
           f"must be 'sigma_t' (the shared value) or '{own}' (this experiment's own), got {exp.sigma_t_param!r}")
    if exp.sigma_t_param == "sigma_t":
        _check(exp.sigma_t is None, own, "remove it, or set sigma_t_param to " + own)
    else:
        _check(exp.sigma_t is not None and exp.sigma_t > 0, own, "must be a positive number")
    prepared = known[exp.clips].scales
    for scale in exp.space_scales:
        _check(scale in prepared, f"{key}.space_scales",
               f"clip set {exp.clips} is not prepared at x{scale} (its scales: {prepared})")
    _check("space" not in exp.analyses or bool(exp.space_scales), f"{key}.space_scales",
           "the space analysis needs at least one upsampling factor")
    if exp.pretrained is not None:
        pre = exp.pretrained
        _check(pre.path.endswith((".pkl", ".pt")), f"{key}.pretrained.path",
               f"an official snapshot (.pkl) or a checkpoint of this project (.pt), got {pre.path!r}")
        _check(pre.sha256 == "" or (len(pre.sha256) == 64 and all(c in "0123456789abcdef" for c in pre.sha256)),
               f"{key}.pretrained.sha256", "64 lower-case hex digits, or empty")
        _check(not exp.set, f"{key}.set", "a pretrained experiment is not trained: its model comes from the checkpoint")
        _check(exp.sigma_t_param == own, f"{key}.sigma_t_param",
               f"a pretrained model has its own σt: use '{own}' so a shared-σt change does not re-import it")
    wanted = {m.strip() for m in exp.metrics.split(",") if m.strip()}
    _check(bool(wanted) and wanted <= {"fvd", "kvd", "is"}, f"{key}.metrics", "a subset of fvd,kvd,is")
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
    _require_dvc_keys(data)
    return validate(_build(Params, data, ""), check_profile_file=check_profile_file)


# dvc.yaml names these keys of every experiment (as params and in ${item...} interpolation), so they must
# be written out even where the schema has a default.
DVC_EXPERIMENT_KEYS = ("clips", "store", "sigma_t_param", "set")


def _require_dvc_keys(data: dict[str, Any]) -> None:
    experiments = data.get("experiments")
    if not isinstance(experiments, dict):
        return
    for name, exp in experiments.items():
        missing = [k for k in DVC_EXPERIMENT_KEYS if not isinstance(exp, dict) or k not in exp]
        _check(not missing, f"experiments.{name}.{missing[0] if missing else ''}",
               "required (dvc.yaml depends on it; write the default explicitly, e.g. set: {})")


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
