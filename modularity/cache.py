"""Per-seed result cache in the data root, keyed by (hash of the code that computes, parameters, seed).

"The code that computes" is, by default, every computation module the notebook has loaded. A store that
names its ``scope`` (the module whose functions compute it, e.g. an experiment) is keyed by that module and
the package modules it imports, directly or not, instead: two notebooks that train the same network with the
same parameters then share the entry (the masks-vs-clusters chapter reuses the add/mul chapter's networks and
masks), and an edit to a module outside the scope does not throw away a long run's finished seeds.

An interrupted run resumes from the seeds already finished; a long preset can be run a few seeds at a time
and merged; a rerun with more seeds reuses the finished ones. Every stored file has a sha256 beside it and
is checked on load: a damaged entry is reported with its path, moved aside and recomputed, never reused.

``cached_many`` takes a notebook's independent units (seeds, β values, sizes) at once: one after another by
default, or as Ray tasks when the runner was given ``--executor ray`` (see ``ray_executor``), their results
coming back to this process and into the same store.

Under the runner, each ``cached`` result is also copied (compressed) into the run's results folder, which is
published with the run: a chapter can then be re-rendered from them on a fresh clone without training
(``MODULARITY_RESULTS_IN`` points at them, ``MODULARITY_RENDER_ONLY`` forbids computing anything new).

A run too long for one sitting keeps its finished units as *parts* beside where it will be published
(``book/runs/<notebook>/<preset>.parts/``, ``MODULARITY_PARTS``): each unit the run computes or reads from
the cache is copied there (compressed, under its cache name, so a part made by other code is never read), and
a unit missing from the cache is read from there. Parts are committed between sittings, so a run made in
parts survives a new machine without its cache; publishing the run removes them. Only finished units travel:
a unit interrupted half-way starts again on a new machine.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import gzip
import hashlib
import importlib.util
import io
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from modularity import provenance
from modularity.checked_files import read_checked, write_checked
from modularity.data.root import data_root

__all__ = ["SeedStore", "Unit", "cached", "cached_many"]

PACKAGE_DIR = Path(__file__).resolve().parent
# Modules that run, publish or display experiments, or judge their per-seed results, but never change what a
# seed computes: editing them calls for re-rendering a chapter, not retraining it (a test checks that no
# experiment computes with them).
RENDER_ONLY = {"__main__.py", "authors.py", "bench.py", "bench_clustering.py", "book.py", "cache.py", "certify.py",
               "chance.py", "clusterability_report.py", "comparison.py", "costs.py", "glue.py", "judged.py",
               "parameters.py", "plots.py", "provenance.py", "ray_executor.py", "readme.py", "runner.py",
               "stats.py", "tables.py", "verdicts.py"}
# Modules that only run notebooks and publish them — they never shape a number, a word or a figure of a page,
# so editing them leaves every run fresh.
PIPELINE = {"__main__.py", "book.py", "cache.py", "certify.py", "costs.py", "provenance.py", "ray_executor.py",
            "readme.py", "runner.py"}
RESULTS_IN, RESULTS_OUT, RENDER_ONLY_ENV = "MODULARITY_RESULTS_IN", "MODULARITY_RESULTS_OUT", "MODULARITY_RENDER_ONLY"
PARTS_ENV = "MODULARITY_PARTS"  # a run's committed store of finished units (see the module docstring)
EXECUTOR_ENV = "MODULARITY_EXECUTOR"  # "ray" sends ``cached_many``'s missing units to Ray; unset: this process
_computing = 0  # > 0 while a ``cached`` compute runs: training outside it makes a run impossible to re-render


class RenderError(RuntimeError):
    """A re-render needed a result that was not stored: the change was computational, so rerun the notebook."""


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def package_relative(path: Path) -> str:
    return str(path.resolve().relative_to(PACKAGE_DIR))


def loaded_package_files() -> dict[str, str]:
    """``{path relative to the package: sha256}`` of every loaded ``modularity`` module."""
    files = {}
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and (name == "modularity" or name.startswith("modularity.")):
            files[package_relative(Path(file))] = file_sha256(Path(file))
    return files


def is_computation(relative: str) -> bool:
    return not ("/" not in relative and relative in RENDER_ONLY)


@functools.lru_cache(maxsize=1)
def code_files() -> dict[str, str]:
    """The computation modules loaded when the first seed is cached (a notebook imports its experiment,
    which imports all it uses) with their sha256: changing one invalidates cached seeds, while an edit to a
    module the experiment never loads does not. Recorded for the run's manifest."""
    files = {path: sha for path, sha in sorted(loaded_package_files().items()) if is_computation(path)}
    provenance.record("identity", "results_code", files)
    return files


