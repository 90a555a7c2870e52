"""Cluster profiles: slurm/profiles/<name>.yaml (partition, account, GPUs, tasks per node, ...).

Kept apart from :mod:`pipeline.launch` so that checking params (every stage does) needs neither
submitit nor the training code.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import Field

from digan.schema import ConfigError, Schema, parse

PROFILE_DIR = Path(__file__).resolve().parents[1] / "slurm" / "profiles"
Count = Annotated[int, Field(ge=1)] | None


class ClusterProfile(Schema):
    """The sbatch settings of one cluster; an empty entry (``account:``) leaves Slurm's default."""

    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    nodes: Count = None
    gpus_per_node: Annotated[int, Field(ge=0)] | None = None
    tasks_per_node: Count = None  # DDP processes per node
    cpus_per_task: Count = None
    mem_gb: Count = None
    timeout_min: Count = None
    # How many times a job that reaches timeout_min is checkpointed and requeued (submitit's
    # max_num_timeout, 3 by default there); preemptions are requeued without limit. None: the launcher's
    # default, enough for the paper's runs.
    requeue_limit: Annotated[int, Field(ge=0)] | None = None


class ProfileError(ValueError):
    """A cluster profile is missing or malformed; raised before anything is submitted."""


def load_profile(name_or_path: str | Path) -> dict[str, Any]:
    """A profile by name (``slurm/profiles/<name>.yaml``) or path, with empty entries dropped."""
    path = Path(name_or_path)
    if not path.is_file():
        named = PROFILE_DIR / f"{name_or_path}.yaml"
        if not named.is_file():
            known = sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))
            raise ProfileError(f"no cluster profile {str(name_or_path)!r}: neither a file nor one of {known} "
                               f"in {PROFILE_DIR}")
        path = named
    data = yaml.safe_load(path.read_text())
    try:
        profile = parse(ClusterProfile, {k: v for k, v in (data or {}).items() if v != ""}
                        if isinstance(data, dict) else data)
    except ConfigError as e:
        raise ProfileError(f"cluster profile {path}: {e}") from None
    return profile.model_dump(exclude_none=True)
