"""Which data a run used: every loader records its dataset's source and checksums in the run's provenance,
and the staleness check compares them with what the data would be now."""

from __future__ import annotations

from modularity import provenance
from modularity.data.root import KNOWN_FILES


def record(dataset: str, source: str, checksums: dict[str, str]) -> None:
    provenance.record("data", dataset, {"source": source, "checksums": checksums})


def current_checksums(dataset: str) -> dict[str, str] | None:
    """The checksums the dataset has today, or None when that cannot be known here."""
    if dataset == "arithmetic":
        from modularity.data import arithmetic

        return arithmetic.checksums()
    if dataset == "pair_arithmetic":
        from modularity.data import pair_arithmetic

        return pair_arithmetic.checksums()
    return KNOWN_FILES.get(dataset)
