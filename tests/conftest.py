import os
from pathlib import Path

import pytest
import torch

from modularity.data import root as data_root_module
from modularity.data.prepare import prepare

REPO = Path(__file__).resolve().parents[1]
USER_DATA_ROOT = os.environ.get("MODULARITY_DATA") or data_root_module.DEFAULT  # before any test patches it

# Small tensors: one thread avoids OpenMP spin contention with anything else on a 2-core machine.
torch.set_num_threads(1)
if os.environ.get("PYTEST_XDIST_WORKER"):
    # Parallel workers share the cores: processes they start (notebook kernels) default to one thread too,
    # where OpenMP threads spinning against each other's would make every smoke run several times slower.
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")


@pytest.fixture
def data_root(tmp_path, monkeypatch):
    """A fresh, empty data root for the test."""
    root = tmp_path / "data_root"
    root.mkdir()
    monkeypatch.setenv("MODULARITY_DATA", str(root))
    return root


def dataset_source() -> Path | None:
    """Where a test can link real datasets from: $MODULARITY_DATA_SOURCE, ../shared/data, or the user's own
    prepared data root."""
    candidates = [os.environ.get("MODULARITY_DATA_SOURCE"), REPO.parent / "shared" / "data",
                  USER_DATA_ROOT]
    for candidate in candidates:
        if candidate and (Path(candidate) / "mnist").is_dir():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def shared_derived_data(tmp_path_factory):
    """Decoded images and generated problems, made once per test session and shared by every data root."""
    return tmp_path_factory.mktemp("derived")


@pytest.fixture
def data_root_with_datasets(data_root, shared_derived_data):
    """A fresh data root with the real datasets linked in (skips when no copy is available). Derived data
    (decoded CIFAR-10, generated Mathematics problems) is shared across tests: it only depends on the data."""
    source = dataset_source()
    if source is None:
        pytest.skip("no dataset copy: set MODULARITY_DATA_SOURCE or run `python -m modularity data prepare`")
    prepare(source)
    for derived in ("cache/decoded", "dm_math"):
        target = shared_derived_data / derived
        target.mkdir(parents=True, exist_ok=True)
        (data_root / derived).parent.mkdir(parents=True, exist_ok=True)
        (data_root / derived).symlink_to(target, target_is_directory=True)
    return data_root


@pytest.fixture
def notebook_project(tmp_path, monkeypatch, data_root):
    """A throwaway project for runner tests: ``make(notebooks, presets)`` writes the notebooks (name → source)
    and the presets YAML, and points the runner at them, at a book/runs and a runs_local of its own."""
    from modularity import runner

    def make(notebooks: dict[str, str], presets: str):
        folder = tmp_path / "notebooks"
        folder.mkdir()
        for name, source in notebooks.items():
            (folder / f"{name}.py").write_text(source)
        (folder / "presets.yaml").write_text(presets)
        monkeypatch.setattr(runner, "NOTEBOOKS", folder)
        monkeypatch.setattr(runner, "PRESETS_FILE", folder / "presets.yaml")
        monkeypatch.setattr(runner, "RUNS", tmp_path / "book" / "runs")
        monkeypatch.setattr(runner, "LOCAL_RUNS", tmp_path / "runs_local")
        monkeypatch.setattr(runner, "REPO", tmp_path)
        return tmp_path

    return make


def pytest_configure(config):
    os.environ.setdefault("MODULARITY_PROGRESS", "0")
