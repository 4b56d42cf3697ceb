"""A run made in parts keeps its finished units beside where it will be published, so it survives a new machine
whose per-seed cache is empty; publishing it removes them."""

import json
import warnings

import pytest
import torch

from modularity import cache, provenance, readme, runner
from modularity.__main__ import main

NOTEBOOK = '''# %% tags=["parameters"]
seeds: int = 3  # how many seeds

# %%
import os
import torch
from modularity import cache
from modularity.glue import glue


def seed_value(seed):
    if os.environ.get("STOP_AT_SEED") == str(seed):
        raise RuntimeError(f"stopped at seed {seed}")
    with open(os.environ["COMPUTED_LOG"], "a") as log:
        log.write(f"{seed}\\n")
    torch.manual_seed(seed)
    return torch.randn(4)


values = [cache.cached("parts_demo", {"n": 4}, seed, lambda seed=seed: seed_value(seed)) for seed in range(seeds)]
glue("total", round(float(sum(v.sum() for v in values)), 6))
'''


@pytest.fixture
def demo(notebook_project, tmp_path, monkeypatch):
    project = notebook_project({"demo": NOTEBOOK}, "demo:\n  smoke: {seeds: 1}\n  cpu: {}\n")
    log = tmp_path / "computed.log"
    monkeypatch.setenv("COMPUTED_LOG", str(log))
    return project, log


def computed(log) -> list[int]:
    return [int(line) for line in log.read_text().split()] if log.exists() else []


def test_a_run_interrupted_on_one_machine_finishes_on_another_from_its_parts(demo, monkeypatch, tmp_path):
    project, log = demo
    monkeypatch.setenv("STOP_AT_SEED", "2")
    assert main(["run", "demo", "--preset", "cpu"]) == 1
    parts = project / "book" / "runs" / "demo" / "cpu.parts" / "parts_demo"
    assert sorted(p.name.split("-")[0] for p in parts.glob("*.pt.gz")) == ["seed0", "seed1"]
    assert len(list(parts.glob("*.cost.json"))) == 2  # what they cost travels with them

    assert runner.status("demo", "cpu") == ("missing", "missing; 2 finished units kept in cpu.parts")
    count, hours = runner.kept_parts("demo", "cpu")
    assert count == 2 and hours >= 0.0
    assert readme._runtime(None, "missing", "≈ 1 min", (2, 0.25)) == (
        "not run; ≈ 1 min; in progress: 2 finished units kept in its `.parts` folder (0.2 core-hours)")
    monkeypatch.delenv("STOP_AT_SEED")
    new_machine = tmp_path / "new_data_root"
    new_machine.mkdir()
    monkeypatch.setenv("MODULARITY_DATA", str(new_machine))  # an empty cache: only the parts remain
    assert main(["run", "demo", "--preset", "cpu"]) == 0
    assert computed(log) == [0, 1, 2]  # seeds 0 and 1 were not computed again
    manifest = json.loads((project / "book" / "runs" / "demo" / "cpu.json").read_text())
    assert manifest["units"]["count"] == 3 and manifest["units"]["computed_here"] == 1
    assert manifest["units"]["timed"] == 3
    assert not parts.parent.exists(), "publishing leaves the parts behind"

    expected = round(float(sum(torch.manual_seed(s) and torch.randn(4).sum() for s in range(3))), 6)
    assert manifest["metrics"] == {"total": expected}  # the same numbers as a run made at once


def test_runs_that_are_not_published_keep_no_parts(demo):
    project, _ = demo
    assert main(["run", "demo", "--preset", "cpu", "-p", "seeds", "2"]) == 0
    assert main(["run", "demo", "--preset", "smoke"]) == 0
    assert not list(project.rglob("*.parts"))


def test_a_damaged_part_is_recomputed_not_used(data_root, tmp_path, monkeypatch):
    monkeypatch.setenv(cache.PARTS_ENV, str(tmp_path / "parts"))
    monkeypatch.setenv(provenance.ENV, str(tmp_path / "provenance.json"))
    cache.cached("demo", {"p": 1}, 0, lambda: torch.ones(2))
    path = cache.cache_path("demo", {"p": 1}, 0)
    part = tmp_path / "parts" / "demo" / (path.stem + ".pt.gz")
    assert part.exists() and cache.Unit("demo", {"p": 1}, 0, torch.zeros).available()

    path.unlink()  # a new machine ...
    part.write_bytes(part.read_bytes()[:-3])  # ... and a part damaged on the way
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = cache.cached("demo", {"p": 1}, 0, lambda: torch.full((2,), 7.0))
    assert torch.equal(value, torch.full((2,), 7.0))
    assert any("run part" in str(w.message) and "checksum" in str(w.message) for w in caught)
    assert part.exists()  # kept again, from the recomputed unit


def test_a_part_made_by_other_code_is_not_read(data_root, tmp_path, monkeypatch):
    monkeypatch.setenv(cache.PARTS_ENV, str(tmp_path / "parts"))
    cache.cached("demo", {"p": 1}, 0, lambda: torch.ones(2))
    cache.cache_path("demo", {"p": 1}, 0).unlink()
    monkeypatch.setattr(cache, "code_hash", lambda scope=None: "other code")
    assert torch.equal(cache.cached("demo", {"p": 1}, 0, lambda: torch.zeros(2)), torch.zeros(2))


def test_on_ray_units_are_kept_as_they_arrive_and_earlier_ones_before_the_wait(data_root, tmp_path, monkeypatch):
    from modularity import ray_executor

    parts = tmp_path / "parts"
    units = [cache.Unit("demo", {"p": 1}, seed, torch.full, ((2,), float(seed))) for seed in range(3)]
    cache.save_checked(units[0].path(), torch.zeros(2))  # finished by a sitting that kept no parts
    monkeypatch.setenv(cache.PARTS_ENV, str(parts))
    monkeypatch.setenv(cache.EXECUTOR_ENV, "ray")

    def interrupted_after_one(missing):
        assert [u.seed for u in missing] == [1, 2]
        yield missing[0], missing[0].compute(), {"threads": 1, "seconds": 1.0, "cpu_seconds": 1.0}
        raise KeyboardInterrupt

    monkeypatch.setattr(ray_executor, "compute", interrupted_after_one)
    with pytest.raises(KeyboardInterrupt):
        cache.cached_many(units)
    kept = sorted(p.name.split("-")[0] for p in (parts / "demo").glob("*.pt.gz"))
    assert kept == ["seed0", "seed1"]
