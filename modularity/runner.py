"""Run a notebook at a preset with papermill, publish it atomically with its manifest, say whether it is fresh.

A run made with exactly a preset's parameters, from a clean committed tree, is published to
``book/runs/<notebook>/<preset>.{ipynb,json}`` with its per-seed results in ``<preset>.results/``; a run
with ``-p`` overrides, and any failed run, goes to the git-ignored ``runs_local/`` instead, so a published
run is never damaged by an experiment or a crash. Until it is published, such a run keeps its finished units in
``<preset>.parts/`` (see ``cache``), to be committed between sittings.

A run's identity has two parts. What computed its per-seed results: the package's computation modules it
loaded, the resolved parameters, the data checksums and the torch version. What turned them into the page:
the notebook source and every package module it loaded. ``status`` compares both with today's files:
``fresh`` (both equal), ``render`` (only the second changed: re-executed from the stored per-seed results
in seconds, without training) or ``stale`` (the first changed: rerun).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from modularity import __version__, cache, heap, machine, provenance
from modularity.glue import glued_values
from modularity.parameters import ParameterError, declared_parameters, load_presets, resolve

PACKAGE = Path(__file__).resolve().parent
REPO = PACKAGE.parent
# A checkout of the project has notebooks/ beside the package and publishes into book/runs; an installed
# package runs the copy of the notebooks shipped inside it and keeps every run in ./runs_local
IN_CHECKOUT = (REPO / "notebooks" / "presets.yaml").is_file() and (REPO / "book").is_dir()
NOTEBOOKS = Path(os.environ.get("MODULARITY_NOTEBOOKS")  # certify points it elsewhere
                 or (REPO / "notebooks" if IN_CHECKOUT else PACKAGE / "notebooks")).resolve()
PRESETS_FILE = NOTEBOOKS / "presets.yaml"
RUNS = Path(os.environ.get("MODULARITY_RUNS") or REPO / "book" / "runs")  # the runner passes its own to the kernel
LOCAL_RUNS = (REPO if IN_CHECKOUT else Path.cwd()).resolve() / "runs_local"
TEST_PRESET = "smoke"  # exercises every code path for the tests; never published, never in the book
REQUIRED_PRESETS = (TEST_PRESET, "cpu")
# The presets the book may show, most preferred first; any other preset (ad hoc, smoke) never replaces cpu.
BOOK_PREFERENCE = ("paper", "long", "paper_mlp", "paper_p1", "cpu_all_rows", "cpu_narrow_vgg", "cpu_small_cnn", "cpu")
CURRENT_STATES = ("fresh", "render")  # a published run today's code computes (re-rendered if need be)
RUN_ENV = "MODULARITY_RUN"  # "notebook@preset" of the run the kernel executes
IDENTITY_CELL_TAG = "modularity-identity"
IDENTITY_CELL = "from modularity import cache as _cache\n_cache.record_loaded_code()"


class RunError(RuntimeError):
    """The notebook ran and failed; the partial output is kept where the message says."""


def sha256_text(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


def shown(path: Path) -> str:
    """A path as a message shows it: relative to the checkout, or to the current folder, else absolute."""
    for base in (REPO, Path.cwd()):
        if path.resolve().is_relative_to(base.resolve()):
            return str(path.resolve().relative_to(base.resolve()))
    return str(path)


def notebook_names() -> list[str]:
    if not PRESETS_FILE.is_file():
        raise ParameterError(f"no notebooks at {NOTEBOOKS} (looked for {PRESETS_FILE.name} there): run from a checkout "
                             "of the project, or set MODULARITY_NOTEBOOKS to a folder of its notebooks")
    return sorted(p.stem for p in NOTEBOOKS.glob("*.py"))


def notebook_source(name: str) -> str:
    path = NOTEBOOKS / f"{name}.py"
    if not path.exists():
        raise ParameterError(f"unknown notebook {name!r}; available: {', '.join(notebook_names()) or 'none'}")
    return path.read_text()


GLUE_REFERENCE = re.compile(r"\{glue(?::[a-z]+)?\}`([A-Za-z0-9_]+)(?::[^`]*)?`")


def unresolved_glue(name: str, metrics: dict) -> list[str]:
    """Keys the notebook's text cites (``{glue:text}`key```) that a run did not glue: its page would show a hole."""
    return sorted(set(GLUE_REFERENCE.findall(notebook_source(name))) - set(metrics))


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


