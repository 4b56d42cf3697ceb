"""Certify that a refactor of computation code still computes a published run, without rerunning it.

A published run records the sha256 of every package module that computed its per-seed results; editing one
makes the run ``stale``. When the edit is a pure refactor, ``python -m modularity certify NOTEBOOK --preset P``
runs the notebook's ``smoke`` preset twice — the notebook as it was at the commit that made the run, once with
that commit's package and once with today's committed package, each in a fresh data root — and compares every
glued metric (time measurements excepted) and every stored per-seed result, bit for bit. Only if all are
identical, and the smoke run loads every changed module, does it record in the run's manifest which new file
versions replace which old ones and on what evidence. ``runner.status`` then accepts those versions, the
book's banner says the run was certified, and the chapter is re-rendered from its stored per-seed results.
Anything else — a difference, a module the smoke preset does not load, a dirty tree — refuses, and the run
stays stale until it is rerun.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from modularity import runner
from modularity.data.root import KNOWN_FILES, data_root
from modularity.parameters import ParameterError

TIMING_MARKERS = ("per_s", "speedup", "_ms_", "wall_time", "seconds", "timing")  # measurements of time, not results


def is_timing(metric: str) -> bool:
    return any(marker in metric for marker in TIMING_MARKERS)


def metric_differences(old: dict, new: dict) -> list[str]:
    """Metrics whose values differ (bit for bit), or that only one side has; time measurements excepted."""
    keys = sorted(k for k in set(old) | set(new) if not is_timing(k))
    return [k for k in keys if k not in old or k not in new or old[k] != new[k]]


def stored_results(run: dict) -> set[str]:
    """The sha256 of each of a run's stored per-seed results, time measurements (a ``timing`` stage) excepted.

    By content, not file name: older runs stored the same results under other names."""
    return {digest for f, digest in run["identity"]["results_files"].items() if not is_timing(f)}


def _fresh_data_root(folder: Path) -> Path:
    """A new data root whose datasets link to the current root's (read only); nothing derived is shared."""
    folder.mkdir(parents=True)
    current = data_root()
    for dataset in KNOWN_FILES:
        if (current / dataset).is_dir():
            (folder / dataset).symlink_to((current / dataset).resolve(), target_is_directory=True)
    return folder


def _smoke(tree: Path, name: str, root: Path, notebooks: Path) -> dict:
    """The smoke run of ``notebooks``/NAME with the package of ``tree``, in the data root ``root``."""
    env = dict(os.environ, PYTHONPATH=str(tree), MODULARITY_DATA=str(root), MODULARITY_PROGRESS="0",
               MODULARITY_NOTEBOOKS=str(notebooks))
    result = subprocess.run([sys.executable, "-m", "modularity", "run", name, "--preset", runner.TEST_PRESET],
                            cwd=tree, env=env, capture_output=True, text=True)
    if result.returncode:
        raise runner.RunError(f"the smoke run of {name!r} failed with the code at {tree}: "
                              f"{result.stderr.strip().splitlines()[-1] if result.stderr.strip() else '?'}")
    return json.loads((tree / "runs_local" / name / f"{runner.TEST_PRESET}.json").read_text())


def certify(name: str, preset: str) -> str:
    """Compare old and new code at ``smoke`` and, if equal, record the certification; returns a summary."""
    manifest = runner.read_manifest(name, preset)
    if manifest is None or "identity" not in manifest:
        raise ParameterError(f"{name} @ {preset} has no published run with a recorded code identity; rerun it")
    changed = runner.changed_results_code(manifest["identity"])
    if not changed:
        return f"{name} @ {preset}: the code that computed it is unchanged; nothing to certify"
    git = runner.git_commit()
    if git["dirty"]:
        raise ParameterError("certifying needs a clean committed tree; commit the refactor first")
    old_commit = manifest["git"]["commit"]
    with tempfile.TemporaryDirectory(prefix="certify-") as tmp:
        old_tree = Path(tmp) / "old"
        subprocess.run(["git", "worktree", "add", "--detach", str(old_tree), old_commit], cwd=runner.REPO,
                       check=True, capture_output=True)
        try:
            # the run's own notebook both times: only the package differs, and the per-seed results it computes
            # are what the run's identity covers (a notebook change is a matter of re-rendering)
            old = _smoke(old_tree, name, _fresh_data_root(Path(tmp) / "old-data"), old_tree / "notebooks")
            new = _smoke(runner.REPO, name, _fresh_data_root(Path(tmp) / "new-data"), old_tree / "notebooks")
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(old_tree)], cwd=runner.REPO,
                           capture_output=True)
    untested = [f for f in changed if f not in new["identity"]["results"]["code"]]
    if untested:
        raise runner.RunError(f"the smoke preset of {name!r} does not load {', '.join(untested)}: it cannot certify "
                              "them; rerun the notebook")
    differences = metric_differences(old["metrics"], new["metrics"])
    old_results, new_results = (stored_results(run) for run in (old, new))
    # runs before nested results stopped being published separately store more files: compare what both store
    if not (old_results <= new_results or new_results <= old_results):
        differences.append("the stored per-seed results")
    if differences:
        raise runner.RunError(f"not equivalent: {len(differences)} smoke metric(s) differ between the code at "
                              f"{old_commit[:8]} and {git['commit'][:8]} ({', '.join(differences[:5])}); rerun "
                              f"`python -m modularity run {name} --preset {preset}`")
    from modularity.cache import PACKAGE_DIR, file_sha256

    recorded = manifest["identity"]["results"]["code"]
    compared = [k for k in new["metrics"] if not is_timing(k)]
    evidence = (f"{len(compared)} smoke metrics and {min(len(old_results), len(new_results))} stored per-seed results "
                f"bit-identical with the code at {old_commit[:10]} (the run's) and at {git['commit'][:10]}")
    entry = {"replaces": {f: recorded[f] for f in changed}, "files": {f: file_sha256(PACKAGE_DIR / f) for f in changed},
             "evidence": evidence, "commits": [old_commit, git["commit"]],
             "at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    manifest["identity"].setdefault("certified", []).append(entry)
    runner.write_manifest(runner.RUNS / name / f"{preset}.json", manifest)
    return f"{name} @ {preset}: certified {', '.join(changed)} ({entry['evidence']})"
