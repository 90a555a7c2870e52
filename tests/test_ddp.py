"""DDP (2 gloo processes) computes the same training as one process on the combined batch."""
import torch

from digan.config import config_from_dict
from digan.models.generator import Generator
from tests.helpers import assert_same_parameters, load_state, run_train, tiny_config, write_config


def test_two_process_gloo_ddp_matches_single_process(tmp_path):
    config = write_config(tmp_path, tiny_config(tmp_path / "data" / "clips", steps=5))
    run_train(config, tmp_path / "single")
    run_train(config, tmp_path / "ddp", "--nproc", "2")
    single, ddp = load_state(tmp_path / "single"), load_state(tmp_path / "ddp")
    assert single["step"] == ddp["step"] == 5
    assert_same_parameters(single, ddp)
    # the comparison is between trained models, not two copies of the initialisation
    torch.manual_seed(0)
    initial = Generator(config_from_dict(single["config"]).generator).state_dict()
    moved = [not torch.allclose(initial[k], single["G"][k]) for k in initial]
    assert sum(moved) > len(moved) // 2