@dataclass(frozen=True)
class Executor:
    """Where a run's missing units (``cache.cached_many``) are computed: ``local`` (in the kernel, one after
    another) or ``ray`` (as Ray tasks: on the cluster at ``address``, else on a local instance with ``workers``
    CPUs), each task using ``task_cpus`` threads. The published run is the same either way when ``task_cpus`` is the
    kernel's torch thread count (float sums depend on the thread count, and training amplifies them)."""

    name: str = "local"
    address: str | None = None
    workers: int | None = None
    task_cpus: int = 1

    def __post_init__(self):
        if self.name not in ("local", "ray"):
            raise ParameterError(f"--executor must be local or ray, got {self.name!r}")
        if self.name == "local" and (self.address or self.workers):
            raise ParameterError("--address and --workers need --executor ray")
        if self.address and self.workers:
            raise ParameterError("--workers sizes a local Ray instance; a cluster at --address has its own CPUs")
        if (self.workers is not None and self.workers < 1) or self.task_cpus < 1:
            raise ParameterError(f"--workers and --task-cpus must be at least 1, got {self.workers} and "
                                 f"{self.task_cpus}")

    def environment(self, progress: bool = True) -> dict[str, str | None]:
        from modularity import ray_executor as ray

        on = self.name == "ray"
        return {cache.EXECUTOR_ENV: "ray" if on else None, ray.ADDRESS_ENV: self.address if on else None,
                ray.WORKERS_ENV: str(self.workers) if on and self.workers else None,
                ray.TASK_CPUS_ENV: str(self.task_cpus) if on else None,
                ray.PROGRESS_ENV: None if progress else "0"}

    def describe(self, units_on_ray: int = 0) -> dict:
        return {"name": self.name} if self.name == "local" else {
            "name": "ray", "address": self.address or "local instance", "task_cpus": self.task_cpus,
            "units_computed": units_on_ray} | ({"workers": self.workers} if self.workers else {})


@dataclass
class RunPaths:
    notebook: Path
    manifest: Path
    published: bool


    @property
    def results(self) -> Path:
        return self.notebook.with_suffix(".results")

    @property
    def parts(self) -> Path:
        """The finished units of a published run still being made (``cache``'s parts), removed on publishing."""
        return self.notebook.with_suffix(".parts")


def run_paths(name: str, preset: str, overrides: dict) -> RunPaths:
    """Published for exact non-smoke presets; smoke runs (tests) and overridden runs stay local."""
    if not overrides and preset != TEST_PRESET and IN_CHECKOUT:
        folder, stem, published = RUNS / name, preset, True
    else:
        tag = f"-{sha256_text(json.dumps(overrides, sort_keys=True))[:8]}" if overrides else ""
        folder, stem, published = LOCAL_RUNS / name, f"{preset}{tag}", False
    return RunPaths(folder / f"{stem}.ipynb", folder / f"{stem}.json", published)


def git_commit() -> dict:
    def git(*args):
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()

    commit = git("rev-parse", "HEAD")
    # published runs are outputs, not code: a tree whose only changes are runs just published is clean
    changes = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)book/runs")
    return {"commit": commit or None, "dirty": bool(changes)}


