"""Double lesions of sub-clusters (Filan et al., P1): do two groups of neurons matter together?

A sub-cluster is a set of units of one layer. For a pair (i, j):

- **joint**: lesion i and j together and compare the accuracy with lesioning random same-size sets in the same
  layers (disjoint from each other when i and j share a layer);
- **conditional**: keep j lesioned and compare lesioning i with lesioning random same-size sets of i's layer
  that avoid j's units.

Lesions are scored in batches by a ``Scorer`` (lesions → accuracy under each): ``hooked_scorer`` works on any
model, ``lesions.mlp_lesion_scorer`` scores many lesions of an MLP in one pass. Random units are drawn from each
layer's ``candidates`` (e.g. the units a pruned network still uses: a dead
unit costs nothing to lesion). Each test's p is left-tailed, ``lesions.percentile`` of the lesioned accuracy
among the random ones (ties count half): small when the true lesion costs more than random ones. A pair
*departs from random* when either test is at or below ``alpha``. The original code is
dfilan/clusterability_in_neural_networks (``mlp-double-lesion-test`` notebook).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from torch import nn

from modularity.lesions import lesioned, percentile

__all__ = ["Scorer", "SubCluster", "conditional_test", "hooked_scorer", "joint_test", "pair_dependencies"]


@dataclass(frozen=True)
class SubCluster:
    layer: int  # the hidden layer (0-based) the scorer lesions
    units: tuple[int, ...]


Scorer = Callable[[list[dict[int, set[int]]]], list[float]]  # lesions (layer → units) → accuracy under each


def hooked_scorer(layers: Sequence[nn.Module], evaluate: Callable[[], float]) -> Scorer:
    """Score lesions of any model one at a time: ``evaluate()`` runs with each lesion's units of ``layers[layer]``
    zeroed by forward hooks (``lesions.mlp_lesion_scorer`` scores many lesions of an MLP in one pass)."""
    def score(lesion_list: list[dict[int, set[int]]]) -> list[float]:
        out = []
        for lesion in lesion_list:
            chosen = [(layers[layer], sorted(units)) for layer, units in lesion.items() if units]
            with lesioned([m for m, _ in chosen], [u for _, u in chosen]):
                out.append(evaluate())
        return out

    return score


def _random_units(rng: np.random.Generator, candidates: Sequence[int], size: int, avoid: set[int]) -> set[int]:
    allowed = np.setdiff1d(np.asarray(list(candidates), dtype=int), sorted(avoid))
    if size > len(allowed):
        raise ValueError(f"cannot draw {size} random units from the {len(allowed)} a layer has left")
    return set(rng.choice(allowed, size, replace=False).tolist())


def _p(true_accuracy: float, random_accuracies: list[float]) -> float:
    return percentile(true_accuracy, np.asarray(random_accuracies), "lower")


def joint_test(score: Scorer, candidates: Sequence[Sequence[int]], i: SubCluster, j: SubCluster, n_random: int = 50,
               seed: int = 0) -> dict:
    """Lesioning i and j together against random same-size pairs in their layers."""
    rng = np.random.default_rng(seed)
    lesion_list = [_union(i, j)]
    for _ in range(n_random):
        first = _random_units(rng, candidates[i.layer], len(i.units), set())
        second = _random_units(rng, candidates[j.layer], len(j.units), first if i.layer == j.layer else set())
        lesion_list.append(_union(SubCluster(i.layer, tuple(first)), SubCluster(j.layer, tuple(second))))
    return _compared(score(lesion_list))


def conditional_test(score: Scorer, candidates: Sequence[Sequence[int]], i: SubCluster, given: SubCluster,
                     n_random: int = 50, seed: int = 0) -> dict:
    """With ``given`` lesioned, lesioning i against random same-size sets of i's layer that avoid ``given``."""
    rng = np.random.default_rng(seed)
    avoid = set(given.units) if i.layer == given.layer else set()
    lesion_list = [_union(i, given)] + [
        _union(SubCluster(i.layer, tuple(_random_units(rng, candidates[i.layer], len(i.units), avoid))), given)
        for _ in range(n_random)]
    return _compared(score(lesion_list))


def _compared(accuracies: list[float]) -> dict:
    """The first accuracy (the true lesion's) against the rest (random ones)."""
    true, randoms = accuracies[0], accuracies[1:]
    return {"accuracy": true, "random_mean": float(np.mean(randoms)), "p": _p(true, randoms)}


def _union(a: SubCluster, b: SubCluster) -> dict[int, set[int]]:
    lesion: dict[int, set[int]] = {}
    for cluster in (a, b):
        lesion.setdefault(cluster.layer, set()).update(cluster.units)
    return lesion


def pair_dependencies(score: Scorer, candidates: Sequence[Sequence[int]], clusters: Sequence[SubCluster],
                      n_random: int = 50, alpha: float = 0.05, seed: int = 0) -> dict:
    """Joint and conditional tests for every ordered pair of distinct sub-clusters; ``departs[a, b]`` when either
    is at or below ``alpha``, and the share of pairs that depart (the P1 dependency heat-map and its summary)."""
    n = len(clusters)
    joint, conditional = np.full((n, n), np.nan), np.full((n, n), np.nan)
    for a in range(n):
        for b in range(n):
            if a == b:
                continue
            if a < b:
                joint[a, b] = joint[b, a] = joint_test(score, candidates, clusters[a], clusters[b], n_random,
                                                       seed + a * n + b)["p"]
            conditional[a, b] = conditional_test(score, candidates, clusters[a], clusters[b], n_random,
                                                 seed + n * n + a * n + b)["p"]
    off_diagonal = ~np.eye(n, dtype=bool)
    departs = ((joint <= alpha) | (conditional <= alpha)) & off_diagonal
    return {"joint_p": joint, "conditional_p": conditional, "departs": departs,
            "frac_dependent": float(departs[off_diagonal].mean()) if n > 1 else float("nan")}
