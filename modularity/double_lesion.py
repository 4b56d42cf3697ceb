"""Double lesions of sub-clusters (Filan et al., P1): do two groups of neurons matter together?

A sub-cluster is a set of units of one layer. For a pair (i, j):

- **joint**: lesion i and j together and compare the accuracy with lesioning random same-size sets in the same
  layers (disjoint from each other when i and j share a layer);
- **conditional**: keep j lesioned and compare lesioning i with lesioning random same-size sets of i's layer
  that avoid j's units.

Each test's p is left-tailed, ``(1 + #{random accuracy < lesioned accuracy}) / (n + 1)``: small when the
true lesion costs more than random ones. A pair *departs from random* when either test is at or below
``alpha``. Lesions are forward hooks (``lesions.lesioned``), so any model works; the original code is
dfilan/clusterability_in_neural_networks (``mlp-double-lesion-test`` notebook).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from torch import nn

from modularity.lesions import lesioned

__all__ = ["SubCluster", "conditional_test", "joint_test", "pair_dependencies"]


@dataclass(frozen=True)
class SubCluster:
    layer: int  # index into the ``layers`` the tests are given
    units: tuple[int, ...]


def _accuracy_with(layers: Sequence[nn.Module], evaluate: Callable[[], float],
                   lesion: dict[int, set[int]]) -> float:
    chosen = [(layers[layer], sorted(units)) for layer, units in lesion.items() if units]
    with lesioned([m for m, _ in chosen], [u for _, u in chosen]):
        return evaluate()


def _random_units(rng: np.random.Generator, n_units: int, size: int, avoid: set[int]) -> set[int]:
    allowed = np.setdiff1d(np.arange(n_units), sorted(avoid))
    if size > len(allowed):
        raise ValueError(f"cannot draw {size} random units from the {len(allowed)} a layer has left")
    return set(rng.choice(allowed, size, replace=False).tolist())


def _p(true_accuracy: float, random_accuracies: list[float]) -> float:
    return float((1 + sum(a < true_accuracy for a in random_accuracies)) / (len(random_accuracies) + 1))


def joint_test(layers: Sequence[nn.Module], layer_sizes: Sequence[int], evaluate: Callable[[], float],
               i: SubCluster, j: SubCluster, n_random: int = 50, seed: int = 0) -> dict:
    """Lesioning i and j together against random same-size pairs in their layers."""
    rng = np.random.default_rng(seed)
    true = _accuracy_with(layers, evaluate, _union(i, j))
    randoms = []
    for _ in range(n_random):
        first = _random_units(rng, layer_sizes[i.layer], len(i.units), set())
        second = _random_units(rng, layer_sizes[j.layer], len(j.units), first if i.layer == j.layer else set())
        randoms.append(_accuracy_with(layers, evaluate, _union(SubCluster(i.layer, tuple(first)),
                                                               SubCluster(j.layer, tuple(second)))))
    return {"accuracy": true, "random_mean": float(np.mean(randoms)), "p": _p(true, randoms)}


def conditional_test(layers: Sequence[nn.Module], layer_sizes: Sequence[int], evaluate: Callable[[], float],
                     i: SubCluster, given: SubCluster, n_random: int = 50, seed: int = 0) -> dict:
    """With ``given`` lesioned, lesioning i against random same-size sets of i's layer that avoid ``given``."""
    rng = np.random.default_rng(seed)
    true = _accuracy_with(layers, evaluate, _union(i, given))
    avoid = set(given.units) if i.layer == given.layer else set()
    randoms = [_accuracy_with(layers, evaluate, _union(
        SubCluster(i.layer, tuple(_random_units(rng, layer_sizes[i.layer], len(i.units), avoid))), given))
        for _ in range(n_random)]
    return {"accuracy": true, "random_mean": float(np.mean(randoms)), "p": _p(true, randoms)}


def _union(a: SubCluster, b: SubCluster) -> dict[int, set[int]]:
    lesion: dict[int, set[int]] = {}
    for cluster in (a, b):
        lesion.setdefault(cluster.layer, set()).update(cluster.units)
    return lesion


def pair_dependencies(layers: Sequence[nn.Module], layer_sizes: Sequence[int], evaluate: Callable[[], float],
                      clusters: Sequence[SubCluster], n_random: int = 50, alpha: float = 0.05, seed: int = 0) -> dict:
    """Joint and conditional tests for every ordered pair of distinct sub-clusters; ``departs[a, b]`` when either
    is at or below ``alpha``, and the share of pairs that depart (the P1 dependency heat-map and its summary)."""
    n = len(clusters)
    joint, conditional = np.full((n, n), np.nan), np.full((n, n), np.nan)
    for a in range(n):
        for b in range(n):
            if a == b:
                continue
            if a < b:
                joint[a, b] = joint[b, a] = joint_test(layers, layer_sizes, evaluate, clusters[a], clusters[b],
                                                       n_random, seed + a * n + b)["p"]
            conditional[a, b] = conditional_test(layers, layer_sizes, evaluate, clusters[a], clusters[b], n_random,
                                                 seed + n * n + a * n + b)["p"]
    off_diagonal = ~np.eye(n, dtype=bool)
    departs = ((joint <= alpha) | (conditional <= alpha)) & off_diagonal
    return {"joint_p": joint, "conditional_p": conditional, "departs": departs,
            "frac_dependent": float(departs[off_diagonal].mean()) if n > 1 else float("nan")}