def code_hash(scope: str | None = None) -> str:
    files = code_files() if scope is None else scope_files(scope)
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()


def _module_file(name: str) -> Path | None:
    """The source file of a ``modularity`` module (None for names that are not package modules)."""
    parts = name.split(".")
    if parts[0] != "modularity":
        return None
    base = PACKAGE_DIR.joinpath(*parts[1:])
    return next((f for f in (base / "__init__.py", base.with_suffix(".py")) if f.is_file()), None)


def _imported_package_modules(name: str) -> set[str]:
    """The ``modularity`` modules a module's source imports (parent packages included)."""
    file = _module_file(name)
    package = name if file.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(file.read_text(), filename=str(file))):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
            candidates = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for candidate in candidates:
            if _module_file(candidate) is not None:
                parts = candidate.split(".")
                found.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return found


def package_code_hash() -> str:
    """Hash of every computation module of the installed package: a Ray worker checks it equals the
    driver's before computing, so no result is stored under a key its code does not match."""
    files = {package_relative(f): file_sha256(f) for f in sorted(PACKAGE_DIR.rglob("*.py"))}
    return hashlib.sha256(json.dumps({k: v for k, v in files.items() if is_computation(k)},
                                     sort_keys=True).encode()).hexdigest()


@functools.lru_cache(maxsize=None)
def scope_files(scope: str) -> dict[str, str]:
    """``{path: sha256}`` of the computation modules in ``scope``'s import closure within the package."""
    seen, todo = set(), [scope]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(_imported_package_modules(name) - seen)
    paths = {package_relative(_module_file(name)) for name in seen}
    return {path: file_sha256(PACKAGE_DIR / path) for path in sorted(paths) if is_computation(path)}


def record_loaded_code() -> None:
    """Record every loaded package module (the run's render identity); the runner calls it last."""
    provenance.record("identity", "render_code", {path: sha for path, sha in sorted(loaded_package_files().items())
                                                  if path not in PIPELINE})
    if "results_code" not in provenance.current("identity"):
        code_files()  # a notebook that cached nothing: every loaded computation module computed its numbers


