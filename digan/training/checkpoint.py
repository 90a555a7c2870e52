"""Atomic checkpoints.

A checkpoint is a plain dict of state dicts and tensors (loaded with ``weights_only=True``, so it
runs no code). It is written to a temporary file in the same directory, fsynced and renamed over
the previous one, so a crash at any moment leaves either the old or the new checkpoint, never a
partial file.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from digan.atomic import atomic_write


def save_atomic(obj: Any, path: str | Path) -> None:
    with atomic_write(path) as f:
        torch.save(obj, f)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    return torch.load(path, map_location=map_location, weights_only=True)