def hardware() -> dict:
    import torch

    return {"cpu": machine.cpu_model(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "allocator": heap.describe(heap.as_children_get())}  # as the kernel had it


def execute(name: str, preset: str, overrides: dict | None = None, progress: bool = True, render: bool = False,
            destination: RunPaths | None = None, executor: Executor | None = None) -> RunPaths:
    """Execute, then publish (exact preset) or store locally (overrides); raises RunError on failure.

    With ``render`` the published run is re-executed from its stored per-seed results, never training, and
    keeps its record of where and when the numbers were computed; ``destination`` writes the result
    elsewhere than the published run (the book stages re-rendered chapters without touching ``book/runs``).
    ``executor`` computes the notebook's missing units on Ray instead of in the kernel; the results are the same.
    """
    import jupytext
    import papermill
    import torch

    from modularity.data.root import data_root

    overrides = overrides or {}
    executor = executor or Executor()
    source = notebook_source(name)
    params = resolved_parameters(name, preset, overrides)
    root = data_root().resolve()  # a missing or unwritable data root fails here, before anything runs
    published_paths = run_paths(name, preset, overrides)
    paths = destination or published_paths
    previous = read_manifest(name, preset) if render else None
    if render and (previous is None or not published_paths.results.is_dir()):
        raise RunError(f"{name} @ {preset} has no published per-seed results to re-render from; rerun it")
    git = git_commit()
    if paths.published and destination is None and git["dirty"]:
        raise ParameterError("publishing needs a clean committed tree (git status shows changes to tracked files); "
                             "commit first, or add -p overrides to keep the run in runs_local/")
    if paths.published and destination is None:
        _check_writable(paths.notebook.parent)
    _warn_if_low_disk(root)
    LOCAL_RUNS.mkdir(parents=True, exist_ok=True)
    lock = _acquire_lock(name, preset)
    work = Path(tempfile.mkdtemp(prefix=f"{name}-{preset}-", dir=LOCAL_RUNS))
    try:
        source_nb, out_nb, prov = work / "source.ipynb", work / "executed.ipynb", work / "provenance.json"
        results_out = work / "results"
        notebook = jupytext.reads(source, fmt="py:percent")
        notebook.cells.append(jupytext.reads(f"# %% tags=[\"remove-cell\", \"{IDENTITY_CELL_TAG}\"]\n{IDENTITY_CELL}\n",
                                             fmt="py:percent").cells[0])
        notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        notebook.metadata["language_info"] = {"name": "python"}
        jupytext.write(notebook, source_nb)
        run_env = {provenance.ENV: str(prov), "MODULARITY_PROGRESS": "0", cache.RESULTS_OUT: str(results_out),
                   "MODULARITY_DATA": str(root),  # the kernel runs in notebooks/: never relative
                   "MODULARITY_RUNS": str(RUNS.resolve()),  # published runs a chapter shows beside its own
                   RUN_ENV: f"{name}@{preset}",
                   "JUPYTER_RUNTIME_DIR": str(work / "runtime"),  # kernel connection files go with the work folder
                   cache.RESULTS_IN: str(published_paths.results) if render else None,
                   cache.PARTS_ENV: str(paths.parts.resolve()) if paths.published and not render else None,
                   cache.RENDER_ONLY_ENV: "1" if render else None} | executor.environment(progress) \
            | heap.child_environment()  # the kernel keeps freed memory: no page faults on each step
        if progress:  # papermill logs the kernel's printed lines (per-seed progress) at INFO
            _show_papermill_log()
        started, t0 = dt.datetime.now(dt.timezone.utc), time.time()
        try:
            with _environment(run_env):
                papermill.execute_notebook(
                    str(source_nb), str(out_nb), parameters=params, kernel_name="python3", progress_bar=progress,
                    log_output=progress, cwd=str(NOTEBOOKS),
                )
        except (Exception, KeyboardInterrupt) as error:  # papermill's errors, plain ones (kernel died), Ctrl-C
            kept = LOCAL_RUNS / name / f"{preset}-failed.ipynb"
            kept.parent.mkdir(parents=True, exist_ok=True)
            if out_nb.exists():
                os.replace(out_nb, kept)
            if isinstance(error, KeyboardInterrupt):
                print(f"interrupted; partial output kept in {shown(kept)}", file=sys.stderr)
                raise
            raise RunError(f"notebook {name!r} failed at preset {preset!r}: {_first_line(error)}; "
                           f"partial output kept in {shown(kept)}") from None
        wall = time.time() - t0
        executed = _without_identity_cell(out_nb)
        recorded = provenance.read(prov)
        data = recorded.get("data", {})
        results_files = ({str(f.relative_to(results_out)): sha256_text(f.read_bytes())
                          for f in sorted(results_out.rglob("*.pt.gz"))} if results_out.is_dir() else {})
        identity = recorded.get("identity", {})
        manifest = {
            "notebook": name, "preset": preset, "published": paths.published,
            "parameters": params, "overrides": overrides,
            "source_sha256": sha256_text(source),
            "notebook_sha256": sha256_text(out_nb.read_bytes()),
            "package_version": __version__, "git": git,
            "python": platform.python_version(), "torch_version": torch.__version__,
            "hardware": hardware(), "device": recorded.get("run", {}).get("device", "cpu"),
            "data": data,
            "started_at": started.isoformat(timespec="seconds"), "wall_time_s": round(wall, 1),
            "executor": executor.describe(recorded.get("run", {}).get("ray_units", 0)),
            "units": recorded.get("run", {}).get("units"),  # the per-seed units and what they cost, parts included
            "identity": {
                "results": {"code": identity.get("results_code", {}), "parameters": params,
                            "data": {k: v.get("checksums") for k, v in data.items()}, "torch": torch.__version__},
                "render": {"notebook": sha256_text(source), "code": identity.get("render_code", {})},
                "results_files": results_files, "reads_runs": identity.get("reads_runs", {}),
                "renderable": bool(results_files) and not identity.get("trains_outside_cache", False),
            },
            "metrics": glued_values(executed),
        }
        if render:  # the numbers were computed by the earlier run: keep its record, note the re-render
            for key in ("git", "hardware", "device", "started_at", "wall_time_s", "python", "torch_version", "units"):
                manifest[key] = previous.get(key)
            manifest["executor"] = previous.get("executor", {"name": "local"})
            manifest["identity"]["results"] = previous["identity"]["results"]
            if "certified" in previous["identity"]:
                manifest["identity"]["certified"] = previous["identity"]["certified"]
            manifest["rendered"] = {"git": git, "at": started.isoformat(timespec="seconds"),
                                    "wall_time_s": round(wall, 1)}
            if not set(results_files.values()) <= set(previous["identity"]["results_files"].values()):
                raise RunError(f"re-rendering {name} @ {preset} read per-seed results that were not published")
        if render and destination is None:  # republish the same results under today's file names
            manifest["identity"]["results_files"] = results_files
        _publish(out_nb, manifest, paths, None if render and destination is not None else results_out)
        if paths.published and not render:  # the published results hold every unit now
            shutil.rmtree(paths.parts, ignore_errors=True)
    finally:  # an interrupted or failed run leaves neither its work folder nor its lock behind
        shutil.rmtree(work, ignore_errors=True)
        lock.unlink(missing_ok=True)
    return paths


@contextlib.contextmanager
def _environment(values: dict[str, str | None]):
    """Set (or, for None, unset) environment variables for the kernel; restore them afterwards."""
    before = {key: os.environ.get(key) for key in values}

    def apply(settings: dict[str, str | None]) -> None:
        for key, value in settings.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    apply(values)
    try:
        yield
    finally:
        apply(before)


def _check_writable(folder: Path) -> None:
    """Refuse before the run, not after it, when its result could not be published."""
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not os.access(existing, os.W_OK):
        raise ParameterError(f"cannot publish to {folder}: {existing} is not writable; fix its permissions or run "
                             "with -p overrides to keep the result in runs_local/")


def _warn_if_low_disk(folder: Path, needed_gb: float = 1.0) -> None:
    free = shutil.disk_usage(folder).free / 1e9
    if free < needed_gb:
        print(f"warning: only {free:.1f} GB free under {folder}; checkpoints and caches may not fit", file=sys.stderr)


def _acquire_lock(name: str, preset: str) -> Path:
    """One run per (notebook, preset) at a time: a second one is refused with the first one's PID."""
    lock = LOCAL_RUNS / "locks" / f"{name}-{preset}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        try:
            pid = int(lock.read_text().strip() or 0)
        except (OSError, ValueError):
            pid = 0
        if pid and _alive(pid):
            raise ParameterError(f"{name} @ {preset} is already running (PID {pid}); wait for it, or stop it and "
                                 f"remove {lock}") from None
        lock.unlink(missing_ok=True)  # left by a run that died: take it over
        return _acquire_lock(name, preset)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(str(os.getpid()))
    return lock


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _without_identity_cell(path: Path) -> dict:
    """Drop the runner's identity cell from the executed notebook (in place); returns the notebook."""
    executed = json.loads(path.read_text())
    executed["cells"] = [c for c in executed["cells"]
                         if IDENTITY_CELL_TAG not in c.get("metadata", {}).get("tags", [])]
    path.write_text(json.dumps(executed, indent=1, ensure_ascii=False) + "\n")
    return executed


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


def _publish(executed: Path, manifest: dict, paths: RunPaths, results: Path | None) -> None:
    """Replace the results, the notebook, then the manifest; the manifest's hashes of the notebook and the
    results detect a torn set."""
    paths.notebook.parent.mkdir(parents=True, exist_ok=True)
    if results is not None:
        old = paths.results.with_name(paths.results.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if paths.results.exists():
            os.replace(paths.results, old)
        if results.is_dir():
            shutil.move(str(results), str(paths.results))
        shutil.rmtree(old, ignore_errors=True)
    tmp_notebook = paths.notebook.with_suffix(".ipynb.tmp")
    os.replace(executed, tmp_notebook)
    os.replace(tmp_notebook, paths.notebook)
    write_manifest(paths.manifest, manifest)


def write_manifest(path: Path, manifest: dict) -> None:
    """Replace a manifest atomically (never a half-written one)."""
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)


def read_manifest(name: str, preset: str) -> dict | None:
    path = RUNS / name / f"{preset}.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ParameterError(f"the published manifest {path} is damaged ({error}); restore it with "
                             f"`git checkout -- {shown(path)}` or rerun the notebook") from None