def cache_key(params: dict, seed: int, scope: str | None = None) -> str:
    blob = json.dumps({"code": code_hash(scope), "params": params, "seed": seed}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def published_name(params: dict, seed: int) -> str:
    """A published result's file name: (parameters, seed) only. The run's manifest records the code that
    computed it, and ``runner.status`` checks that code before any re-render reads the file."""
    blob = json.dumps({"params": params, "seed": seed}, sort_keys=True, default=str)
    return f"seed{seed}-p{hashlib.sha256(blob.encode()).hexdigest()[:20]}"


def cache_path(namespace: str, params: dict, seed: int, scope: str | None = None) -> Path:
    return data_root() / "cache" / namespace / f"seed{seed}-{cache_key(params, seed, scope)}.pt"


def save_checked(path: Path, value) -> None:
    """Write ``value`` atomically with a ``.sha256`` beside it; no partial file is left on failure."""
    buffer = io.BytesIO()
    torch.save(value, buffer)
    try:
        write_checked(path, buffer.getvalue())
    except OSError as error:
        raise OSError(f"could not write the cache entry {path}: {error.strerror or error}; free space or fix the "
                      f"folder's permissions (or point MODULARITY_DATA elsewhere), then rerun: finished seeds are "
                      "kept") from None


def _cost_path(path: Path) -> Path:
    return path.with_name(path.name + ".cost.json")


# One record per open ``timed`` block: the finished stages (``SeedStore``) read inside it instead of computed,
# and what they cost when they were computed.
_open_records: list[dict] = []


@contextlib.contextmanager
def timed():
    """``{"threads": torch's, "seconds": wall, "cpu_seconds": CPU time of every thread of this process}`` of the
    block, filled on exit. CPU time, not wall time × threads, is what a unit cost: on a shared machine the two
    differ. Finished stages the block read from a ``SeedStore`` add what they cost when computed
    (``reused_stages``), so a unit resumed in a later sitting reports the work of every stage, not only of its
    last part; ``reused_stages_untimed`` counts those stored without a cost (the unit's total is then unknown).
    A stage resumed mid-way from a checkpoint counts from its resumption."""
    record = {"count": 0, "cpu_seconds": 0.0, "untimed": 0}
    cost, wall, cpu = {"threads": torch.get_num_threads()}, time.perf_counter(), time.process_time()
    _open_records.append(record)
    try:
        yield cost
    finally:
        _open_records.remove(record)
    cost.update(seconds=round(time.perf_counter() - wall, 1),
                cpu_seconds=round(time.process_time() - cpu + record["cpu_seconds"], 1))
    if record["count"]:
        cost.update(reused_stages=record["count"], reused_stages_untimed=record["untimed"])


def _count_reused_stage(cpu_seconds: float | None) -> None:
    for record in _open_records:  # a unit computed inside another counts for both
        record["count"] += 1
        if cpu_seconds is None:
            record["untimed"] += 1
        else:
            record["cpu_seconds"] += cpu_seconds


def save_cost(path: Path, cost: dict) -> None:
    """Beside a computed entry, what it cost (``timed``): a run made in parts can then say what all its units
    took."""
    _cost_path(path).write_text(json.dumps(cost))


def _cost(path: Path) -> dict:
    try:
        cost = json.loads(_cost_path(path).read_text())
    except (OSError, ValueError):
        return {}
    return cost if isinstance(cost, dict) else {}


def core_seconds(path: Path) -> float | None:
    """CPU seconds an entry took to compute, or None when it was not timed (made before timing, or it read
    finished stages stored without their cost)."""
    return _cpu_seconds(_cost(path))


def _cpu_seconds(cost: dict) -> float | None:
    if cost.get("reused_stages_untimed"):
        return None
    try:
        return float(cost["cpu_seconds"])
    except (KeyError, TypeError, ValueError):
        return None


_computed_here: set[Path] = set()  # entries this process (or its Ray tasks) computed, not read from earlier runs


def unit_label(namespace: str, params: dict) -> str:
    """What a unit computes, for the record of what a run's units cost: its store, and the kind of network when
    its parameters name one (a run that trains MLPs and VGGs can then say what each took)."""
    kind = params.get("kind")
    return f"{namespace} ({kind})" if isinstance(kind, str) else namespace


def _count_unit(path: Path, label: str) -> None:
    """Add one of the run's units to its record: how many, how many computed by this run, what they cost, and
    how many and what they cost by ``label``."""
    units = provenance.current("run").get("units", {"count": 0, "computed_here": 0, "timed": 0, "core_s": 0.0})
    record = _cost(path)
    cost = _cpu_seconds(record)
    reused = record.get("reused_stages", 0) if path in _computed_here else 0
    by_label = dict(units.get("by_label", {}))
    was = by_label.get(label, {"count": 0, "core_s": 0.0})
    by_label[label] = {"count": was["count"] + 1, "core_s": round(was["core_s"] + (cost or 0.0), 1)}
    reused += units.get("reused_stages", 0)  # finished stages the units computed here read instead of training
    units = {"count": units["count"] + 1, "computed_here": units["computed_here"] + (path in _computed_here),
             "timed": units["timed"] + (cost is not None), "core_s": round(units["core_s"] + (cost or 0.0), 1),
             "by_label": by_label} | ({"reused_stages": reused} if reused else {})
    provenance.record("run", "units", units)


def load_checked(path: Path):
    """The stored value, or None when absent or damaged (damaged entries are moved aside with a warning)."""
    data = read_checked(path, "cache entry", "recomputing")
    return None if data is None else torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)


