"""No number in the README is typed by hand: its result, runtime and performance tables are generated from
the published runs' manifests, and must be current."""

from modularity import readme


def test_readme_tables_are_generated_and_current():
    text = readme.README.read_text()
    assert set(m.group(2) for m in readme.BLOCK.finditer(text)) == set(readme.SECTIONS)
    assert readme.update(check=True), "README tables are out of date: run `python -m modularity readme`"


def test_readme_states_no_result_number_outside_generated_blocks():
    import re

    outside = readme.BLOCK.sub("", readme.README.read_text())
    for pattern in (r"\d+(\.\d+)? ?steps/s", r"\d+(\.\d+)?×\)", r"\d+\.\d+%"):
        assert not re.search(pattern, outside), f"a result number outside the generated tables: {pattern}"


def test_runtime_says_how_a_run_was_computed():
    local = {"wall_time_s": 90, "hardware": {"torch_threads": 2}, "executor": {"name": "local"}}
    assert readme._runtime(local, "fresh") == "1.5 min (2 threads)"
    ray = {"wall_time_s": 600, "executor": {"name": "ray", "workers": 2, "task_cpus": 1}}
    assert readme._runtime(ray, "fresh") == "10.0 min (Ray: 2 workers of 1 CPU)"
    assert readme._runtime({**ray, "executor": {"name": "ray", "workers": 1, "task_cpus": 1}}, "fresh") == \
        "10.0 min (Ray: 1 worker of 1 CPU)"
    assert readme._runtime(None, "missing", "≈ 2 h") == "not run; ≈ 2 h"
    assert readme._runtime(local, "stale") == "— (older run)"
    parts = {**ray, "units": {"count": 2, "computed_here": 1, "timed": 2, "core_s": 7200.0}}
    assert readme._runtime(parts, "fresh") == (
        "10.0 min (Ray: 2 workers of 1 CPU); made in parts: 1 of its 2 per-seed units computed in the last part, "
        "the others read from the per-seed cache; all units took 2.0 core-hours (the time before is the last part's)")


def test_the_readme_computes_each_runs_status_once_and_forgets_it_after(monkeypatch):
    from modularity import runner

    calls = []
    monkeypatch.setattr(runner, "_status", lambda name, preset: calls.append((name, preset)) or ("missing", "missing"))
    readme.generated(readme.README.read_text())
    assert calls and len(calls) == len(set(calls))  # every (notebook, preset) asked for once
    runner.status("tutorial", "cpu")
    runner.status("tutorial", "cpu")
    assert calls[-2:] == [("tutorial", "cpu")] * 2  # outside the README's generation nothing is remembered


def test_a_run_made_in_parts_counts_what_its_units_took_not_its_last_part():
    one_go = {"wall_time_s": 1800, "units": {"count": 4, "computed_here": 4, "timed": 4, "core_s": 3000.0}}
    assert readme.run_hours(one_go) == 0.5
    assert readme.run_hours({"wall_time_s": 900}) == 0.25  # a run that predates the record of its units
    parts = {"wall_time_s": 60, "units": {"count": 4, "computed_here": 1, "timed": 4, "core_s": 7200.0}}
    assert readme.run_hours(parts) == 2.0
    untimed = {"wall_time_s": 60, "units": {"count": 4, "computed_here": 1, "timed": 0, "core_s": 0.0}}
    assert readme.run_hours(untimed) == 60 / 3600
    partly = {"wall_time_s": 60, "units": {"count": 4, "computed_here": 1, "timed": 1, "core_s": 7200.0}}
    assert readme.run_hours(partly) == 60 / 3600  # the same rule as the costs' core-hours: every unit timed
