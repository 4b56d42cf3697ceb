"""The training loop resumes exactly from a checkpoint; the per-seed cache computes each seed once."""

import pytest
import torch

from modularity import cache
from modularity.train import BatchIndices, fit


def make_problem():
    torch.manual_seed(0)
    w = torch.zeros(3, requires_grad=True)
    x = torch.randn(64, 3)
    y = x @ torch.tensor([1.0, -2.0, 0.5])
    draw = BatchIndices(64, 8, seed=7)

    def loss_at(step):
        index = draw(step)
        return ((x[index] @ w - y[index]) ** 2).mean()

    return w, loss_at


def test_interrupted_fit_resumes_to_the_same_result(tmp_path):
    w_full, loss_full = make_problem()
    fit([w_full], loss_full, 20, lr=0.1, progress=False)

    w, loss_at = make_problem()
    checkpoint = tmp_path / "run.ckpt"

    def crashing(step):
        if step == 13:
            raise KeyboardInterrupt
        return loss_at(step)

    with pytest.raises(KeyboardInterrupt):
        fit([w], crashing, 20, lr=0.1, checkpoint=checkpoint, checkpoint_every=5, progress=False)
    assert checkpoint.exists()
    w_resumed, loss_resumed = make_problem()
    losses = fit([w_resumed], loss_resumed, 20, lr=0.1, checkpoint=checkpoint, checkpoint_every=5, progress=False)
    assert len(losses) == 20
    assert torch.equal(w_resumed, w_full)
    assert not checkpoint.exists()


def test_batches_depend_only_on_seed_and_step():
    a, b = BatchIndices(100, 5, seed=1), BatchIndices(100, 5, seed=1)
    b(3)
    assert torch.equal(a(4), b(4)) and not torch.equal(a(4), a(5))


def test_cached_computes_each_seed_once(data_root):
    calls = []

    def compute():
        calls.append(1)
        return {"value": torch.tensor(len(calls))}

    first = cache.cached("demo", {"p": 1}, 0, compute)
    again = cache.cached("demo", {"p": 1}, 0, compute)
    other = cache.cached("demo", {"p": 2}, 0, compute)
    assert len(calls) == 2 and first["value"] == again["value"] == 1 and other["value"] == 2


def test_a_run_made_in_parts_counts_its_units_and_what_they_cost(data_root, tmp_path, monkeypatch):
    import json

    from modularity import provenance

    monkeypatch.setenv(provenance.ENV, str(tmp_path / "provenance.json"))
    monkeypatch.setattr(cache, "_computed_here", set())
    torch.set_num_threads(1)
    cache.cached("demo", {"p": 1}, 0, lambda: torch.zeros(1))  # the first part computes seed 0, then stops
    path = cache.cache_path("demo", {"p": 1}, 0)
    assert json.loads((path.parent / (path.name + ".cost.json")).read_text())["threads"] == 1
    assert cache.core_seconds(path) is not None and cache.core_seconds(path.with_name("absent.pt")) is None
    monkeypatch.setattr(cache, "_computed_here", set())  # a new process: the last part
    (tmp_path / "provenance.json").unlink()
    for seed in (0, 1):
        cache.cached("demo", {"p": 1}, seed, lambda: torch.zeros(1))
    units = provenance.current("run")["units"]
    assert units["count"] == 2 and units["computed_here"] == 1 and units["timed"] == 2
    assert units["core_s"] == pytest.approx(cache.core_seconds(path) + cache.core_seconds(
        cache.cache_path("demo", {"p": 1}, 1)), abs=0.2)
    cache.cached("demo", {"p": 1, "kind": "vgg"}, 0, lambda: torch.zeros(1))
    by_label = provenance.current("run")["units"]["by_label"]
    assert set(by_label) == {"demo", "demo (vgg)"} and by_label["demo"]["count"] == 2
    assert by_label["demo (vgg)"]["count"] == 1
    assert sum(v["core_s"] for v in by_label.values()) == pytest.approx(provenance.current("run")["units"]["core_s"],
                                                                          abs=0.2)


