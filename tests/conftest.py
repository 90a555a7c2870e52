from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from digan.config import GeneratorConfig
from tests.http_server import FileServer


@pytest.fixture
def tiny_generator_config() -> GeneratorConfig:
    """A small generator with the paper's structure: one embedding at 8², new levels at 16 and 32."""
    return GeneratorConfig(resolution=32, input_resolution=8, z_dim=16, w_dim=16, motion_z_dim=16,
                           channel_base=256, channel_max=16, fmm_rank=3, embedding_size=8, extra_conv_from=32)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def one_thread() -> Iterator[None]:
    """One intra-op thread: on a shared 2-core machine two threads oversubscribe and run ~10× slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FileServer]:
    """A local HTTP file server (Range support, fault switches) on 127.0.0.1, stopped after the test."""
    root = tmp_path / "served"
    root.mkdir()
    srv = FileServer(root)
    yield srv
    srv.stop()
