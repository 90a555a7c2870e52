"""Reliability contract: params are validated before work starts; a non-finite loss stops training
with a clear message and leaves the last good checkpoint untouched; checkpoints are atomic."""
import pytest
import torch

from digan.config import ConfigError, load_config
from digan.train import main as train_main
from digan.train import prepare_data
from digan.training.checkpoint import load_checkpoint, save_atomic
from digan.training.loop import NonFiniteLossError, Trainer
from tests.helpers import load_state, run_train, tiny_config, write_config


def test_unknown_key_wrong_type_and_impossible_value_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match="unknown key generator.sigma_z"):
        load_config(None, ["generator.sigma_z=1"])
    with pytest.raises(ConfigError, match="train.batch_size: expected an integer"):
        load_config(None, ["train.batch_size=big"])
    with pytest.raises(ConfigError, match="generator.sigma_t: must be positive"):
        load_config(None, ["generator.sigma_t=-0.5"])
    with pytest.raises(ConfigError, match="train.diffaug"):
        load_config(None, ["train.diffaug=color,cutout"])
    with pytest.raises(ConfigError, match="generator.resolution"):
        load_config(None, ["generator.resolution=100"])


def test_invalid_config_fails_before_any_work(tmp_path, capsys):
    out = tmp_path / "run"
    code = train_main(["--set", "generator.sigma_t=0", "--out", str(out)])
    assert code == 2
    assert "generator.sigma_t" in capsys.readouterr().err
    assert not out.exists()


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    cfg = load_config(write_config(tmp_path, tiny_config(tmp_path / "data" / "clips")))
    prepare_data(cfg)
    trainer = Trainer(cfg, tmp_path / "run")
    trainer.train_step()
    path = trainer.save_checkpoint()
    good = path.read_bytes()
    with torch.no_grad():
        trainer.G.blocks[0].layers[0].weight.fill_(float("nan"))
    with pytest.raises(NonFiniteLossError, match="non-finite generator loss .* at step 1.*last good checkpoint"):
        trainer.run()
    assert path.read_bytes() == good
    state = load_checkpoint(path)
    assert all(torch.isfinite(v).all() for v in state["G"].values())


def test_atomic_save_leaves_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "ckpt.pt"
    save_atomic({"a": torch.ones(2)}, path)

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        save_atomic({"a": Unpicklable()}, path)
    assert torch.equal(load_checkpoint(path)["a"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]


def test_resume_refuses_a_changed_model_config(tmp_path):
    cfg = load_config(write_config(tmp_path, tiny_config(tmp_path / "data" / "clips")))
    prepare_data(cfg)
    trainer = Trainer(cfg, tmp_path / "run")
    trainer.save_checkpoint()
    changed = load_config(write_config(tmp_path, tiny_config(tmp_path / "data" / "clips")),
                          ["generator.sigma_t=0.5"])
    with pytest.raises(ValueError, match="generator.sigma_t"):
        Trainer(changed, tmp_path / "run").maybe_resume()


def test_image_baseline_trains_with_the_image_discriminator_only(tmp_path):
    """generator.motion=false trains the Table 6 image INR-GAN: the motion D is never updated."""
    cfg = tiny_config(tmp_path / "data" / "clips", steps=3)
    cfg["generator"]["motion"] = False
    out = tmp_path / "run"
    run_train(write_config(tmp_path, cfg), out)
    state = load_state(out)
    before = Trainer(load_config(out.parent / "config.yaml"), tmp_path / "init").D.state_dict()
    for name, value in state["D"].items():
        if name.startswith("motion."):
            assert torch.equal(value, before[name]), name
    assert any(not torch.equal(v, before[k]) for k, v in state["D"].items() if k.startswith("image."))


def test_snapshots_hold_the_ema_generator_for_the_fvd_curve(tmp_path):
    from digan.generate import load_generator

    cfg = tiny_config(tmp_path / "data" / "clips", steps=6, snapshot_every=3)
    out = tmp_path / "run"
    run_train(write_config(tmp_path, cfg), out)
    snapshots = sorted((out / "snapshots").glob("*.pt"))
    assert [p.name for p in snapshots] == ["G_ema_step0000003.pt", "G_ema_step0000006.pt"]
    final = load_state(out)["G_ema"]
    assert all(torch.equal(v, final[k]) for k, v in load_generator(snapshots[1]).state_dict().items())
    assert not all(torch.equal(v, final[k]) for k, v in load_generator(snapshots[0]).state_dict().items())
