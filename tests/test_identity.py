"""A published run is `fresh` when today's code computes exactly it, `render` when only the notebook or
presentation code changed (re-rendered from its stored per-seed results without training), `stale` when
the code that computed its numbers changed."""

import json

import pytest

from modularity import cache, runner
from modularity.__main__ import main

SOURCE = '''# %% [markdown]
# # Seeds

# %% tags=["parameters"]
n: int = 3  # a count

# %%
from modularity import cache
from modularity.glue import glue
from modularity.train import fit
import torch


def train(seed):
    w = torch.zeros(1, requires_grad=True)
    fit([w], lambda step: ((w - seed - n) ** 2).sum(), 5, lr=0.1, progress=False)
    return {"w": float(w)}


values = [cache.cached("seeds", {"n": n}, seed, lambda s=seed: train(s))["w"] for seed in range(2)]
glue("total", sum(values))
'''


@pytest.fixture
def project(notebook_project):
    return notebook_project({"seeds": SOURCE}, "seeds:\n  smoke: {n: 1}\n  cpu: {n: 2}\n")


def manifest_of(project):
    return json.loads((project / "book" / "runs" / "seeds" / "cpu.json").read_text())


def test_fresh_render_stale(project, capsys, data_root):
    assert main(["run", "seeds", "--preset", "cpu"]) == 0
    manifest = manifest_of(project)
    identity = manifest["identity"]
    assert identity["renderable"] and len(identity["results_files"]) == 2
    assert "train.py" in identity["results"]["code"] and "glue.py" not in identity["results"]["code"]
    assert "glue.py" in identity["render"]["code"]
    assert not any("identity" in "".join(c["source"]) for c in
                   json.loads((project / "book" / "runs" / "seeds" / "cpu.ipynb").read_text())["cells"]
                   if c["cell_type"] == "code" and "_cache" in "".join(c["source"]))
    assert runner.status("seeds", "cpu") == ("fresh", "")

    # a markdown edit: only presentation changed; re-rendered from the stored results, with no training,
    # even with the data root's cache gone (as on a fresh clone)
    source = project / "notebooks" / "seeds.py"
    source.write_text(SOURCE.replace("# # Seeds", "# # Seeds, renamed"))
    assert runner.status("seeds", "cpu") == ("render", "changed: notebook")
    for entry in (data_root / "cache").rglob("*.pt"):
        entry.unlink()
    assert main(["run", "seeds", "--preset", "cpu", "--render"]) == 0
    rendered = manifest_of(project)
    assert rendered["metrics"] == manifest["metrics"]
    assert rendered["wall_time_s"] == manifest["wall_time_s"] and "rendered" in rendered
    assert runner.status("seeds", "cpu") == ("fresh", "")
    assert not list((data_root / "cache").rglob("*.pt")), "a re-render must not compute"

    # the code that computed the numbers changed: stale
    rendered["identity"]["results"]["code"]["train.py"] = "0" * 64
    (project / "book" / "runs" / "seeds" / "cpu.json").write_text(json.dumps(rendered))
    state, reason = runner.status("seeds", "cpu")
    assert state == "stale" and reason == "package code changed: train.py"


def test_render_refuses_to_compute(project, capsys):
    assert main(["run", "seeds", "--preset", "cpu"]) == 0
    (project / "notebooks" / "seeds.py").write_text(SOURCE.replace("range(2)", "range(3)"))
    assert runner.status("seeds", "cpu")[0] == "render"
    code = main(["run", "seeds", "--preset", "cpu", "--render"])
    assert code == 1 and "computational" in capsys.readouterr().err
    assert runner.status("seeds", "cpu")[0] == "render", "a failed re-render leaves the published run as it was"


def test_legacy_manifest_is_stale(project, capsys):
    assert main(["run", "seeds", "--preset", "cpu"]) == 0
    manifest = manifest_of(project)
    del manifest["identity"]
    manifest["git"] = {"commit": "abcdef1234", "dirty": True}
    (project / "book" / "runs" / "seeds" / "cpu.json").write_text(json.dumps(manifest))
    state, reason = runner.status("seeds", "cpu")
    assert state == "stale" and "before runs recorded" in reason and "abcdef12" in reason


def test_damaged_cache_entry_is_recomputed(data_root):
    calls = []
    value = cache.cached("x", {"a": 1}, 0, lambda: calls.append(1) or {"v": 1})
    path = next((data_root / "cache" / "x").glob("*.pt"))
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match=str(path.name)):
        again = cache.cached("x", {"a": 1}, 0, lambda: calls.append(1) or {"v": 1})
    assert again == value and len(calls) == 2
    assert path.with_name(path.name + ".damaged").exists()


