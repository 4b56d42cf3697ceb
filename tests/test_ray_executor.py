"""The Ray executor against the local one: the same notebook at smoke, the same numbers and results."""

import json

import pytest
import torch

from modularity import cache, runner
from modularity.parameters import ParameterError


def _fibonacci(n):
    return [1, 1, 2, 3, 5, 8][n]


def test_a_unit_binds_a_module_level_function_and_its_arguments():
    unit = cache.Unit("ns", {"a": 1}, 4, _fibonacci, (4,))
    assert unit.compute() == 5
    for bad in (lambda: 1, (lambda: (lambda: 2))()):
        with pytest.raises(TypeError, match="module-level function"):
            cache.Unit("ns", {}, 0, bad)


def test_cached_many_keeps_order_and_stores_each_unit(data_root):
    units = [cache.Unit("fib", {"n": n}, n, _fibonacci, (n,)) for n in (5, 2, 4)]
    assert cache.cached_many(units) == [8, 2, 5]
    assert all(unit.path().exists() for unit in units)


@pytest.mark.parametrize("kwargs", [dict(name="dask"), dict(name="local", workers=2),
                                    dict(name="ray", address="auto", workers=2), dict(name="ray", task_cpus=0)])
def test_executor_options_are_validated(kwargs):
    with pytest.raises(ParameterError):
        runner.Executor(**kwargs)


def test_a_smoke_run_on_ray_with_two_workers_equals_the_local_one(tmp_path, monkeypatch, data_root):
    pytest.importorskip("ray")
    # runs_local of its own: the notebook test may run add_mul at smoke at the same time on another worker (-n)
    monkeypatch.setattr(runner, "LOCAL_RUNS", tmp_path / "runs_local")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # both executors compute with one thread per unit
    local = runner.execute("add_mul", "smoke", progress=False)
    local_manifest = json.loads(local.manifest.read_text())
    # A second, empty cache: every unit must be computed by a Ray worker, none read from the first run.
    monkeypatch.setenv("MODULARITY_DATA", str(tmp_path / "second_root"))
    (tmp_path / "second_root").mkdir()
    on_ray = runner.execute("add_mul", "smoke", progress=False, executor=runner.Executor("ray", workers=2))
    ray_manifest = json.loads(on_ray.manifest.read_text())
    n_units = len(local_manifest["identity"]["results_files"])
    assert ray_manifest["executor"] == {"name": "ray", "address": "local instance", "task_cpus": 1,
                                        "units_computed": n_units, "workers": 2}
    assert local_manifest["executor"] == {"name": "local"}
    assert ray_manifest["metrics"] == local_manifest["metrics"]
    assert ray_manifest["identity"]["results_files"] == local_manifest["identity"]["results_files"]
    assert ray_manifest["identity"]["results"]["code"] == local_manifest["identity"]["results"]["code"]
    assert len(list((tmp_path / "second_root" / "cache" / "add_mul").glob("*/seed*.pt"))) == n_units
    for manifest in (local_manifest, ray_manifest):  # each computed every unit itself, and timed it
        units = manifest["units"]
        assert units["count"] == units["computed_here"] == units["timed"] == n_units and units["core_s"] >= 0


def test_data_arguments_go_to_the_object_store_once():
    from modularity import ray_executor

    class FakeRay:
        def __init__(self):
            self.puts = []

        def put(self, value):
            self.puts.append(value)
            return f"ref{len(self.puts)}"

    fake, refs = FakeRay(), {}
    data = (torch.zeros(3), torch.ones(2))
    units = [cache.Unit("ns", {}, seed, _fibonacci, (seed, data), {"table": {"w": torch.eye(2)} if seed else 7})
             for seed in range(3)]
    sent = [ray_executor._sent_once(unit, fake, refs) for unit in units]
    assert [u.args for u in sent] == [(0, "ref1"), (1, "ref1"), (2, "ref1")]
    assert sent[0].kwargs == {"table": 7} and {u.kwargs["table"] for u in sent[1:]} == {"ref2", "ref3"}
    assert len(fake.puts) == 3 and fake.puts[0] is data


def test_the_command_line_refuses_ray_options_without_ray(capsys):
    from modularity.__main__ import main

    assert main(["run", "add_mul", "--preset", "smoke", "--workers", "2"]) == 2
    assert "--executor ray" in capsys.readouterr().err
