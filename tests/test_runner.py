"""The runner and CLI: bad input gets a one-line error and never touches a published run."""

import json

import pytest

from modularity import runner
from modularity.__main__ import main
from modularity.parameters import ParameterError, declared_parameters

TINY = '''# %% [markdown]
# # Tiny

# %% tags=["parameters"]
n: int = 3  # a count
scale: float = 1.0  # a scale
fail: bool = False  # raise on purpose

# %%
from modularity.glue import glue

if fail:
    raise RuntimeError("failing on purpose")
glue("total", n * scale)
'''

PRESETS = """tiny:
  smoke: {n: 1}
  cpu: {n: 2, scale: 1.5e0}
"""


@pytest.fixture
def project(notebook_project):
    return notebook_project({"tiny": TINY}, PRESETS)


def cli(capsys, *args):
    code = main(list(args))
    return code, capsys.readouterr().err.strip()


@pytest.mark.parametrize("args, message", [
    (["run", "nope"], "unknown notebook 'nope'"),
    (["run", "tiny", "--preset", "huge"], "no preset 'huge'"),
    (["run", "tiny", "--preset", "cpu", "-p", "bogus", "1"], "unknown parameter 'bogus'"),
    (["run", "tiny", "--preset", "cpu", "-p", "n", "abc"], "parameter 'n' expects int"),
    (["run", "tiny", "--preset", "cpu", "-p", "n", "1.5"], "parameter 'n' expects int"),
    (["run", "tiny", "--preset", "cpu", "-p", "n", "1", "-p", "n", "2"], "given twice"),
])
def test_bad_input_is_one_clear_line(project, capsys, args, message):
    code, err = cli(capsys, *args)
    assert code == 2
    assert message in err and len(err.splitlines()) == 1
    assert not (project / "book" / "runs").exists()


def test_run_without_a_preset_lists_them_and_runs_nothing(project, capsys):
    code, err = cli(capsys, "run", "tiny")
    assert code == 2 and "choose a preset" in err and "smoke" in err and "cpu" in err
    assert not (project / "book" / "runs").exists() and not (project / "runs_local").exists()


def test_unknown_preset_key_is_refused(project, capsys):
    (project / "notebooks" / "presets.yaml").write_text("tiny:\n  smoke: {n: 1}\n  cpu: {bogus: 2}\n")
    code, err = cli(capsys, "run", "tiny", "--preset", "cpu")
    assert code == 2 and "unknown parameter 'bogus' (preset)" in err