def test_book_prefers_paper_and_never_an_adhoc_preset(project, monkeypatch):
    monkeypatch.setattr(runner, "status", lambda name, preset: ("fresh", ""))
    (project / "notebooks" / "presets.yaml").write_text(
        "seeds:\n  smoke: {n: 1}\n  cpu: {n: 2}\n  aaa_adhoc: {n: 3}\n  paper: {n: 4}\n")
    assert runner.best_fresh_preset("seeds") == "paper"
    (project / "notebooks" / "presets.yaml").write_text("seeds:\n  smoke: {n: 1}\n  cpu: {n: 2}\n  aaa: {n: 3}\n")
    assert runner.best_fresh_preset("seeds") == "cpu"
    (project / "notebooks" / "presets.yaml").write_text(
        "seeds:\n  smoke: {n: 1}\n  cpu: {n: 2}\n  cpu_all_rows: {n: 3}\n  long: {n: 4}\n")
    assert runner.best_fresh_preset("seeds") == "long"  # paper > long > paper_mlp > cpu_all_rows > cpu
    monkeypatch.setattr(runner, "status", lambda name, preset: ("missing" if preset == "long" else "fresh", ""))
    assert runner.best_fresh_preset("seeds") == "cpu_all_rows"
    (project / "notebooks" / "presets.yaml").write_text(
        "seeds:\n  smoke: {n: 1}\n  cpu: {n: 2}\n  cpu_all_rows: {n: 3}\n  paper_mlp: {n: 4}\n  paper: {n: 5}\n")
    assert runner.best_fresh_preset("seeds") == "paper"
    monkeypatch.setattr(runner, "status", lambda name, preset: ("missing" if preset == "paper" else "fresh", ""))
    assert runner.best_fresh_preset("seeds") == "paper_mlp"  # paper's GPU parts never ran


def test_certified_refactor_is_accepted_and_only_that_version(project, capsys):
    assert main(["run", "seeds", "--preset", "cpu"]) == 0
    manifest = manifest_of(project)
    real = manifest["identity"]["results"]["code"]["train.py"]
    # pretend the run was made by an older train.py, and a certification maps that version to today's
    manifest["identity"]["results"]["code"]["train.py"] = "1" * 64
    (project / "book" / "runs" / "seeds" / "cpu.json").write_text(json.dumps(manifest))
    assert runner.status("seeds", "cpu")[0] == "stale"
    manifest["identity"]["certified"] = [{"replaces": {"train.py": "1" * 64}, "files": {"train.py": real},
                                          "evidence": "test", "commits": ["a", "b"], "at": "now"}]
    (project / "book" / "runs" / "seeds" / "cpu.json").write_text(json.dumps(manifest))
    assert runner.status("seeds", "cpu")[0] == "fresh"
    # a certification of some other version does not count
    manifest["identity"]["certified"][0]["files"]["train.py"] = "2" * 64
    (project / "book" / "runs" / "seeds" / "cpu.json").write_text(json.dumps(manifest))
    assert runner.status("seeds", "cpu") == ("stale", "package code changed: train.py")


def test_the_banner_names_only_certified_files_that_still_differ(project, capsys, monkeypatch, tmp_path):
    from modularity import book

    assert main(["run", "seeds", "--preset", "cpu"]) == 0
    manifest = manifest_of(project)
    real = manifest["identity"]["results"]["code"]["train.py"]
    manifest["identity"]["certified"] = [{"replaces": {"train.py": "1" * 64}, "files": {"train.py": real},
                                          "evidence": "test evidence", "commits": ["a", "b"], "at": "now"}]
    monkeypatch.setattr(book, "GENERATED", tmp_path)

    def banner():
        (project / "book" / "runs" / "seeds" / "cpu.json").write_text(json.dumps(manifest))
        return "".join(json.loads(book.stage_chapter("seeds", "cpu").read_text())["cells"][1]["source"])

    manifest["identity"]["results"]["code"]["train.py"] = "1" * 64  # the run's train.py differs from today's
    assert "`train.py` changed" in banner() and "test evidence" in banner()
    manifest["identity"]["certified"].insert(0, {"replaces": {"train.py": "1" * 64}, "files": {"train.py": "3" * 64},
                                                 "evidence": "an older certification", "commits": ["a", "c"],
                                                 "at": "before"})
    assert "older certification" not in banner()  # that version is gone: today's is named once, under its own
    manifest["identity"]["results"]["code"]["train.py"] = real  # the file was changed back: nothing to say
    assert "changed" not in banner()


def test_certification_compares_every_metric_but_time():
    from modularity.certify import metric_differences

    old = {"acc": 0.5, "shared": 0.25, "mask_steps_per_s": 10.0, "speedup": 2.0}
    assert metric_differences(old, dict(old, mask_steps_per_s=11.0, speedup=3.0)) == []
    assert metric_differences(old, dict(old, acc=0.5000000001)) == ["acc"]
    assert metric_differences(old, {k: v for k, v in old.items() if k != "shared"}) == ["shared"]


def test_certification_compares_every_stored_result_but_time_measurements():
    from modularity.certify import stored_results

    run = {"identity": {"results_files": {"nb/seed0-p1.pt.gz": "a", "nb/timing/seed0-p2.pt.gz": "b"}}}
    assert stored_results(run) == {"a"}


def test_certify_refuses_a_legacy_run_and_a_dirty_tree(project, capsys, monkeypatch):
    assert main(["run", "seeds", "--preset", "cpu"]) == 0
    manifest = manifest_of(project)
    manifest["identity"]["results"]["code"]["train.py"] = "1" * 64
    (project / "book" / "runs" / "seeds" / "cpu.json").write_text(json.dumps(manifest))
    monkeypatch.setattr(runner, "git_commit", lambda: {"commit": "abc", "dirty": True})
    code = main(["certify", "seeds", "--preset", "cpu"])
    assert code == 2 and "clean committed tree" in capsys.readouterr().err
    del manifest["identity"]
    (project / "book" / "runs" / "seeds" / "cpu.json").write_text(json.dumps(manifest))
    code = main(["certify", "seeds", "--preset", "cpu"])
    assert code == 2 and "rerun it" in capsys.readouterr().err
