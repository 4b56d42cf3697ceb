import os

import pytest
import torch

# Small tensors: one thread avoids OpenMP spin contention with anything else on a 2-core machine.
torch.set_num_threads(1)


@pytest.fixture
def data_root(tmp_path, monkeypatch):
    """A fresh, empty data root for the test."""
    root = tmp_path / "data_root"
    root.mkdir()
    monkeypatch.setenv("MODULARITY_DATA", str(root))
    return root


def pytest_configure(config):
    os.environ.setdefault("MODULARITY_PROGRESS", "0")