def _published_path(namespace: str, name: str) -> Path | None:
    """Where a published result is read from when re-rendering (None when not re-rendering)."""
    folder = os.environ.get(RESULTS_IN)
    return Path(folder) / namespace / f"{name}.pt.gz" if folder else None


def _published_result(namespace: str, name: str) -> tuple[Any, bytes | None]:
    """``(value, stored bytes)`` of a published result, or ``(None, None)``."""
    path = _published_path(namespace, name)
    if path is None or not path.exists():
        return None, None
    stored = path.read_bytes()
    return torch.load(io.BytesIO(gzip.decompress(stored)), map_location="cpu", weights_only=False), stored


def _store_result(namespace: str, name: str, value, stored: bytes | None = None) -> None:
    """Copy a result into the run's results folder (the published bytes themselves when re-rendering)."""
    folder = os.environ.get(RESULTS_OUT)
    if not folder:
        return
    path = Path(folder) / namespace / f"{name}.pt.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    if stored is None:
        buffer = io.BytesIO()
        torch.save(value, buffer)
        stored = gzip.compress(buffer.getvalue(), compresslevel=9, mtime=0)
    path.write_bytes(stored)


def _part_path(path: Path) -> Path | None:
    """Where the cache entry ``path`` is kept as a part of the run (None when the run keeps no parts)."""
    folder = os.environ.get(PARTS_ENV)
    if not folder:
        return None
    return Path(folder) / path.relative_to(data_root() / "cache").with_name(path.stem + ".pt.gz")


def _keep_part(path: Path) -> None:
    """Copy a finished unit's cache entry (and what it cost) into the run's parts, once."""
    part = _part_path(path)
    if part is None or part.exists():
        return
    write_checked(part, gzip.compress(path.read_bytes(), compresslevel=9, mtime=0))
    _copy_cost(path, part)


def _restore_part(path: Path) -> bool:
    """Put a unit kept as a part back into the cache; False when there is none (or it is damaged)."""
    part = _part_path(path)
    data = None if part is None else read_checked(part, "run part", "recomputing that unit")
    if data is None:
        return False
    write_checked(path, gzip.decompress(data))
    _copy_cost(part, path)
    return True


def _copy_cost(source: Path, target: Path) -> None:
    """What ``source`` cost, beside its copy ``target`` (an entry made before costs were kept has none)."""
    with contextlib.suppress(OSError):
        shutil.copyfile(_cost_path(source), _cost_path(target))


def _store_computed(path: Path, value, cost: dict) -> None:
    """Store a result this run computed (here or on Ray) with what it cost."""
    save_checked(path, value)
    save_cost(path, cost)
    _computed_here.add(path)


@contextlib.contextmanager
def _computing_inside_cache():
    global _computing
    _computing += 1
    try:
        yield
    finally:
        _computing -= 1


def note_training() -> None:
    """Called by the training loop: training outside ``cached`` means the run cannot be re-rendered."""
    if os.environ.get(RENDER_ONLY_ENV) == "1":
        raise RenderError("re-rendering would need training: the change is computational; rerun the notebook")
    if not _computing:
        provenance.record("identity", "trains_outside_cache", True)


def cached(namespace: str, params: dict, seed: int, compute: Callable[[], Any], scope: str | None = None) -> Any:
    """``compute()``'s result for this seed, loaded when already computed, else computed and saved; keyed
    by ``scope``'s code when given (see the module docstring)."""
    published = published_name(params, seed)
    result, stored = _published_result(namespace, published)
    if result is None:
        path = cache_path(namespace, params, seed, scope)
        if not _computing and not path.exists():
            _restore_part(path)  # a unit an earlier sitting kept, perhaps on another machine
        result = load_checked(path)
        if result is None:
            if os.environ.get(RENDER_ONLY_ENV) == "1":
                raise RenderError(f"no stored result {namespace}/{path.stem}: the change is computational; rerun "
                                  "the notebook")
            with _computing_inside_cache(), timed() as cost:
                result = compute()
            _store_computed(path, result, cost)
        if not _computing:  # a result computed inside another one travels as part of that one
            _keep_part(path)  # also a unit computed before this run kept parts
            _count_unit(path, unit_label(namespace, params))
    if not _computing:  # a result computed inside another cached result is published as part of that one
        _store_result(namespace, published, result, stored)
    return result


