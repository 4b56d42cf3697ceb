"""Bad inputs get one clear error before any work starts, naming the value and what is allowed
(the reliability issue's rows, one test each where the fix lives in the runner or the parameters)."""

import json
import os
from pathlib import Path

import pytest
import torch

from modularity import runner
from modularity.__main__ import main
from modularity.parameters import ParameterError, declared_parameters, load_presets, resolve


def cli(capsys, *args):
    code = main(list(args))
    return code, capsys.readouterr().err.strip()


@pytest.mark.parametrize("notebook, args, message", [
    # row 5: values that would give "results" from untrained networks or masks
    ("add_mul", ["-p", "fnn_base_steps", "-5"], "'fnn_base_steps' must be at least 1"),
    ("add_mul", ["-p", "mask_steps", "0"], "'mask_steps' must be at least 1"),
    ("add_mul", ["-p", "fnn_hidden", "[0]"], "'fnn_hidden' must be at least 1"),
    # row 6: values that used to fail deep inside the notebook
    ("add_mul", ["-p", "seeds", "0"], "'seeds' must be at least 1"),
    ("double_add", ["-p", "seeds", "-2"], "'seeds' must be at least 1"),
    ("add_mul", ["-p", "models", "[]"], "'models' must not be empty"),
    ("add_mul", ["-p", "n_mask_samples", "0"], "'n_mask_samples' must be at least 1"),
    # row 7: found only after training before
    ("add_mul", ["-p", "batch_size", "30"], "'batch_size' must be a multiple of n_mask_samples (4)"),
    ("double_add", ["-p", "models", "[fnn, gru]"], "'models' must be one of fnn, fnn_copyweight, lstm; got 'gru'"),
    ("cifar_class_removal", ["-p", "classes", "[3, 10]"], "'classes' must be at most 9"),
    ("performance", ["-p", "threads", "0"], "'threads' must be at least 1"),
    ("add_mul", ["-p", "beta", "-0.0001"], "'beta' must be at least 0"),
    ("imagenet_models", ["-p", "images", "/no/such/folder"],
     "'images' must be empty or an existing folder; '/no/such/folder' is not one"),
])
def test_meaningless_values_are_refused_before_anything_runs(capsys, tmp_path, monkeypatch, notebook, args, message):
    monkeypatch.setattr(runner, "LOCAL_RUNS", tmp_path / "runs_local")
    code, err = cli(capsys, "run", notebook, "--preset", "smoke", *args)
    assert code == 2 and message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "runs_local").exists(), "nothing may start before the parameters are checked"


def test_every_rule_of_every_notebook_is_understood():
    for name in runner.notebook_names():
        declared = declared_parameters(runner.notebook_source(name))
        for preset in runner.presets_of(name):
            runner.resolved_parameters(name, preset)  # defaults and every preset obey the rules
        assert all(p.rules for p in declared.values() if p.type != "bool"), name


def test_an_unknown_rule_is_a_clear_error():
    declared = declared_parameters('# %% tags=["parameters"]\nx: int = 1  # a count [positive please]\n')
    with pytest.raises(ParameterError, match=r"unknown rule \[positive please\]"):
        resolve(declared, {}, {})


def test_invalid_presets_yaml_names_the_file_and_line(tmp_path):  # row 9
    bad = tmp_path / "presets.yaml"
    bad.write_text("add_mul:\n  smoke: {seeds: 2\n  cpu: {}\n")
    with pytest.raises(ParameterError, match=r"presets.yaml line \d+ is not valid YAML"):
        load_presets(bad)


def test_list_with_invalid_presets_yaml_fails_naming_the_file(notebook_project, capsys):  # row 9
    project = notebook_project({"seeds": "# %% tags=[\"parameters\"]\nn: int = 1  # [at least 1]\n"},
                               "seeds:\n  smoke: {n: 1\n")
    code, err = cli(capsys, "list")
    assert code == 2 and "presets.yaml line" in err and "not valid YAML" in err
    assert project.exists()


def test_threads_zero_in_bench_is_refused(capsys):  # row 4
    code, err = cli(capsys, "bench", "--quick", "--threads", "0")
    assert code == 2 and "--threads" in err


def test_a_dead_benchmark_child_is_noticed_at_once(monkeypatch):  # row 4: no unbounded wait
    from modularity import bench

    case = bench.cases(["fnn_400_400_200"], 0.01)[0]
    monkeypatch.setattr(bench, "_run_case", _die)
    with pytest.raises(RuntimeError, match="died with exit code 3"):
        bench.run_case(case, 1, "cpu", fused_kernels=False)


def _die(*args):
    import os

    os._exit(3)


TINY = '''# %% tags=["parameters"]
n: int = 1  # a count [at least 1]

# %%
from modularity.glue import glue

glue("n", n)
'''


@pytest.fixture
def project(notebook_project):
    return notebook_project({"tiny": TINY}, "tiny:\n  smoke: {n: 1}\n  cpu: {n: 2}\n")


def test_a_second_identical_run_is_refused_with_the_first_ones_pid(project, capsys):  # row 12
    lock = project / "runs_local" / "locks" / "tiny-cpu.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text("1")  # PID 1 is always alive
    code, err = cli(capsys, "run", "tiny", "--preset", "cpu")
    assert code == 2 and "already running (PID 1)" in err
    lock.write_text("999999999")  # a run that died: its lock is taken over
    assert cli(capsys, "run", "tiny", "--preset", "cpu")[0] == 0
    assert not lock.exists(), "a finished run releases its lock"
    assert not [p for p in (project / "runs_local").iterdir() if p.name.startswith("tiny-")], "work folder left"


