"""DDP (2 gloo processes) computes the same training as one process on the combined batch, and its
ranks stop together."""
import json
import os
import signal
import socket
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from digan.config import config_from_dict
from digan.models.generator import Generator
from digan.train import prepare_data
from digan.training.loop import Trainer, TrainingInterrupted
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


def _signal_one_rank(rank: int, port: int, cfg_data: dict, out: str) -> None:
    """A 2-process gloo training in which only rank 1 receives SIGTERM, after step 2."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    trainer = Trainer(config_from_dict(cfg_data), out, rank=rank, world_size=2)

    def on_step(step: int, _stats: dict) -> None:
        if rank == 1 and step == 2:
            trainer._on_signal(signal.SIGTERM, None)

    try:
        trainer.run(on_step=on_step)
        outcome = "finished"
    except TrainingInterrupted:
        outcome = "interrupted"
    finally:
        dist.destroy_process_group()
    (Path(out) / f"rank{rank}.json").write_text(json.dumps({"step": trainer.step, "outcome": outcome}))


def test_a_signal_to_one_rank_stops_every_rank_at_the_same_step(tmp_path):
    """Preemption reaches the ranks at different moments; they agree on the step to stop after, so no
    rank waits in the checkpoint barrier while another runs the next all-reduce (a hang, never requeued)."""
    cfg = tiny_config(tmp_path / "data" / "clips", steps=6, checkpoint_every=100)
    prepare_data(config_from_dict(cfg))
    (tmp_path / "run").mkdir()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    context = mp.start_processes(_signal_one_rank, args=(port, cfg, str(tmp_path / "run")), nprocs=2,
                                 join=False, start_method="spawn")
    deadline = time.monotonic() + 240
    while not context.join(timeout=5):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail("the ranks did not stop together: training hung")
    outcomes = [json.loads((tmp_path / "run" / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert outcomes == [{"step": 2, "outcome": "interrupted"}] * 2
    assert load_state(tmp_path / "run")["step"] == 2  # rank 0 wrote the checkpoint of the agreed step
