"""Build the Jupyter Book from the published runs: rerun stale ``cpu`` runs, stage chapters, build strictly.

Each chapter page is the best fresh published run of its notebook (an optional GPU preset such as ``paper``
beats ``cpu``), with a banner saying which preset, hardware and data it came from. A stale optional run is
left out (and said so on the runs page) until it is rerun.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from modularity import runner

BOOK = runner.REPO / "book"
GENERATED = BOOK / "_generated"


def _describe(manifest: dict) -> str:
    hw = manifest.get("hardware", {})
    device = hw.get("gpu") or f"{hw.get('cpu', 'CPU')} ({hw.get('torch_threads', '?')} torch threads)"
    data = "; ".join(f"{name}: {info.get('source', '?')}" for name, info in manifest.get("data", {}).items())
    commit = (manifest.get("git", {}).get("commit") or "unknown")[:10]
    return (f"preset `{manifest['preset']}` · {device} · torch {manifest.get('torch_version')} · "
            f"{manifest.get('wall_time_s', 0) / 60:.1f} min · commit `{commit}` · data: {data or 'none'}")


def stage_chapter(name: str, preset: str) -> Path:
    """Copy a published run into the book with a provenance banner after its title cell."""
    manifest = runner.read_manifest(name, preset)
    nb = nbformat.read(runner.RUNS / name / f"{preset}.ipynb", as_version=4)
    banner = nbformat.v4.new_markdown_cell(
        f":::{{note}}\nThis chapter is the published run **{name} @ {preset}**: {_describe(manifest)}. "
        f"Rerun it with `python -m modularity run {name} --preset {preset}`.\n:::")
    nb.cells.insert(1, banner)
    GENERATED.mkdir(parents=True, exist_ok=True)
    out = GENERATED / f"{name}.ipynb"
    nbformat.write(nb, out)
    return out


def write_runs_page(shown: dict[str, str | None]) -> None:
    lines = ["# Every published run", "",
             "Each row is a run under `book/runs/`; *shown* marks the one the book uses for that chapter. "
             "Runs are checked against their notebook source, parameters and data before every build.", "",
             "| notebook | preset | status | shown | device / hardware | data | runtime | commit |",
             "|---|---|---|---|---|---|---|---|"]
    for row in runner.run_table():
        manifest = runner.read_manifest(row["notebook"], row["preset"])
        if manifest is None:
            continue
        hw = manifest.get("hardware", {})
        device = f"{manifest.get('device')} — {hw.get('gpu') or hw.get('cpu')}"
        data = ", ".join(f"{k} ({v.get('source')})" for k, v in manifest.get("data", {}).items()) or "none"
        shown_mark = "yes" if shown.get(row["notebook"]) == row["preset"] else ""
        lines.append(f"| {row['notebook']} | {row['preset']} | {row['status']} | {shown_mark} | {device} | "
                     f"{data} | {manifest.get('wall_time_s', 0) / 60:.1f} min | "
                     f"`{(manifest.get('git', {}).get('commit') or '')[:10]}` |")
    (GENERATED / "runs.md").write_text("\n".join(lines) + "\n")


def chapters_in_toc() -> list[str]:
    toc = (BOOK / "_toc.yml").read_text()
    return [line.split("_generated/")[1].strip() for line in toc.splitlines() if "file: _generated/" in line
            and not line.strip().endswith("runs")]


def build(rerun: bool = True) -> int:
    """Rerun missing/stale ``cpu`` runs (unless ``rerun`` is False), stage the chapters, build strictly."""
    if GENERATED.exists():
        shutil.rmtree(GENERATED)
    GENERATED.mkdir(parents=True)
    shown = {}
    for name in chapters_in_toc():
        reason = runner.staleness(name, "cpu")
        if reason is not None:
            if not rerun:
                raise runner.RunError(f"published cpu run of {name!r} is {reason}; rerun it or drop --no-rerun")
            print(f"{name}: cpu run {reason}; rerunning (this can take up to an hour)", file=sys.stderr)
            runner.execute(name, "cpu")
        shown[name] = runner.best_fresh_preset(name)
        stage_chapter(name, shown[name])
    write_runs_page(shown)
    (GENERATED / "shown.json").write_text(json.dumps(shown, indent=1))
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    command = [str(jupyter_book), "build", str(BOOK), "--builder", "html", "-W", "-n", "--keep-going"]
    result = subprocess.run(command, cwd=runner.REPO)
    if result.returncode:
        print("error: the book did not build cleanly (warnings are errors); see the log above", file=sys.stderr)
        return result.returncode
    print(f"book built: {BOOK / '_build' / 'html' / 'index.html'}", file=sys.stderr)
    return 0
