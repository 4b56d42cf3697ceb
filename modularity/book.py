"""Build the Jupyter Book from the published runs: re-render or rerun what changed, stage chapters, build strictly.

Each chapter page is the most preferred published run of its notebook (``runner.BOOK_PREFERENCE``: ``paper``,
``long``, ``paper_mlp``, ``paper_p1``, ``cpu_all_rows``, ``cpu_narrow_vgg``, ``cpu_small_cnn``, then ``cpu``; never
an ad-hoc or smoke preset) that is fresh or only needs re-rendering, with a banner saying which preset, hardware and
data it came from; every other such run of the notebook gets a page of its own beside the chapter (a section under
it, linked from its banner), so that a larger preset never hides the ``cpu`` run a laptop reproduces. A ``render``
run is re-executed from its stored per-seed results into the book's staging folder (seconds, no training;
``book/runs`` is not touched). A stale ``cpu`` run is rerun, except a run made before runs recorded their code: the
book shows it as it is, under a warning that says so, until it is republished.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import yaml

from modularity import costs, runner

BOOK = runner.REPO / "book"
GENERATED = BOOK / "_generated"


def _describe(manifest: dict) -> str:
    hw = manifest.get("hardware", {})
    device = hw.get("gpu") or f"{hw.get('cpu', 'CPU')} ({hw.get('torch_threads', '?')} torch threads)"
    data = "; ".join(f"{name}: {info.get('source', '?')}" for name, info in manifest.get("data", {}).items())
    commit = (manifest.get("git", {}).get("commit") or "unknown")[:10]
    parts = costs.made_in_parts(manifest)
    return (f"preset `{manifest['preset']}` · {device} · torch {manifest.get('torch_version')} · "
            f"{manifest.get('wall_time_s', 0) / 60:.1f} min{f' ({parts})' if parts else ''} · commit `{commit}` · "
            f"data: {data or 'none'}")


def beside_page_name(name: str, preset: str) -> str:
    """The page of a run shown beside its chapter: ``{notebook}-{preset}``."""
    return f"{name}-{preset}"


def page_name(name: str, preset: str, shown: str) -> str:
    """A chapter's page is its notebook's name; any other run of it has a page beside it."""
    return name if preset == shown else beside_page_name(name, preset)


def stage_chapter(name: str, preset: str, source: Path | None = None, warning: str = "",
                  shown: str | None = None, beside: tuple[str, ...] = ()) -> Path:
    """Copy a published (or freshly re-rendered) run into the book with a provenance banner after its title.

    ``shown`` is the preset of the chapter's own page (default: this one); a run of another preset is staged as
    a page beside it, and the chapter's banner links to every run in ``beside``."""
    shown = shown or preset
    manifest = runner.read_manifest(name, preset)
    nb = nbformat.read(source or runner.RUNS / name / f"{preset}.ipynb", as_version=4)
    rendered = (" Re-rendered for this build from the run's stored per-seed results, by today's notebook and "
                "presentation code." if source else "")
    identity = manifest.get("identity", {})
    recorded = identity.get("results", {}).get("code", {})
    today = runner.current_code_versions(recorded)
    for entry in identity.get("certified", []):
        # each changed file once, under the certification of today's version (a file changed back is no change)
        files = [f for f, sha in entry["files"].items() if today.get(f) == sha != recorded.get(f)]
        if files:
            rendered += (f" Since the run, {', '.join(f'`{f}`' for f in files)} changed; the change was "
                         f"certified not to change the numbers: {entry['evidence']}.")
    kind = "warning" if warning else "note"
    if preset == shown:
        what = "This chapter is the published run"
        links = "".join(f" The same chapter at the `{other}` preset: {{doc}}`{beside_page_name(name, other)}`."
                        for other in beside)
    else:
        what = "This page is the published run"
        links = f" The chapter itself shows the `{shown}` run: {{doc}}`{name}`."
        _retitle(nb, f" — the `{preset}` run")
    banner = nbformat.v4.new_markdown_cell(
        f":::{{{kind}}}\n{warning}{what} **{name} @ {preset}**: {_describe(manifest)}."
        f"{rendered} Rerun it with `python -m modularity run {name} --preset {preset}`.{links}\n:::")
    nb.cells.insert(1, banner)
    for cell in nb.cells:  # papermill's injected copy of the parameters: the declared cell already shows them
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            cell.metadata["tags"] = [*tags, "remove-cell"]
    GENERATED.mkdir(parents=True, exist_ok=True)
    out = GENERATED / f"{page_name(name, preset, shown)}.ipynb"
    nbformat.write(nb, out)
    return out


