"""Per-seed result cache in the data root, keyed by (hash of the code that computes, parameters, seed).

An interrupted run resumes from the seeds already finished; a long preset can be run a few seeds at a time
and merged; a rerun with more seeds reuses the finished ones. Nothing here is ever committed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable

import torch

from modularity.data.root import data_root

PACKAGE_DIR = Path(__file__).resolve().parent
# Modules that run, publish or display experiments but never change what one computes.
NOT_COMPUTATION = {"__main__.py", "bench.py", "bench_clustering.py", "book.py", "cache.py", "glue.py",
                   "parameters.py", "plots.py", "provenance.py", "runner.py"}


@functools.lru_cache(maxsize=1)
def code_hash() -> str:
    """sha256 over the sources of the package modules that compute results and are loaded when the first
    seed is cached (a notebook imports its experiment, which imports all it uses): changing them invalidates
    cached seeds, while an edit to a module the experiment never loads does not."""
    digest = hashlib.sha256()
    for path in sorted(loaded_computation_sources()):
        digest.update(str(path.relative_to(PACKAGE_DIR)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def loaded_computation_sources() -> set[Path]:
    sources = set()
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not file or not (name == "modularity" or name.startswith("modularity.")):
            continue
        path = Path(file).resolve()
        if not (path.parent == PACKAGE_DIR and path.name in NOT_COMPUTATION):
            sources.add(path)
    return sources


def cache_key(params: dict, seed: int) -> str:
    blob = json.dumps({"code": code_hash(), "params": params, "seed": seed}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def cache_path(namespace: str, params: dict, seed: int) -> Path:
    return data_root() / "cache" / namespace / f"seed{seed}-{cache_key(params, seed)}.pt"


def cached(namespace: str, params: dict, seed: int, compute: Callable[[], Any]) -> Any:
    """``compute()``'s result for this seed, loaded when already computed, else computed and saved."""
    path = cache_path(namespace, params, seed)
    if path.exists():
        return torch.load(path, map_location="cpu", weights_only=False)
    result = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    torch.save(result, tmp)
    os.replace(tmp, path)
    return result


class SeedStore:
    """Resumable pieces of one seed's work: finished stages are kept, unfinished ones checkpointed."""

    def __init__(self, namespace: str, params: dict, seed: int):
        self.folder = data_root() / "cache" / namespace
        self.stem = f"seed{seed}-{cache_key(params, seed)}"

    def checkpoint(self, stage: str) -> Path:
        return self.folder / f"{self.stem}.{stage}.ckpt"

    def load(self, stage: str):
        path = self.folder / f"{self.stem}.{stage}.done"
        return torch.load(path, map_location="cpu", weights_only=False) if path.exists() else None

    def save(self, stage: str, value) -> None:
        path = self.folder / f"{self.stem}.{stage}.done"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        torch.save(value, tmp)
        os.replace(tmp, path)
