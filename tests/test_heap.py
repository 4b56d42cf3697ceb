"""Freed memory kept in the heap: the variables the project's processes get, and that glibc honours them."""

import os
import platform
import subprocess
import sys

import pytest

from modularity import heap, ray_executor

# allocate, touch and free a 64 MiB block three times; print the page faults of the last two
ALLOCATE_THREE_TIMES = """
import resource, numpy as np
def block():
    a = np.ones(16 * 2**20, dtype=np.float32)
    del a
block()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
block(); block()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def test_a_variable_the_user_set_stays_theirs(monkeypatch):
    monkeypatch.setenv("MALLOC_MMAP_MAX_", "7")
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    assert heap.child_environment() == {"MALLOC_TRIM_THRESHOLD_": heap.KEPT_HEAP["MALLOC_TRIM_THRESHOLD_"]}
    assert heap.as_children_get() == {"MALLOC_MMAP_MAX_": "7",
                                      "MALLOC_TRIM_THRESHOLD_": heap.KEPT_HEAP["MALLOC_TRIM_THRESHOLD_"]}
    with heap.for_children(kept=True):
        assert os.environ["MALLOC_MMAP_MAX_"] == "7"
        assert os.environ["MALLOC_TRIM_THRESHOLD_"] == heap.KEPT_HEAP["MALLOC_TRIM_THRESHOLD_"]
    with heap.for_children(kept=False):
        assert not set(heap.KEPT_HEAP) & set(os.environ)
    assert os.environ["MALLOC_MMAP_MAX_"] == "7" and "MALLOC_TRIM_THRESHOLD_" not in os.environ


def test_the_allocator_is_described_as_it_is_set():
    assert "kept in the heap" in heap.describe(heap.KEPT_HEAP)
    assert "returned to the system" in heap.describe({})
    assert heap.describe({"MALLOC_MMAP_MAX_": "3"}) == "glibc malloc with MALLOC_MMAP_MAX_=3"


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the variables are glibc's")
def test_a_process_started_with_the_heap_kept_does_not_fault_a_freed_block_back_in():
    def page_faults(kept: bool) -> int:
        with heap.for_children(kept):
            out = subprocess.run([sys.executable, "-c", ALLOCATE_THREE_TIMES], capture_output=True, text=True,
                                 check=True, env=dict(os.environ))
        return int(out.stdout)

    returned, kept = page_faults(kept=False), page_faults(kept=True)
    assert returned >= 2 * 32  # two fresh 64 MiB mappings: at least one fault per page (huge pages: 2 MiB)
    assert kept <= returned / 10  # the same heap block both times


def test_ray_workers_get_the_variables_even_on_a_cluster(monkeypatch):
    class FakeRay:
        def is_initialized(self):
            return False

        def init(self, **kwargs):
            self.kwargs = kwargs

    monkeypatch.setenv(ray_executor.ADDRESS_ENV, "10.0.0.1:6379")
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "12345")
    fake = FakeRay()
    ray_executor._start(fake)
    assert fake.kwargs["address"] == "10.0.0.1:6379"
    assert fake.kwargs["runtime_env"]["env_vars"] == {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": "12345"}


def test_a_paired_comparison_alternates_and_takes_medians():
    from modularity import bench

    order = []

    def side(name, rates):
        def run(i):
            order.append((name, i))
            return {"steps_per_s": rates[i], "faulted_mb_per_step": 10.0 * i}
        return run

    pair = bench.paired(side("a", [4.0, 6.0, 5.0]), side("b", [2.0, 2.0, 4.0]), 3, "steps_per_s")
    assert order == [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2), ("b", 2)]
    assert pair["first"] == {"steps_per_s": 5.0, "faulted_mb_per_step": 10.0}
    assert pair["second"] == {"steps_per_s": 2.0, "faulted_mb_per_step": 10.0}
    assert pair["ratio"] == 2.5 and pair["ratio_range"] == (1.25, 3.0)
    assert [r["repeat"] for r in pair["results"]] == [0, 1, 2, 0, 1, 2]
    with pytest.raises(ValueError, match="at least once"):
        bench.paired(side("a", [1.0]), side("b", [1.0]), 0, "steps_per_s")