def _retitle(nb, suffix: str) -> None:
    """Append ``suffix`` to the notebook's title (the first level-1 heading), so that a page beside a chapter
    does not read as the chapter in the table of contents."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            lines = cell.source.splitlines()
            for i, line in enumerate(lines):
                if line.startswith("# "):
                    lines[i] = line + suffix
                    cell.source = "\n".join(lines)
                    return


def write_toc(beside: dict[str, tuple[str, ...]]) -> Path:
    """The committed table of contents with each chapter's runs beside it as its sections."""
    toc = yaml.safe_load((BOOK / "_toc.yml").read_text())
    for part in toc["parts"]:
        for chapter in part["chapters"]:
            name = chapter["file"].removeprefix("_generated/")
            if beside.get(name):
                chapter["sections"] = [{"file": f"_generated/{beside_page_name(name, p)}"} for p in beside[name]]
    out = GENERATED / "_toc.yml"
    out.write_text(yaml.safe_dump(toc, sort_keys=False))
    return out


def write_runs_page(shown: dict[str, str | None], beside: dict[str, tuple[str, ...]] | None = None) -> None:
    lines = ["# Every published run", "",
             "Each row is a run under `book/runs/`; *shown* marks the one the book uses for that chapter, *beside* a "
             "run on a page of its own under that chapter. "
             "Before every build each run is checked against today's code: *fresh* (today's code computes exactly "
             "this), *render* (only the notebook or presentation code changed: re-rendered from the run's stored "
             "per-seed results) or *stale* (the code that computed its numbers changed).", "",
             "| notebook | preset | status | shown | device / hardware | data | runtime | commit |",
             "|---|---|---|---|---|---|---|---|"]
    for row in runner.run_table():
        manifest = runner.read_manifest(row["notebook"], row["preset"])
        if manifest is None:
            continue
        hw = manifest.get("hardware", {})
        device = f"{manifest.get('device')} — {hw.get('gpu') or hw.get('cpu')}"
        data = ", ".join(f"{k} ({v.get('source')})" for k, v in manifest.get("data", {}).items()) or "none"
        shown_mark = ("yes" if shown.get(row["notebook"]) == row["preset"] else
                      "beside" if row["preset"] in (beside or {}).get(row["notebook"], ()) else "")
        lines.append(f"| {row['notebook']} | {row['preset']} | {row['status']} | {shown_mark} | {device} | "
                     f"{data} | {manifest.get('wall_time_s', 0) / 60:.1f} min | "
                     f"`{(manifest.get('git', {}).get('commit') or '')[:10]}` |")
    (GENERATED / "runs.md").write_text("\n".join(lines) + "\n")


# What each chapter tests, in the order of the book; the status beside it comes from the chapter's run.
CLAIMS = [
    ("add_mul", "Addition and multiplication", "+/* : addition and multiplication use separate weights (FNN, LSTM)"),
    ("double_add", "Double addition", "+/+ : the same function applied to two inputs does not reuse the same weights"),
    ("sharing_vs_size", "Sharing against size", "add/mul sharing is not forced by a lack of capacity: it falls as the "
     "network grows"),
    ("beta_sensitivity", "Sensitivity to β", "the conclusions do not hinge on the regularisation strength β"),
    ("mask_diagnostics", "Mask diagnostics", "trained masks are effectively binary; the half-mask test"),
    ("permuted_mnist_transfer", "Permuted-MNIST transfer", "new tasks do not reuse the weights earlier tasks trained"),
    ("cifar_class_removal", "CIFAR-10 class removal", "a CNN has class-specific weights"),
    ("cifar_mask_stability", "CIFAR-10 mask stability", "two masks trained on the same data keep the same weights"),
    ("scan", "SCAN", "a split's mask loses that split's test accuracy; the jump mask removes I_JUMP's output weights"),
    ("dm_math", "Mathematics", "a mask trained on easy problems fails on hard ones"),
    ("clusterability", "Clusterability", "pruned (and dropout-trained) MLPs are more clusterable than shuffled ones"),
    ("importance_coherence", "Importance and coherence", "spectral clusters of neurons are more important and more "
     "coherent than random groups"),
    ("masks_vs_clusters", "Masks against clusters", "(this book's own question) the modules masks find are the "
     "spectral clusters of the same weights"),
    ("performance", "Performance", "(engineering) faster than the original code and scikit-learn, same results"),
]


