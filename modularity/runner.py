"""Run a notebook at a preset with papermill, publish it atomically with its manifest, check staleness.

A run made with exactly a preset's parameters is published to ``book/runs/<notebook>/<preset>.{ipynb,json}``;
a run with ``-p`` overrides, and any failed run, goes to the git-ignored ``runs_local/`` instead, so a
published run is never damaged by an experiment or a crash.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from modularity import __version__, provenance
from modularity.glue import glued_values
from modularity.parameters import ParameterError, declared_parameters, load_presets, resolve

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
PRESETS_FILE = NOTEBOOKS / "presets.yaml"
RUNS = REPO / "book" / "runs"
LOCAL_RUNS = REPO / "runs_local"
TEST_PRESET = "smoke"  # exercises every code path for the tests; never published, never in the book
REQUIRED_PRESETS = (TEST_PRESET, "cpu")


class RunError(RuntimeError):
    """The notebook ran and failed; the partial output is kept where the message says."""


def sha256_text(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


def notebook_names() -> list[str]:
    return sorted(p.stem for p in NOTEBOOKS.glob("*.py"))


def notebook_source(name: str) -> str:
    path = NOTEBOOKS / f"{name}.py"
    if not path.exists():
        raise ParameterError(f"unknown notebook {name!r}; available: {', '.join(notebook_names()) or 'none'}")
    return path.read_text()


def presets_of(name: str) -> dict[str, dict]:
    presets = load_presets(PRESETS_FILE)
    if name not in presets:
        raise ParameterError(f"notebook {name!r} has no presets in {PRESETS_FILE.name}")
    return presets[name]


def resolved_parameters(name: str, preset: str, overrides: dict | None = None) -> dict:
    """The full parameter set of a run, after refusing unknown presets, names and wrongly typed values."""
    declared = declared_parameters(notebook_source(name))
    presets = presets_of(name)
    if preset not in presets:
        raise ParameterError(f"notebook {name!r} has no preset {preset!r}; available: {', '.join(presets)}")
    return resolve(declared, presets[preset], overrides or {})


@dataclass
class RunPaths:
    notebook: Path
    manifest: Path
    published: bool


def run_paths(name: str, preset: str, overrides: dict) -> RunPaths:
    """Published for exact non-smoke presets; smoke runs (tests) and overridden runs stay local."""
    if not overrides and preset != TEST_PRESET:
        folder, stem, published = RUNS / name, preset, True
    else:
        tag = f"-{sha256_text(json.dumps(overrides, sort_keys=True))[:8]}" if overrides else ""
        folder, stem, published = LOCAL_RUNS / name, f"{preset}{tag}", False
    return RunPaths(folder / f"{stem}.ipynb", folder / f"{stem}.json", published)


def git_commit() -> dict:
    def git(*args):
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()

    commit = git("rev-parse", "HEAD")
    return {"commit": commit or None, "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


def hardware() -> dict:
    import torch

    cpu = platform.processor()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def execute(name: str, preset: str, overrides: dict | None = None, progress: bool = True) -> RunPaths:
    """Execute, then publish (exact preset) or store locally (overrides); raises RunError on failure."""
    import jupytext
    import papermill
    import torch

    from modularity.data.root import data_root

    overrides = overrides or {}
    source = notebook_source(name)
    params = resolved_parameters(name, preset, overrides)
    data_root()  # a missing or unwritable data root fails here, before anything runs
    paths = run_paths(name, preset, overrides)
    LOCAL_RUNS.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{name}-{preset}-", dir=LOCAL_RUNS))
    source_nb, out_nb, prov = work / "source.ipynb", work / "executed.ipynb", work / "provenance.json"
    notebook = jupytext.reads(source, fmt="py:percent")
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.metadata["language_info"] = {"name": "python"}
    jupytext.write(notebook, source_nb)
    env_before = {k: os.environ.get(k) for k in (provenance.ENV, "MODULARITY_PROGRESS")}
    os.environ[provenance.ENV] = str(prov)
    os.environ["MODULARITY_PROGRESS"] = "0"
    if progress:  # papermill logs the kernel's printed lines (per-seed progress) at INFO
        _show_papermill_log()
    started, t0 = dt.datetime.now(dt.timezone.utc), time.time()
    try:
        papermill.execute_notebook(
            str(source_nb), str(out_nb), parameters=params, kernel_name="python3", progress_bar=progress,
            log_output=progress, cwd=str(NOTEBOOKS),
        )
    except Exception as error:  # papermill raises its own errors and also plain ones (kernel died)
        kept = LOCAL_RUNS / name / f"{preset}-failed.ipynb"
        kept.parent.mkdir(parents=True, exist_ok=True)
        if out_nb.exists():
            os.replace(out_nb, kept)
        shutil.rmtree(work, ignore_errors=True)
        raise RunError(f"notebook {name!r} failed at preset {preset!r}: {_first_line(error)}; "
                       f"partial output kept in {kept.relative_to(REPO)}") from None
    finally:
        for key, value in env_before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    wall = time.time() - t0
    executed = json.loads(out_nb.read_text())
    recorded = provenance.read(prov)
    manifest = {
        "notebook": name, "preset": preset, "published": paths.published,
        "parameters": params, "overrides": overrides,
        "source_sha256": sha256_text(source),
        "notebook_sha256": sha256_text(out_nb.read_bytes()),
        "package_version": __version__, "git": git_commit(),
        "python": platform.python_version(), "torch_version": torch.__version__,
        "hardware": hardware(), "device": recorded.get("run", {}).get("device", "cpu"),
        "data": recorded.get("data", {}),
        "started_at": started.isoformat(timespec="seconds"), "wall_time_s": round(wall, 1),
        "metrics": glued_values(executed),
    }
    _publish(out_nb, manifest, paths)
    shutil.rmtree(work, ignore_errors=True)
    return paths


def _show_papermill_log() -> None:
    import logging

    logger = logging.getLogger("papermill")
    if not any(getattr(h, "_modularity", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler._modularity = True
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    interesting = [line for line in text if "Error" in line] or text or [type(error).__name__]
    return interesting[-1][:300]


def _publish(executed: Path, manifest: dict, paths: RunPaths) -> None:
    """Replace the notebook, then the manifest; the manifest's hash of the notebook detects a torn pair."""
    paths.notebook.parent.mkdir(parents=True, exist_ok=True)
    tmp_manifest = paths.manifest.with_suffix(".json.tmp")
    tmp_manifest.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    tmp_notebook = paths.notebook.with_suffix(".ipynb.tmp")
    os.replace(executed, tmp_notebook)
    os.replace(tmp_notebook, paths.notebook)
    os.replace(tmp_manifest, paths.manifest)