@dataclass(frozen=True)
class Unit:
    """One independent piece of a notebook's work, ``fn(*args, **kwargs)``, cached under
    (``namespace``, ``params``, ``seed``) like ``cached``. ``fn`` must be a module-level function (it is
    named, not copied, when sent to a worker) and its arguments are bound now: a lambda inside a loop would
    see the loop's last values by the time an executor calls it."""

    namespace: str
    params: dict
    seed: int
    fn: Callable
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    scope: str | None = None

    def __post_init__(self):
        name = getattr(self.fn, "__qualname__", "")
        if not callable(self.fn) or "<lambda>" in name or "<locals>" in name:
            raise TypeError(f"Unit {self.namespace!r} seed {self.seed}: fn must be a module-level function, got "
                            f"{self.fn!r}; pass the function and its arguments (args=, kwargs=) instead of a lambda")

    def compute(self):
        return self.fn(*self.args, **self.kwargs)

    def path(self) -> Path:
        return cache_path(self.namespace, self.params, self.seed, self.scope)

    def available(self) -> bool:
        published = _published_path(self.namespace, published_name(self.params, self.seed))
        part = _part_path(self.path())
        return bool(published and published.exists()) or self.path().exists() or bool(part and part.exists())


def cached_many(units: list[Unit]) -> list[Any]:
    """Each unit's result, in order, as ``cached`` gives it. Under ``--executor ray`` the units not yet
    stored run first as Ray tasks, each result saved here as it arrives (an interrupted run keeps them);
    then every result is read back in order, so the notebook and its published results are the local
    executor's."""
    units = list(units)
    if os.environ.get(EXECUTOR_ENV) == "ray" and os.environ.get(RENDER_ONLY_ENV) != "1":
        for unit in units:  # finished before parts were kept: keep them before the long wait for the others
            if unit.path().exists():
                _keep_part(unit.path())
        missing = list({unit.path(): unit for unit in units if not unit.available()}.values())
        if missing:
            from modularity import ray_executor

            for unit, result, cost in ray_executor.compute(missing):
                _store_computed(unit.path(), result, cost)
                _keep_part(unit.path())  # kept as it arrives: an interruption loses only running units
            provenance.record("run", "ray_units", provenance.current("run").get("ray_units", 0) + len(missing))
    return [cached(unit.namespace, unit.params, unit.seed, unit.compute, unit.scope) for unit in units]


class SeedStore:
    """Resumable pieces of one seed's work: finished stages are kept, unfinished ones checkpointed."""

    def __init__(self, namespace: str, params: dict, seed: int, scope: str | None = None):
        self.namespace = namespace
        self.seed = seed
        self.stem = f"seed{seed}-{cache_key(params, seed, scope)}"
        self._started: float | None = None  # this process's CPU time when the stage being computed was missed

    @property
    def folder(self) -> Path:  # resolved where it is used: a Ray worker on another machine has its own data root
        return data_root() / "cache" / self.namespace

    def checkpoint(self, stage: str) -> Path:
        return self.folder / f"{self.stem}.{stage}.ckpt"

    def _done(self, stage: str) -> Path:
        return self.folder / f"{self.stem}.{stage}.done"

    def load(self, stage: str):
        """The finished stage, or None (then the caller computes it, and ``save`` records what that cost)."""
        path = self._done(stage)
        value = load_checked(path)
        if value is None:
            self._started = time.process_time()
        else:
            _count_reused_stage(core_seconds(path))
        return value

    def save(self, stage: str, value) -> None:
        path = self._done(stage)
        save_checked(path, value)
        if self._started is not None:  # a stage saved without being looked up first has no known cost
            save_cost(path, {"threads": torch.get_num_threads(),
                             "cpu_seconds": round(time.process_time() - self._started, 1)})
        else:
            _cost_path(path).unlink(missing_ok=True)
        self._started = None