def stated_verdict(metrics: dict) -> tuple[str, str] | None:
    """What a run concludes, as ``(kind, text)``: a paper claim's ``status`` (with its ``claim_scope`` where the
    run tested less of the claim than the paper did), or the ``answer`` to a question of the book's own (a count
    of computed verdicts); None when the chapter states its verdict only in its text."""
    if metrics.get("claim_status"):
        scope = metrics.get("claim_scope")
        return "status", f"{metrics['claim_status']} ({scope})" if scope else metrics["claim_status"]
    if metrics.get("answer"):
        return "answer", metrics["answer"]
    return None


def claim_cell(name: str, preset: str, warning: bool) -> str:
    """The status of one chapter's claim, read from the run it shows."""
    if warning:
        return "**not yet recomputed by today's code** (see the chapter's warning)"
    verdict = stated_verdict(runner.read_manifest(name, preset)["metrics"])
    if verdict is None:
        return f"measured at the `{preset}` preset; the chapter states its verdict"
    kind, text = verdict
    return f"**{text}** at the `{preset}` preset" if kind == "status" else f"at the `{preset}` preset, {text}"


def write_status_table(shown: dict[str, str], warned: set[str]) -> None:
    lines = ["| paper claim | chapter | status |", "|---|---|---|"]
    for name, title, claim in CLAIMS:
        if name in shown:
            status = claim_cell(name, shown[name], name in warned)
            lines.append(f"| {claim} | [{title}](_generated/{name}) | {status} |")
    (GENERATED / "status.md").write_text("\n".join(lines) + "\n")


def chapters_in_toc() -> list[str]:
    toc = (BOOK / "_toc.yml").read_text()
    return [line.split("_generated/")[1].strip() for line in toc.splitlines() if "file: _generated/" in line
            and not line.strip().endswith("runs")]


def _rendered_if_needed(name: str, preset: str, state: str) -> Path | None:
    """A ``render`` run re-executed from its stored per-seed results into the staging folder; None if fresh."""
    if state != "render":
        return None
    print(f"{name}: re-rendering {preset} from its stored per-seed results", file=sys.stderr)
    source = GENERATED / "renders" / f"{name}-{preset}.ipynb"
    runner.execute(name, preset, progress=False, render=True,
                   destination=runner.RunPaths(source, source.with_suffix(".json"), False))
    return source


def build(rerun: bool = True) -> int:
    """Re-render ``render`` runs, rerun stale or missing ``cpu`` runs (unless ``rerun`` is False), stage the
    chapters, build strictly."""
    if GENERATED.exists():
        shutil.rmtree(GENERATED)
    GENERATED.mkdir(parents=True)
    shown, warned, beside = {}, set(), {}
    for name in chapters_in_toc():
        state, reason = runner.status(name, "cpu")
        legacy = state == "stale" and reason.startswith("made before runs recorded")
        if state in ("stale", "missing") and not legacy:
            if not rerun:
                raise runner.RunError(f"published cpu run of {name!r} is {state}: {reason}; rerun it or drop "
                                      "--no-rerun")
            print(f"{name}: cpu run {state} ({reason}); rerunning (this can take up to an hour)", file=sys.stderr)
            runner.execute(name, "cpu")
        runs = runner.book_presets(name)  # each run's state, computed once
        preset = next(iter(runs), None)
        if preset is None:  # only a run made before run identities: shown as it is, under a warning
            print(f"{name}: cpu run {reason}; shown with a warning until it is republished", file=sys.stderr)
            shown[name] = "cpu"
            warned.add(name)
            stage_chapter(name, "cpu", warning=f"**Not computed by today's code.** This run was {reason}; "
                          "its numbers may differ from what the current code computes. ")
            continue
        shown[name] = preset
        beside[name] = tuple(runs)[1:]
        for run, run_state in runs.items():
            stage_chapter(name, run, _rendered_if_needed(name, run, run_state), shown=preset, beside=beside[name])
    write_runs_page(shown, beside)
    write_status_table(shown, warned)
    (GENERATED / "shown.json").write_text(json.dumps(shown, indent=1))
    toc = write_toc(beside)
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    command = [str(jupyter_book), "build", str(BOOK), "--toc", str(toc), "--builder", "html", "-W", "-n",
               "--keep-going"]
    result = subprocess.run(command, cwd=runner.REPO)
    if result.returncode:
        print("error: the book did not build cleanly (warnings are errors); see the log above", file=sys.stderr)
        return result.returncode
    print(f"book built: {BOOK / '_build' / 'html' / 'index.html'}", file=sys.stderr)
    return 0
