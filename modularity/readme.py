"""The README's result and runtime tables, generated from the published runs' manifests.

The README holds them between ``<!-- generated: NAME -->`` and ``<!-- end generated -->`` markers;
``python -m modularity readme`` rewrites them and a test fails when they are out of date, so no number in
the README is typed by hand.
"""

from __future__ import annotations

import re
from pathlib import Path

from modularity import book, costs, runner

README = runner.REPO / "README.md"
BLOCK = re.compile(r"(<!-- generated: (\w+) -->\n)(.*?)(<!-- end generated -->)", re.S)


def _runtime(manifest: dict | None, state: str, estimate: str | None = None, kept: tuple[int, float] = (0, 0.0)) -> str:
    if not manifest:
        text = f"not run; {estimate}" if estimate else "not run"
        return text + (f"; in progress: {kept[0]} finished units kept in its `.parts` folder ({kept[1]:.1f} "
                       "core-hours)" if kept[0] else "")
    if state not in runner.CURRENT_STATES:
        return "— (older run)"
    minutes = manifest.get("wall_time_s", 0) / 60
    text = f"{minutes:.1f} min" if minutes >= 1 else f"{manifest.get('wall_time_s', 0):.0f} s"
    executor = manifest.get("executor", {})
    if executor.get("name") == "ray":
        workers = (f"{executor['workers']} worker{'s' if executor['workers'] != 1 else ''}" if executor.get("workers")
                   else "workers")
        cpus = executor.get("task_cpus", 1)
        text += f" (Ray: {workers} of {cpus} CPU{'s' if cpus != 1 else ''})"
    elif threads := manifest.get("hardware", {}).get("torch_threads"):
        text += f" ({threads} thread{'s' if threads != 1 else ''})"
    parts = costs.made_in_parts(manifest)
    return f"{text}; {parts} (the time before is the last part's)" if parts else text


def results_table() -> str:
    lines = ["| claim | chapter | status | run | state | runtime | command |", "|---|---|---|---|---|---|---|"]
    for name, title, claim in book.CLAIMS:
        preset = runner.best_fresh_preset(name) or "cpu"
        manifest = runner.read_manifest(name, preset)
        state, _ = runner.status(name, preset)
        verdict = book.stated_verdict((manifest or {}).get("metrics", {}))
        status = verdict[1] if verdict else "see the chapter"
        if state not in runner.CURRENT_STATES:
            status = "not yet recomputed by today's code"
        lines.append(f"| {claim} | {title} | {status} | `{preset}` | {state} | {_runtime(manifest, state)} | "
                     f"`python -m modularity run {name} --preset {preset}` |")
    return "\n".join(lines) + "\n"


def _preset_parameters(name: str, preset: str) -> str:
    values = runner.presets_of(name)[preset]
    if not values:
        return "the notebook's defaults (its parameters cell)"
    return ", ".join(f"`{k}={v}`" for k, v in values.items())


def presets_table() -> str:
    lines = ["| notebook | preset | state | measured runtime | parameters set by the preset |", "|---|---|---|---|---|"]
    for name in runner.notebook_names():
        for preset in runner.presets_of(name):
            if preset == runner.TEST_PRESET:
                continue
            manifest = runner.read_manifest(name, preset)
            state = runner.status(name, preset)[0]
            runtime = _runtime(manifest, state, costs.describe(name, preset), runner.kept_parts(name, preset))
            lines.append(f"| {name} | `{preset}` | {state} | {runtime} | {_preset_parameters(name, preset)} |")
    hours, counted, missing = cpu_book_total()
    lines += ["", f"All `cpu` runs of today's code together: {hours:.1f} h of wall time ({counted} runs; threads as "
              "each row says; a run made in parts counts the core-hours of its per-seed units)"
              + (f"; not counted, not yet recomputed by today's code: {', '.join(missing)}." if missing else ".")]
    return "\n".join(lines) + "\n"


def run_hours(manifest: dict) -> float:
    """What a run took, in hours: its wall time, or for a run made in parts the core-hours of its units."""
    in_parts = costs.units_core_hours(manifest)
    return in_parts if in_parts is not None else manifest.get("wall_time_s", 0) / 3600


def cpu_book_total() -> tuple[float, int, list[str]]:
    """Hours of every fresh (or re-renderable) ``cpu`` run (``run_hours``), how many, and which are left out."""
    total, counted, missing = 0.0, 0, []
    for name in runner.notebook_names():
        if "cpu" not in runner.presets_of(name):
            continue
        manifest, (state, _) = runner.read_manifest(name, "cpu"), runner.status(name, "cpu")
        if manifest and state in runner.CURRENT_STATES:
            total, counted = total + run_hours(manifest), counted + 1
        else:
            missing.append(name)
    return total, counted, missing