def test_missing_data_root(project, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("MODULARITY_DATA", str(tmp_path / "does-not-exist"))
    code, err = cli(capsys, "run", "tiny", "--preset", "cpu")
    assert code == 2 and "does-not-exist" in err and "does not exist" in err


def test_publish_override_staleness_and_failure(project, capsys):
    code, _ = cli(capsys, "run", "tiny", "--preset", "cpu")
    assert code == 0
    published = project / "book" / "runs" / "tiny" / "cpu.ipynb"
    manifest = json.loads((project / "book" / "runs" / "tiny" / "cpu.json").read_text())
    assert manifest["metrics"] == {"total": 3.0}
    assert manifest["parameters"] == {"n": 2, "scale": 1.5, "fail": False}
    for key in ("source_sha256", "git", "torch_version", "hardware", "wall_time_s", "package_version"):
        assert key in manifest
    assert runner.staleness("tiny", "cpu") is None

    # an override never lands in book/runs
    code, _ = cli(capsys, "run", "tiny", "--preset", "cpu", "-p", "n", "5")
    assert code == 0
    local = list((project / "runs_local" / "tiny").glob("cpu-*.json"))
    assert len(local) == 1 and json.loads(local[0].read_text())["metrics"] == {"total": 7.5}
    # smoke runs are for tests: never published either
    assert cli(capsys, "run", "tiny", "--preset", "smoke")[0] == 0
    assert not (project / "book" / "runs" / "tiny" / "smoke.ipynb").exists()

    # a failing notebook: non-zero exit, published run untouched, partial output kept
    before = published.read_bytes()
    source = project / "notebooks" / "tiny.py"
    source.write_text(TINY.replace("fail: bool = False", "fail: bool = True"))
    code, err = cli(capsys, "run", "tiny", "--preset", "cpu")
    assert code == 1 and "failing on purpose" in err
    assert published.read_bytes() == before
    assert (project / "runs_local" / "tiny" / "cpu-failed.ipynb").exists()
    assert not list((project / "runs_local").glob("tiny-cpu-*")), "the failed run's work folder is left behind"
    assert runner.staleness("tiny", "cpu") == "parameters changed: fail"  # the declared default changed

    source.write_text(TINY)
    assert runner.staleness("tiny", "cpu") is None
    # a parameter declared after the run: at its default only the notebook changed (this one cannot be
    # re-rendered: it computes outside the per-seed cache); set by a preset, the parameters changed
    source.write_text(TINY.replace("fail: bool = False  # raise on purpose",
                                   "fail: bool = False  # raise on purpose\nextra: int = 0  # added later"))
    assert runner.staleness("tiny", "cpu").startswith("changed: notebook;")
    (project / "notebooks" / "presets.yaml").write_text(PRESETS.replace("n: 2,", "n: 2, extra: 1,"))
    assert runner.staleness("tiny", "cpu") == "parameters changed: extra"
    source.write_text(TINY)
    (project / "notebooks" / "presets.yaml").write_text(PRESETS.replace("n: 2", "n: 4"))
    assert runner.staleness("tiny", "cpu") == "parameters changed: n"
    published.write_text(before.decode().replace("Tiny", "Edited"))
    assert runner.staleness("tiny", "cpu") == "published notebook does not match its manifest"


def test_list_shows_status(project, capsys):
    assert cli(capsys, "list")[0] == 0


def test_parameters_cell_rules():
    source = '# %% tags=["parameters"]\nx: int = 1  # fine\ny: list[float] = [1, 2]  # ints become floats\n'
    declared = declared_parameters(source)
    assert declared["y"].default == [1.0, 2.0] and declared["x"].comment == "fine"
    with pytest.raises(ParameterError, match="one `=` per line"):
        declared_parameters('# %% tags=["parameters"]\nx: int = 1  # a = b\n')
    with pytest.raises(ParameterError, match="unsupported type"):
        declared_parameters('# %% tags=["parameters"]\nx: dict = {}  # no\n')
    with pytest.raises(ParameterError, match="exactly one parameters cell"):
        declared_parameters("# %%\nx = 1\n")


def test_every_real_notebook_has_required_presets_with_declared_parameters():
    for name in runner.notebook_names():
        presets = runner.presets_of(name)
        for required in runner.REQUIRED_PRESETS:
            assert required in presets, f"{name} lacks preset {required}"
        for preset in presets:
            runner.resolved_parameters(name, preset)  # raises on unknown keys or wrong types


BESIDE = '''# %% tags=["parameters"]
n: int = 3  # a count

# %%
from modularity import runner
from modularity.glue import glue

cpu = runner.published_beside("beside", "cpu")
glue("n_here", n)
glue("n_at_cpu", cpu["metrics"]["n_here"] if cpu else -1)
'''


def test_a_run_showing_another_run_beside_it_is_marked_when_that_one_is_republished(notebook_project, capsys):
    project = notebook_project({"beside": BESIDE}, "beside:\n  smoke: {n: 1}\n  cpu: {n: 2}\n  long: {n: 5}\n")
    assert cli(capsys, "run", "beside", "--preset", "cpu")[0] == 0
    assert cli(capsys, "run", "beside", "--preset", "long")[0] == 0
    long = json.loads((project / "book" / "runs" / "beside" / "long.json").read_text())
    assert long["metrics"] == {"n_here": 5, "n_at_cpu": 2}
    assert list(long["identity"]["reads_runs"]) == ["beside@cpu"]
    cpu = json.loads((project / "book" / "runs" / "beside" / "cpu.json").read_text())
    assert cpu["identity"]["reads_runs"] == {}  # a run never reads itself beside itself
    assert "republished" not in runner.status("beside", "long")[1]
    (project / "notebooks" / "presets.yaml").write_text("beside:\n  smoke: {n: 1}\n  cpu: {n: 1}\n  long: {n: 5}\n")
    assert cli(capsys, "run", "beside", "--preset", "cpu")[0] == 0
    assert "beside@cpu republished" in runner.status("beside", "long")[1]