def published_beside(name: str, preset: str) -> dict | None:
    """Another published run's ``{"parameters", "metrics"}`` for a chapter to show beside its own numbers (a
    larger preset beside the ``cpu`` one), or None when it has none. The reading is recorded: when that run is
    republished, this one is marked for re-rendering. A run never sees itself beside itself (None)."""
    if os.environ.get(RUN_ENV) == f"{name}@{preset}":
        return None
    manifest = read_manifest(name, preset)
    if manifest is None:
        return None
    read = provenance.current("identity").get("reads_runs", {})
    provenance.record("identity", "reads_runs", read | {f"{name}@{preset}": manifest["notebook_sha256"]})
    return {"parameters": manifest["parameters"], "metrics": manifest["metrics"]}


def staleness(name: str, preset: str) -> str | None:
    """None when the published run is fresh, else why not (``render``: why it needs re-rendering)."""
    state, reason = status(name, preset)
    return None if state == "fresh" else reason


_remembered_statuses: dict | None = None  # set inside ``statuses_remembered``


@contextlib.contextmanager
def statuses_remembered():
    """Inside the block each (notebook, preset)'s status is computed once: for readers of many statuses (the
    README's tables) while nothing is published. Hashing a run's files is what makes a status slow."""
    global _remembered_statuses
    outer = _remembered_statuses
    _remembered_statuses = {} if outer is None else outer
    try:
        yield
    finally:
        _remembered_statuses = outer