PERFORMANCE_ROWS = [
    ("mask training, 32-32 FNN, the tutorial's size (steps/s)", "mask_steps_per_s_fnn_32x2",
     "reference_mask_steps_per_s_fnn_32x2", "mask_speedup_over_reference_cpu_fnn_32x2"),
    ("mask training, 2000×4 FNN (steps/s)", "mask_steps_per_s_fnn_2000x4", "reference_mask_steps_per_s_fnn_2000x4",
     "mask_speedup_over_reference_cpu_fnn_2000x4"),
    ("mask training, 2000×4 FNN, freed memory kept in the heap (steps/s)", "mask_steps_per_s_kept_heap_fnn_2000x4",
     "mask_steps_per_s_returned_heap_fnn_2000x4", "kept_heap_speedup_fnn_2000x4"),
    ("mask training, 400-400-200 FNN (steps/s)", "mask_steps_per_s_fnn_400_400_200",
     "reference_mask_steps_per_s_fnn_400_400_200", "mask_speedup_over_reference_cpu_fnn_400_400_200"),
    ("shuffle null, dense MLP graphs (graphs/s)", "clustering_ours_graphs_per_s_dense",
     "clustering_sklearn_graphs_per_s_dense", "clustering_speedup_dense"),
    ("shuffle null, pruned MLP graphs (graphs/s)", "clustering_ours_graphs_per_s_pruned",
     "clustering_sklearn_graphs_per_s_pruned", "clustering_speedup_pruned"),
    ("shuffle null, VGG channel graphs (graphs/s)", "clustering_ours_graphs_per_s_vgg",
     "clustering_sklearn_graphs_per_s_vgg", "clustering_speedup_vgg"),
    ("3 mask stages together vs one at a time, 400-400-200 FNN (stage-steps/s)",
     "stages_together_stage_steps_per_s_fnn_400_400_200", "stages_alone_stage_steps_per_s_fnn_400_400_200",
     "batched_stages_speedup_fnn_400_400_200"),
]


def performance_table() -> str:
    manifest = runner.read_manifest("performance", "cpu")
    if manifest is None:
        return "The performance chapter has no published run yet.\n"
    m, state = manifest["metrics"], runner.status("performance", "cpu")[0]
    lines = [f"Run state: **{state}**{'' if state in ('fresh', 'render') else ' (made by older code)'}; "
             f"{m.get('n_threads', '?')} torch threads.", "",
             "| what | this project | baseline in the same run | speed-up |", "|---|---|---|---|"]
    for label, ours, baseline, speedup in PERFORMANCE_ROWS:
        if ours in m:
            lines.append(f"| {label} | {m[ours]:.3g} | {m[baseline]:.3g} | {m[speedup]:.2f}× |")
    lines += ["", "Baselines: the reference transcription of the paper's formula for mask training, scikit-learn for "
              "the shuffle null, the same mask stages trained one at a time for batched stages, the same mask step "
              "with freed memory returned to the system (glibc's default) for the kept heap."]
    if "mask_speedup_over_original_fnn_2000x4" in m:
        lines[-1] += (" Against the original code's speed, cited from a 2-core machine whose CPU model was not "
                      "recorded (indicative only; see the chapter), mask training of the 2000×4 FNN is "
                      f"{m['mask_speedup_over_original_fnn_2000x4']:.2f}× faster.")
    return "\n".join(lines) + "\n"


SECTIONS = {"results": results_table, "presets": presets_table, "performance": performance_table}


def generated(text: str) -> str:
    """``text`` with every generated block rewritten from today's manifests."""
    def fill(match: re.Match) -> str:
        name = match.group(2)
        if name not in SECTIONS:
            raise ValueError(f"README names an unknown generated block {name!r}; known: {', '.join(SECTIONS)}")
        return match.group(1) + SECTIONS[name]() + match.group(4)

    with runner.statuses_remembered():  # the tables ask for the same runs' statuses many times
        return BLOCK.sub(fill, text)


def update(path: Path = README, check: bool = False) -> bool:
    """Rewrite the generated blocks (or, with ``check``, only say whether they are current)."""
    text = path.read_text()
    new = generated(text)
    if check:
        return new == text
    path.write_text(new)
    return True
