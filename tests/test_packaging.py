"""A built wheel is a working install: notebooks and presets inside, a console command, a typed public API."""

import importlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PUBLIC_MODULES = ("masking", "mask_algebra", "clustering", "tracing", "lesions", "prune_interop", "chance", "verdicts",
                  "train", "pruning", "cache", "alignment", "double_lesion", "clusterable_init", "data.generated",
                  "data.download", "tables")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    import setuptools
    from packaging.version import Version

    out = tmp_path_factory.mktemp("wheel")
    command = [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(out)]
    if Version(setuptools.__version__) >= Version("77"):
        command.append("--no-build-isolation")  # this environment can build it: no download
    subprocess.run(command, check=True, capture_output=True, text=True)
    return next(out.glob("modularity-*.whl"))


def test_the_wheel_ships_notebooks_presets_types_and_a_console_command(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    notebooks = {Path(n).name for n in names if n.startswith("modularity/notebooks/")}
    assert {p.name for p in (REPO / "notebooks").glob("*.py")} | {"presets.yaml"} <= notebooks
    assert "modularity/py.typed" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "modularity = modularity.__main__:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_the_installed_wheel_lists_and_runs_its_notebooks_outside_the_checkout(wheel, tmp_path):
    target, work = tmp_path / "site", tmp_path / "work"
    work.mkdir()
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    env = dict(os.environ, PYTHONPATH=str(target), MODULARITY_PROGRESS="0")

    def modularity(*args):
        return subprocess.run([sys.executable, "-m", "modularity", *args], cwd=work, env=env, capture_output=True,
                              text=True)

    listing = modularity("list")
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.splitlines()[0].split()[:3] == ["notebook", "preset", "state"]
    assert "add_mul" in listing.stdout and "clusterability" in listing.stdout
    no_preset = modularity("run", "add_mul")
    assert no_preset.returncode == 2 and "smoke" in no_preset.stderr and "cpu" in no_preset.stderr
    smoke = modularity("run", "sharing_vs_size", "--preset", "smoke")
    assert smoke.returncode == 0, smoke.stderr[-2000:]
    assert (work / "runs_local" / "sharing_vs_size" / "smoke.ipynb").is_file()
    assert not (target / "book").exists()  # nothing is written inside the installed package


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_every_public_module_declares_what_it_exports(module):
    imported = importlib.import_module(f"modularity.{module}")
    assert imported.__all__ and all(hasattr(imported, name) for name in imported.__all__)