def status(name: str, preset: str) -> tuple[str, str]:
    """``(state, reason)``: ``fresh``, ``render`` (only presentation changed), ``stale`` or ``missing``."""
    if _remembered_statuses is None:
        return _status(name, preset)
    if (name, preset) not in _remembered_statuses:
        _remembered_statuses[name, preset] = _status(name, preset)
    return _remembered_statuses[name, preset]


def kept_parts(name: str, preset: str) -> tuple[int, float]:
    """How many finished units a run not yet published keeps in its parts folder, and the CPU hours they took
    (as far as timed). They are read only by the code that made them (their names carry its hash)."""
    folder = RUNS / name / f"{preset}.parts"
    count, seconds = 0, 0.0
    for part in folder.rglob("*.pt.gz"):
        count, seconds = count + 1, seconds + (cache.core_seconds(part) or 0.0)
    return count, seconds / 3600


def _status(name: str, preset: str) -> tuple[str, str]:
    from modularity.data import registry

    try:
        manifest = read_manifest(name, preset)
    except ParameterError as error:
        return "stale", str(error)
    if manifest is None:
        parts, _ = kept_parts(name, preset)
        return "missing", f"missing; {parts} finished units kept in {preset}.parts" if parts else "missing"
    notebook = RUNS / name / f"{preset}.ipynb"
    if not notebook.exists() or sha256_text(notebook.read_bytes()) != manifest.get("notebook_sha256"):
        return "stale", "published notebook does not match its manifest"
    identity = manifest.get("identity")
    if identity is None:
        git = manifest.get("git", {})
        return "stale", (f"made before runs recorded the code that computed them (commit "
                         f"{(git.get('commit') or '?')[:8]}{', uncommitted changes' if git.get('dirty') else ''})")
    try:
        params = resolved_parameters(name, preset)
    except ParameterError as error:
        return "stale", f"preset no longer valid: {error}"
    changed = changed_parameters(name, params, identity["results"]["parameters"])
    if changed:
        return "stale", f"parameters changed: {', '.join(changed)}"
    for dataset, recorded in identity["results"]["data"].items():
        current = registry.current_checksums(dataset)
        if current is not None and current != recorded:
            return "stale", f"data {dataset!r} changed"
    import torch

    if identity["results"]["torch"].split("+")[0] != torch.__version__.split("+")[0]:  # a build tag (+cpu) aside
        return "stale", f"made with torch {identity['results']['torch']}, this environment has {torch.__version__}"
    changed = changed_results_code(identity)
    if changed:
        return "stale", f"package code changed: {', '.join(changed)}"
    results = RUNS / name / f"{preset}.results"
    for relative, sha in identity["results_files"].items():
        path = results / relative
        if not path.exists() or sha256_text(path.read_bytes()) != sha:
            return "stale", f"stored per-seed result {shown(path)} is missing or damaged"
    presentation = []
    if identity["render"]["notebook"] != sha256_text(notebook_source(name)):
        presentation.append("notebook")
    presentation += [f for f in _changed_files(identity["render"]["code"]) if f not in cache.PIPELINE]
    for run, sha in identity.get("reads_runs", {}).items():  # numbers shown beside from another published run
        other = read_manifest(*run.split("@"))
        if other is None or other.get("notebook_sha256") != sha:
            presentation.append(f"{run} republished")
    if not presentation:
        return "fresh", ""
    if not identity.get("renderable"):
        return "stale", (f"changed: {', '.join(presentation)}; the run cannot be re-rendered (it trains outside the "
                         "per-seed cache)")
    return "render", f"changed: {', '.join(presentation)}"


