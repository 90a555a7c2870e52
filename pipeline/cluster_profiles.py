"""Cluster profiles: slurm/profiles/<name>.yaml (partition, account, GPUs, tasks per node, ...).

Kept apart from :mod:`pipeline.launch` so that checking params (every stage does) needs neither
submitit nor the training code.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

PROFILE_DIR = Path(__file__).resolve().parents[1] / "slurm" / "profiles"
PROFILE_KEYS = ("partition", "account", "gpus_per_node", "nodes", "tasks_per_node", "cpus_per_task", "mem_gb",
                "timeout_min", "constraint", "qos")


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
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ProfileError(f"cluster profile {path} must be a mapping of {list(PROFILE_KEYS)}")
    unknown = sorted(set(data) - set(PROFILE_KEYS))
    if unknown:
        raise ProfileError(f"cluster profile {path}: unknown key(s) {unknown}; allowed: {list(PROFILE_KEYS)}")
    return {k: v for k, v in data.items() if v not in (None, "")}
