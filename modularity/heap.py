"""Keep freed memory in a process's heap, so a training step does not fault its large tensors back in.

glibc's malloc serves every request above its mmap threshold (32 MiB at most) with a fresh mapping and
unmaps it again on ``free``. A mask step of a wide network allocates and frees its K×N tensors (uniforms,
masked weights, their gradients) every step, so each step the kernel maps them again page by page and zeroes
every page: for the 2000×4 FNN about 650 MB a step, a third or more of its CPU time. With
``MALLOC_MMAP_MAX_=0`` every block comes from the heap, and with a high ``MALLOC_TRIM_THRESHOLD_`` a freed block
stays there for the next step. Nothing computed changes; the process keeps its peak memory until it ends.

glibc reads these variables when a process starts, so they are set for the processes the project starts: the
notebook kernel of ``python -m modularity run`` (and the local Ray workers it starts), Ray tasks on a cluster,
and the benchmark's processes. Other C libraries ignore them. To use the same setting in a script of your own,
start it with them set (see the README).
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator, Mapping

KEPT_HEAP = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(1 << 40)}


def child_environment(current: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables a child process needs to keep its freed memory, leaving any the user has set alone."""
    current = os.environ if current is None else current
    return {name: value for name, value in KEPT_HEAP.items() if name not in current}


def as_children_get() -> dict[str, str]:
    """The variables as a child process started now gets them: the user's where set, else ``KEPT_HEAP``'s."""
    return {name: os.environ.get(name, value) for name, value in KEPT_HEAP.items()}


def describe(environment: Mapping[str, str] | None = None) -> str:
    """How a process started with ``environment`` treats freed memory, in words."""
    environment = os.environ if environment is None else environment
    chosen = {name: environment[name] for name in KEPT_HEAP if name in environment}
    if not chosen:
        return "glibc malloc, large freed blocks returned to the system"
    if chosen == KEPT_HEAP:
        return "glibc malloc, freed memory kept in the heap (" + ", ".join(f"{k}={v}" for k, v in chosen.items()) + ")"
    return "glibc malloc with " + ", ".join(f"{k}={v}" for k, v in chosen.items())


@contextlib.contextmanager
def for_children(kept: bool = True) -> Iterator[None]:
    """Processes started inside keep their freed memory (``kept``; variables the user set stay theirs) or
    return it as glibc does by default (the variables unset); ``os.environ`` is restored afterwards."""
    before = {name: os.environ.get(name) for name in KEPT_HEAP}
    try:
        if kept:
            os.environ.update(child_environment())
        else:
            for name in KEPT_HEAP:
                os.environ.pop(name, None)
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