def read_manifest(name: str, preset: str) -> dict | None:
    path = RUNS / name / f"{preset}.json"
    return json.loads(path.read_text()) if path.exists() else None


def staleness(name: str, preset: str) -> str | None:
    """None when the published run is fresh, else why it is stale (or missing)."""
    from modularity.data import registry

    manifest = read_manifest(name, preset)
    if manifest is None:
        return "missing"
    notebook = RUNS / name / f"{preset}.ipynb"
    if not notebook.exists() or sha256_text(notebook.read_bytes()) != manifest.get("notebook_sha256"):
        return "published notebook does not match its manifest"
    if manifest.get("source_sha256") != sha256_text(notebook_source(name)):
        return "notebook source changed"
    try:
        params = resolved_parameters(name, preset)
    except ParameterError as error:
        return f"preset no longer valid: {error}"
    if params != manifest.get("parameters"):
        changed = sorted(k for k in set(params) | set(manifest["parameters"])
                         if params.get(k) != manifest["parameters"].get(k))
        return f"parameters changed: {', '.join(changed)}"
    for dataset, recorded in manifest.get("data", {}).items():
        current = registry.current_checksums(dataset)
        if current is not None and current != recorded.get("checksums"):
            return f"data {dataset!r} changed"
    return None


def run_table() -> list[dict]:
    """One row per (notebook, preset): freshness, runtime, device, commit."""
    rows = []
    for name in notebook_names():
        try:
            presets = presets_of(name)
        except ParameterError as error:
            rows.append({"notebook": name, "preset": "-", "status": str(error)})
            continue
        for preset in presets:
            if preset == TEST_PRESET:
                rows.append({"notebook": name, "preset": preset, "status": "test preset (never published)"})
                continue
            manifest = read_manifest(name, preset) or {}
            reason = staleness(name, preset)
            rows.append({
                "notebook": name, "preset": preset,
                "status": "fresh" if reason is None else ("missing" if reason == "missing" else f"stale: {reason}"),
                "wall_time_s": manifest.get("wall_time_s"), "device": manifest.get("device"),
                "commit": (manifest.get("git", {}).get("commit") or "")[:8],
            })
    return rows


def best_fresh_preset(name: str) -> str | None:
    """The preset the book shows: ``paper``-like GPU presets beat ``cpu``; never ``smoke``."""
    presets = [p for p in presets_of(name) if p != TEST_PRESET]
    order = sorted(presets, key=lambda p: (p == "cpu", p))  # optional (larger) presets first, cpu last
    return next((p for p in order if staleness(name, p) is None), None)


def main_run(name: str, preset: str, overrides: dict) -> int:
    paths = execute(name, preset, overrides)
    where = "published" if paths.published else "stored locally (smoke and overridden runs are never published)"
    print(f"{name} @ {preset}: {where} → {paths.notebook.relative_to(REPO)}", file=sys.stderr)
    return 0