def test_an_unwritable_publish_folder_is_found_before_the_run(project, capsys, monkeypatch):  # row 10
    runs = project / "book" / "runs" / "tiny"
    runs.mkdir(parents=True)
    real_access = os.access
    monkeypatch.setattr(runner.os, "access",
                        lambda path, mode: False if Path(path) == runs else real_access(path, mode))
    code, err = cli(capsys, "run", "tiny", "--preset", "cpu")
    assert code == 2 and "not writable" in err and str(runs) in err
    assert not (project / "runs_local").exists() or not list((project / "runs_local").glob("tiny-*"))


def test_a_relative_data_root_reaches_the_kernel_absolute(project, capsys, monkeypatch, data_root):  # row 11
    monkeypatch.chdir(data_root.parent)
    monkeypatch.setenv("MODULARITY_DATA", data_root.name)
    (project / "notebooks" / "tiny.py").write_text(TINY + "import os\nglue('root', os.environ['MODULARITY_DATA'])\n")
    assert cli(capsys, "run", "tiny", "--preset", "cpu")[0] == 0
    manifest = json.loads((project / "book" / "runs" / "tiny" / "cpu.json").read_text())
    assert manifest["metrics"]["root"] == str(data_root.resolve())


def test_a_truncated_manifest_is_named(project, capsys):  # row 9
    assert cli(capsys, "run", "tiny", "--preset", "cpu")[0] == 0
    path = project / "book" / "runs" / "tiny" / "cpu.json"
    path.write_text(path.read_text()[:40])
    state, reason = runner.status("tiny", "cpu")
    assert state == "stale" and str(path) in reason and "damaged" in reason
    code, _ = cli(capsys, "list")
    assert code == 0


def test_papermill_run_directly_gets_the_runners_checks_in_the_first_cell(tmp_path):
    import jupytext
    import papermill

    notebook = tmp_path / "add_mul.ipynb"
    jupytext.write(jupytext.reads(runner.notebook_source("add_mul"), fmt="py:percent"), notebook)
    with pytest.raises(papermill.PapermillExecutionError) as failure:
        papermill.execute_notebook(str(notebook), str(tmp_path / "out.ipynb"), parameters={"seeds": 0},
                                   kernel_name="python3", progress_bar=False, cwd=str(runner.NOTEBOOKS))
    assert "parameter 'seeds' must be at least 1" in str(failure.value)
    executed = json.loads((tmp_path / "out.ipynb").read_text())
    failed = [c for c in executed["cells"] if c["cell_type"] == "code" and
              any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    assert "check_notebook_parameters" in "".join(failed[0]["source"]), "the error must come from the first cell"


def test_papermill_strings_are_coerced_like_the_runners_values():
    from modularity.parameters import check_notebook_parameters

    namespace = {"fnn_hidden": "[16, 16]", "seeds": 2}
    check_notebook_parameters("add_mul", namespace)
    assert namespace["fnn_hidden"] == [16, 16] and namespace["mask_steps"] == 8000
    with pytest.raises(ParameterError, match="'fnn_hidden' expects int, got 'sixteen'"):
        check_notebook_parameters("add_mul", {"fnn_hidden": "sixteen"})


def test_a_full_disk_names_the_cache_entry_and_leaves_no_partial_file(data_root, monkeypatch):  # row 10
    import errno

    from modularity import cache

    def full(self, data):
        self.open("wb").write(data[:10])  # a partial write, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(OSError, match=r"could not write the cache entry .*seed0-.*No space left on device"):
        cache.cached("full", {"a": 1}, 0, lambda: {"v": 1})
    monkeypatch.undo()
    assert not [p for p in (data_root / "cache" / "full").iterdir()], "a partial file was left behind"


def test_an_unwritable_cache_folder_is_named(data_root):  # row 10
    from modularity import cache

    (data_root / "cache").mkdir()
    (data_root / "cache" / "blocked").write_text("a file where the folder should be")
    with pytest.raises(OSError, match=r"could not write the cache entry .*blocked"):
        cache.cached("blocked", {"a": 1}, 0, lambda: {"v": 1})


@pytest.mark.parametrize("speedup, verdict", [(1.0, "no slower than the loop"), (0.999, "slower than the loop"),
                                              (2.5, "no slower than the loop")])
def test_the_small_model_verdict_at_its_boundary(speedup, verdict):
    from modularity import bench

    assert bench.against_loop(speedup) == verdict


def test_a_checkpoint_that_cannot_be_written_leaves_no_partial_file(tmp_path, monkeypatch):
    from modularity import train

    def full_disk(obj, path):
        open(path, "wb").write(b"partial")
        raise RuntimeError("[enforce fail at inline_container.cc:778] . PytorchStreamWriter failed writing file")

    monkeypatch.setattr(train.torch, "save", full_disk)
    weight = torch.zeros(3, requires_grad=True)
    optimizer = torch.optim.Adam([weight])
    with pytest.raises(OSError, match="could not write the checkpoint .*stage.pt .*free some disk space"):
        train._save_checkpoint(tmp_path / "stage.pt", [weight], optimizer, 5, [1.0])
    assert list(tmp_path.iterdir()) == []
