"""How much two masks would overlap by chance alone, and how far an observed overlap lies beyond it.

Two independent masks that keep, in a tensor of n weights, a fraction p and q of them share n·p·q weights
on average, and their union holds n·(p + q − p·q). Summed over tensors (the project's overall IoU is
Σ|A∧B| / Σ|A∨B|, not a mean of per-tensor IoUs), that gives the chance level of every overlap the book
reports, at exactly the masks' own per-tensor densities. The *excess* (observed − chance) / (1 − chance) is
0 at chance and 1 at complete overlap; verdicts are stated on it (``modularity.verdicts``).
"""

from __future__ import annotations

from typing import Mapping

from modularity.mask_algebra import Mask, iomin, iou, shared_fraction

__all__ = ["expected_overlap", "overlap_with_chance", "excess", "any_test_by_chance"]


def _check(counts_a: Mapping[str, int], counts_b: Mapping[str, int], sizes: Mapping[str, int]) -> None:
    if set(counts_a) != set(sizes) or set(counts_b) != set(sizes):
        raise ValueError(f"counts and sizes must name the same tensors: {sorted(set(counts_a) ^ set(sizes))} "
                         f"{sorted(set(counts_b) ^ set(sizes))}")
    for name, n in sizes.items():
        if n <= 0 or not (0 <= counts_a[name] <= n and 0 <= counts_b[name] <= n):
            raise ValueError(f"tensor {name!r}: kept counts {counts_a[name]}, {counts_b[name]} must lie in [0, {n}]")


def expected_overlap(counts_a: Mapping[str, int], counts_b: Mapping[str, int],
                     sizes: Mapping[str, int]) -> dict[str, float]:
    """Expected IoU, IoMin and shared fractions of two independent masks that keep ``counts_a[t]`` and
    ``counts_b[t]`` of the ``sizes[t]`` weights of each tensor t (ratios of expectations, as the observed
    values are ratios of sums). ``shared_frac`` is the share of A's weights B keeps too."""
    _check(counts_a, counts_b, sizes)
    both = sum(counts_a[t] * counts_b[t] / sizes[t] for t in sizes)
    union = sum(counts_a[t] + counts_b[t] for t in sizes) - both
    total_a, total_b = sum(counts_a.values()), sum(counts_b.values())
    ratio = lambda num, den: num / den if den else float("nan")  # noqa: E731
    return {"iou": ratio(both, union), "iomin": ratio(both, min(total_a, total_b)),
            "shared_frac": ratio(both, total_a), "shared_frac_reverse": ratio(both, total_b)}


def excess(observed: float, chance: float) -> float:
    """(observed − chance) / (1 − chance): 0 at chance, 1 at complete overlap, negative below chance."""
    if chance >= 1.0:
        return float("nan")  # masks that keep everything overlap completely by chance: nothing to measure
    return (observed - chance) / (1.0 - chance)


def overlap_with_chance(a: Mask, b: Mask) -> dict[str, float]:
    """Observed IoU / IoMin / shared fraction (A in B) of two masks, each with its ``_chance`` twin and its
    ``_excess``."""
    chance = expected_overlap(a.counts(), b.counts(), a.sizes())
    observed = {"iou": iou(a, b), "iomin": iomin(a, b), "shared_frac": shared_fraction(a, b)}
    out = {}
    for key, value in observed.items():
        out[key], out[f"{key}_chance"] = value, chance[key]
        out[f"{key}_excess"] = excess(value, chance[key])
    return out


def any_test_by_chance(level: float, n_tests: int) -> float:
    """The chance that at least one of ``n_tests`` independent tests, each passed by chance with probability
    ``level``, passes when nothing is there: 1 − (1 − level)^n."""
    if not 0 <= level <= 1 or n_tests < 0:
        raise ValueError(f"need 0 ≤ level ≤ 1 and n_tests ≥ 0, got level {level} and n_tests {n_tests}")
    return 1 - (1 - level) ** n_tests