def changed_parameters(name: str, params: dict, recorded: dict) -> list[str]:
    """Parameters whose value differs from the run's. A parameter the notebook declared after the run, left at
    its default, asks nothing new of the results: the run is re-rendered (its notebook changed), and a default
    that did change a computation would miss the per-seed cache, which a re-render refuses."""
    declared = declared_parameters(notebook_source(name))
    added_at_default = {k for k in set(params) - set(recorded) if params[k] == declared[k].default}
    return sorted(k for k in (set(params) | set(recorded)) - added_at_default if params.get(k) != recorded.get(k))


def changed_results_code(identity: dict) -> list[str]:
    """Modules that computed the run and differ today from both the recorded and any certified version."""
    accepted = {}
    for entry in identity.get("certified", []):
        for relative, sha in entry["files"].items():
            if entry["replaces"].get(relative) == identity["results"]["code"].get(relative):
                accepted.setdefault(relative, set()).add(sha)
    recorded = identity["results"]["code"]
    today = current_code_versions(recorded)
    return [f for f, sha in recorded.items() if today.get(f) != sha and today.get(f) not in accepted.get(f, set())]


def current_code_versions(files) -> dict[str, str]:
    """``{file: sha256}`` of today's versions of these package files (relative paths); a deleted one is absent."""
    from modularity.cache import PACKAGE_DIR

    return {f: sha256_text((PACKAGE_DIR / f).read_bytes()) for f in files if (PACKAGE_DIR / f).exists()}


def changed_since_run(identity: dict) -> list[str]:
    """The modules that computed a run and differ today from the versions it recorded (certified or not)."""
    return _changed_files(identity["results"]["code"])


def _changed_files(recorded: dict[str, str]) -> list[str]:
    today = current_code_versions(recorded)
    return [f for f, sha in recorded.items() if today.get(f) != sha]


def run_table() -> list[dict]:
    """One row per (notebook, preset): freshness, runtime, device, commit."""
    rows = []
    for name in notebook_names():
        try:
            presets = presets_of(name)
        except ParameterError as error:
            rows.append({"notebook": name, "preset": "-", "status": str(error), "error": str(error)})
            continue
        for preset in presets:
            if preset == TEST_PRESET:
                rows.append({"notebook": name, "preset": preset, "status": "test preset (never published)"})
                continue
            try:
                manifest = read_manifest(name, preset) or {}
            except ParameterError:
                manifest = {}  # status says what is wrong with it
            state, reason = status(name, preset)
            rows.append({
                "notebook": name, "preset": preset, "state": state, "reason": reason,
                "status": state if state in ("fresh", "missing") else f"{state}: {reason}",
                "wall_time_s": manifest.get("wall_time_s"), "device": manifest.get("device"),
                "commit": (manifest.get("git", {}).get("commit") or "")[:8],
            })
    return rows


def book_presets(name: str) -> dict[str, str]:
    """``{preset: state}`` of the notebook's ``BOOK_PREFERENCE`` presets whose run is fresh or only needs
    re-rendering, most preferred first; an ad-hoc or smoke preset never."""
    presets = presets_of(name)
    states = {p: status(name, p)[0] for p in BOOK_PREFERENCE if p in presets}
    return {p: state for p, state in states.items() if state in CURRENT_STATES}


def best_fresh_preset(name: str) -> str | None:
    """The preset the book shows: the first of ``book_presets``."""
    return next(iter(book_presets(name)), None)


def main_run(name: str, preset: str, overrides: dict, render: bool = False, executor: Executor | None = None) -> int:
    paths = execute(name, preset, overrides, render=render, executor=executor)
    where = "published" if paths.published else "stored locally (smoke and overridden runs are never published)"
    print(f"{name} @ {preset}: {where} → {shown(paths.notebook)}", file=sys.stderr)
    return 0