def test_a_unit_resumed_from_its_finished_stages_counts_what_they_cost(data_root, tmp_path, monkeypatch):
    from modularity import costs, provenance

    monkeypatch.setenv(provenance.ENV, str(tmp_path / "provenance.json"))
    monkeypatch.setattr(cache, "_computed_here", set())
    clock = [0.0]  # CPU seconds, advanced by hand
    monkeypatch.setattr(cache.time, "process_time", lambda: clock[0])
    store = cache.SeedStore("staged", {"p": 1}, 0)

    def stage(name, seconds):
        if store.load(name) is None:
            clock[0] += seconds
            store.save(name, {"stage": name})

    def run_seed(stop_after_first):
        stage("a", 3600.0)
        if stop_after_first:
            raise KeyboardInterrupt
        stage("b", 1800.0)
        return torch.zeros(1)

    with pytest.raises(KeyboardInterrupt):  # the first sitting finishes stage a, then stops
        cache.cached("staged_result", {"p": 1}, 0, lambda: run_seed(True))
    assert cache.core_seconds(store.folder / f"{store.stem}.a.done") == 3600.0
    monkeypatch.setattr(cache, "_computed_here", set())  # the next sitting computes the unit, reading stage a
    cache.cached("staged_result", {"p": 1}, 0, lambda: run_seed(False))
    assert cache.core_seconds(cache.cache_path("staged_result", {"p": 1}, 0)) == 5400.0
    units = provenance.current("run")["units"]
    assert units["computed_here"] == units["count"] == 1 and units["reused_stages"] == 1
    manifest = {"wall_time_s": 1800, "executor": {"name": "local"}, "units": units}
    assert costs.made_in_parts(manifest) == ("made in parts: 1 finished stage of the units it computed read from "
                                             "the per-seed cache; all units took 1.5 core-hours")
    assert costs.core_hours(manifest) == pytest.approx(1.5)  # not the last sitting's half hour

    cache.SeedStore("staged", {"p": 2}, 0).save("a", {"stage": "a"})  # saved without a lookup: its cost unknown
    unknown = cache.SeedStore("staged", {"p": 2}, 0)
    cache.cached("staged_result", {"p": 2}, 0, lambda: unknown.load("a") and torch.zeros(1))
    assert cache.core_seconds(cache.cache_path("staged_result", {"p": 2}, 0)) is None


def test_seed_store_round_trip(data_root):
    store = cache.SeedStore("demo", {"p": 1}, 3)
    assert store.load("base") is None
    store.save("base", {"x": 1})
    assert cache.SeedStore("demo", {"p": 1}, 3).load("base") == {"x": 1}


def test_code_hash_covers_the_modules_an_experiment_loads_and_nothing_else():
    import subprocess
    import sys

    script = ("import modularity.experiments.addmul\nfrom modularity import cache\n"
              "print(sorted(cache.code_files()))")
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    for used in ("experiments/addmul.py", "masking.py", "train.py", "data/arithmetic.py"):
        assert used in loaded
    for unused_or_display in ("experiments/scan.py", "data/images.py", "plots.py", "cache.py", "verdicts.py",
                              "chance.py", "stats.py", "data/prepare.py"):
        assert unused_or_display not in loaded


def test_a_scoped_store_is_keyed_by_its_experiments_import_closure_alone(data_root):
    import subprocess
    import sys

    closure = cache.scope_files("modularity.experiments.addmul")
    for used in ("experiments/addmul.py", "experiments/stages.py", "masking.py", "train.py", "data/arithmetic.py"):
        assert used in closure
    for unused_or_display in ("experiments/scan.py", "experiments/cifar.py", "data/images.py", "plots.py",
                              "cache.py", "verdicts.py"):
        assert unused_or_display not in closure

    def stems(extra_import: str) -> list[str]:
        script = (f"import modularity.experiments.addmul\n{extra_import}\nfrom modularity import cache\n"
                  "print(cache.SeedStore('x', {'p': 1}, 0, scope='modularity.experiments.addmul').stem)\n"
                  "print(cache.SeedStore('x', {'p': 1}, 0).stem)")
        return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              check=True).stdout.split()

    alone, with_scan = stems(""), stems("import modularity.experiments.scan")
    assert alone[0] == with_scan[0]  # another notebook's modules leave a scoped entry where it is
    assert alone[1] != with_scan[1]  # an unscoped entry is keyed by everything the notebook loaded


def test_trained_networks_are_keyed_by_training_code_alone():
    """An edit to the clustering, lesion or importance code must not throw away a paper run's trained networks."""
    closure = cache.scope_files("modularity.experiments.networks")
    for used in ("experiments/networks.py", "train.py", "pruning.py", "clusterable_init.py", "cluster_gradient.py",
                 "models/mlp.py", "models/cnn.py", "models/vgg.py", "data/generated.py"):
        assert used in closure
    for measurement in ("clustering.py", "kmeans.py", "lesions.py", "experiments/clusterability.py",
                        "experiments/importance.py", "experiments/channel_importance.py"):
        assert measurement not in closure
