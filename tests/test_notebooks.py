"""Every notebook executes at its smoke preset, and every published cpu run is fresh."""

import json

import pytest

from modularity import runner


@pytest.mark.slow
@pytest.mark.parametrize("name", runner.notebook_names())
def test_notebook_runs_at_smoke(name, data_root_with_datasets):
    paths = runner.execute(name, "smoke", progress=False)
    assert not paths.published
    manifest = json.loads(paths.manifest.read_text())
    assert manifest["metrics"], "a notebook must glue the numbers its chapter cites"


@pytest.mark.parametrize("name", runner.notebook_names())
def test_published_cpu_run_is_fresh(name):
    reason = runner.staleness(name, "cpu")
    assert reason is None, f"book/runs/{name}/cpu is {reason}: rerun `python -m modularity run {name} --preset cpu`"
