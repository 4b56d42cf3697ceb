"""environment.yml repeats pyproject's pinned ranges exactly, and the lock satisfies them."""

import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent


def pyproject_pins() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = set(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        pins |= set(extra)
    return pins


def test_environment_yml_matches_pyproject():
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip_entries = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert set(pip_entries) - {"-e ."} == pyproject_pins()


def test_lock_pins_every_direct_dependency_inside_its_range():
    from packaging.requirements import Requirement
    from packaging.version import Version

    locked = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            locked[name.lower().replace("_", "-")] = Version(version)
    for pin in pyproject_pins():
        requirement = Requirement(pin)
        name = requirement.name.lower().replace("_", "-")
        assert name in locked, f"{name} is not in requirements.lock"
        assert requirement.specifier.contains(locked[name], prereleases=True), f"{name} {locked[name]} ∉ {pin}"
