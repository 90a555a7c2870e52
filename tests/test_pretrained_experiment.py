"""An experiment declared from a released checkpoint is imported (checksummed), not trained, and
evaluated like any other; a run it replaces is kept, never deleted."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from digan.config import ConfigError, load_config
from digan.download import sha256_file
from digan.generate import load_generator
from digan.models.discriminator import VideoDiscriminators
from digan.models.generator import Generator
from pipeline.params import load_params
from tests.helpers import REPO, tiny_config, train_env

RELEASED = {"clips": "synthetic", "store": "clips", "label": "DIGAN (released)", "tables": [1],
            "analyses": ["quality"], "sigma_t_param": "experiments.released.sigma_t", "sigma_t": 0.25, "set": {}}


def _checkpoint(path: Path) -> Path:
    tiny = tiny_config(path.parent / "clips")
    cfg = load_config(None, [f"{section}.{key}={value}" for section in ("generator", "discriminator")
                             for key, value in tiny[section].items()])
    torch.manual_seed(3)
    G = Generator(cfg.generator)
    D = VideoDiscriminators(cfg.discriminator, cfg.generator.resolution)
    torch.save({"config": cfg.to_dict(), "step": 1000, "G": G.state_dict(), "G_ema": G.state_dict(),
                "D": D.state_dict()}, path)
    return path


def _params(tmp_path: Path, **pretrained) -> Path:
    data = yaml.safe_load((REPO / "params.yaml").read_text())
    data["experiments"]["released"] = {**RELEASED, "pretrained": pretrained}
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _train(tmp_path: Path, params: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.train", "released", "--params", str(params)],
                          cwd=tmp_path, capture_output=True, text=True, env={**train_env(1), "PYTHONPATH": str(REPO)})


@pytest.mark.parametrize("pretrained, set_, key", [
    ({"path": "x.ckpt"}, {}, "experiments.released.pretrained.path"),
    ({"path": "x.pkl", "sha256": "abc"}, {}, "experiments.released.pretrained.sha256"),
    ({"path": "x.pkl"}, {"train.steps": 3}, "experiments.released.set"),
])
def test_bad_pretrained_experiments_name_the_key(tmp_path, pretrained, set_, key):
    path = _params(tmp_path, **pretrained)
    data = yaml.safe_load(path.read_text())
    data["experiments"]["released"]["set"] = set_
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=key):
        load_params(path)


def test_pretrained_checkpoint_is_checksummed_imported_and_never_replaces_a_run(tmp_path):
    source = _checkpoint(tmp_path / "released.pt")
    digest = sha256_file(source)
    wrong = _train(tmp_path, _params(tmp_path, path=str(source), sha256="0" * 64))
    assert wrong.returncode == 2 and digest in wrong.stderr and not (tmp_path / "runs/released").exists()

    old_run = tmp_path / "runs" / "released"
    old_run.mkdir(parents=True)
    (old_run / "checkpoint.pt").write_bytes(b"days of training")
    done = _train(tmp_path, _params(tmp_path, path=str(source), sha256=digest))
    assert done.returncode == 0, done.stderr
    kept = [p for p in (tmp_path / "runs").iterdir() if p.name.startswith("released.replaced-")]
    assert len(kept) == 1 and (kept[0] / "checkpoint.pt").read_bytes() == b"days of training"
    assert "kept at" in done.stdout

    imported = old_run / "checkpoint.pt"
    G, reference = load_generator(imported), load_generator(source)
    z, zm, t = torch.randn(2, G.cfg.z_dim), torch.randn(2, G.cfg.motion_z_dim), torch.linspace(0, 2, 5)
    assert torch.equal(G(z, zm, t), reference(z, zm, t))  # t > 1 too
    assert torch.load(imported, weights_only=True)["source"]["sha256"] == digest
    assert (tmp_path / "curves" / "released.csv").read_text() == "step\n"

    before = imported.stat().st_mtime_ns
    again = _train(tmp_path, _params(tmp_path, path=str(source), sha256=digest))
    assert again.returncode == 0 and imported.stat().st_mtime_ns == before  # nothing to do
    assert len(list((tmp_path / "runs").iterdir())) == 2


def test_missing_pretrained_file_says_where_to_put_it(tmp_path):
    proc = _train(tmp_path, _params(tmp_path, path=str(tmp_path / "ucf101.pkl")))
    assert proc.returncode == 2 and "no file at" in proc.stderr and "official README" in proc.stderr
