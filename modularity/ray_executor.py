"""Run a notebook's independent units as Ray tasks (``python -m modularity run NB --executor ray``).

The kernel that executes the notebook is the Ray driver. Each unit that is not stored yet becomes one task
asking for the CPUs it will use (and a GPU when its parameters say ``device: cuda``); its result travels back
through Ray's object store, so workers need no shared filesystem, and ``cache.cached_many`` saves it into
this machine's per-seed store. Workers need the same ``modularity`` code (checked before computing: a result
is never stored under a key its code does not match) and the datasets in their own data root.

Without ``MODULARITY_RAY_ADDRESS`` a local Ray instance is started with ``MODULARITY_RAY_WORKERS`` CPUs
(default: all). Ray is imported only here, and only when the executor is asked for.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
from typing import Any, Iterator

import numpy as np
import torch
from tqdm import tqdm

from modularity import cache, heap, provenance

ADDRESS_ENV, WORKERS_ENV, TASK_CPUS_ENV = "MODULARITY_RAY_ADDRESS", "MODULARITY_RAY_WORKERS", "MODULARITY_RAY_TASK_CPUS"
PROGRESS_ENV = "MODULARITY_RAY_PROGRESS"


def _ray():
    try:
        import ray
    except ImportError:
        raise ImportError("--executor ray needs Ray: pip install 'modularity[ray]' (or pip install ray), then "
                          "rerun; finished seeds are kept") from None
    return ray


def _start(ray) -> None:
    if ray.is_initialized():
        return
    address = os.environ.get(ADDRESS_ENV) or None
    workers = int(os.environ[WORKERS_ENV]) if os.environ.get(WORKERS_ENV) and not address else None
    # Worker output and Ray's own log lines would land in the executed notebook: keep them out of it.
    # Workers keep freed memory as the kernel does (``heap``); on a cluster they do not inherit its environment.
    ray.init(address=address, num_cpus=workers, include_dashboard=False, log_to_driver=False,
             logging_level=logging.ERROR, runtime_env={"env_vars": heap.as_children_get()})


def _holds_arrays(value, depth: int = 3) -> bool:
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return True
    if depth == 0:
        return False
    if isinstance(value, dict):
        return any(_holds_arrays(v, depth - 1) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_holds_arrays(v, depth - 1) for v in value)
    return hasattr(value, "__dict__") and _holds_arrays(vars(value), depth - 1)


def _sent_once(unit: cache.Unit, ray, refs: dict) -> cache.Unit:
    """The unit with its data arguments replaced by object-store references, each object put once: ten seeds
    that read the same dataset ship it once, not ten times."""
    def ref(value):
        if not _holds_arrays(value):
            return value
        if id(value) not in refs:
            refs[id(value)] = (ray.put(value), value)  # the value is kept so its id is not reused meanwhile
        return refs[id(value)][0]
    return dataclasses.replace(unit, args=tuple(ref(a) for a in unit.args),
                               kwargs={k: ref(v) for k, v in unit.kwargs.items()})


def _run_unit(unit: cache.Unit, driver_code: str, threads: int) -> Any:
    """A worker's side: refuse to compute with other code than the driver's, then compute as ``cached``
    does (nested stores stay the worker's; nothing is recorded into the driver's run)."""
    if cache.package_code_hash() != driver_code:
        raise RuntimeError("this Ray worker's modularity code differs from the driver's: install the same "
                           "commit on every node (pip install -e . in each checkout), then rerun")
    for key in (provenance.ENV, cache.RESULTS_OUT, cache.PARTS_ENV):
        os.environ.pop(key, None)
    import ray

    def resolved(value):
        return ray.get(value) if isinstance(value, ray.ObjectRef) else value
    unit = dataclasses.replace(unit, args=tuple(resolved(a) for a in unit.args),
                               kwargs={k: resolved(v) for k, v in unit.kwargs.items()})
    torch.set_num_threads(threads)
    with cache._computing_inside_cache(), cache.timed() as cost:
        result = unit.compute()
    return result, cost


def compute(units: list[cache.Unit]) -> Iterator[tuple[cache.Unit, Any, dict]]:
    """``(unit, result, cost)`` for every unit, in the order they finish (cost: ``cache.timed``'s, on the
    worker)."""
    ray = _ray()
    _start(ray)
    threads = int(os.environ.get(TASK_CPUS_ENV) or 1)
    remote = ray.remote(_run_unit)
    driver_code = cache.package_code_hash()
    pending, refs = {}, {}
    for unit in units:
        gpus = 1 if unit.params.get("device") == "cuda" else 0
        pending[remote.options(num_cpus=threads, num_gpus=gpus, max_retries=0).remote(
            _sent_once(unit, ray, refs), driver_code, threads)] = unit
    # The bar goes to the terminal that started the run (the kernel's own stderr), not into the notebook.
    with tqdm(total=len(pending), desc=f"Ray tasks ({units[0].namespace}, …)", file=sys.__stderr__,
              disable=os.environ.get(PROGRESS_ENV) == "0") as bar:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            unit = pending.pop(done[0])
            result, cost = ray.get(done[0])
            bar.update()
            yield unit, result, cost
