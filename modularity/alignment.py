"""Do masks and spectral clusters find the same modules? Statistics that put both on one network.

Csordás et al. find *functional* modules (the weights a sub-task needs, as binary masks); Filan et al. and Hod et
al. find *structural* ones (groups of units that spectral clustering of the weight graph separates). On a chain
of weight matrices (``out × in`` each, in forward order, as ``nn.Linear`` stores them):

- ``unit_usage``: a unit is used by a mask when the mask keeps any of its incoming or outgoing weights;
- ``usage_alignment``: adjusted mutual information between cluster membership and the pattern of which masks
  use each unit, against permutations of the patterns within each layer;
- ``kept_by_cluster``: the share of each cluster's internal weights a mask keeps, beside the share a mask of
  the same per-tensor densities placed independently of the clusters would keep;
- ``mask_ncut``: how self-contained a mask's subgraph is — the share of the ``|w|`` mass at its units that lies
  outside it (``subgraph_cut``) — against random weight sets of the same per-tensor sizes;
- ``rank_correlation``: Spearman's ρ between two per-cluster measures (a lesion's accuracy drop and a mask's
  kept share); its null, random unit sets of the clusters' sizes, comes from ``shuffled_within_layers``;
- ``recovered_modules``: which known (planted) modules a grouping of the units finds;
- ``shuffled_within_layers``: random unit sets of the clusters' per-layer sizes, the null of lesion statistics;
- ``unit_matrix``, ``channel_level``: a convolution's weights and mask as a matrix between channels, so that
  every statistic above applies to a CNN at channel level.

Every statistic comes with its null; the verdict rule is ``verdicts.alignment_level``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from scipy import stats
from sklearn.metrics import adjusted_mutual_info_score

from modularity.mask_algebra import Mask

__all__ = ["channel_level", "kept_by_cluster", "mask_ncut", "rank_correlation", "recovered_modules",
           "shuffled_within_layers", "subgraph_cut", "unit_matrix", "unit_usage", "usage_alignment", "usage_patterns"]


def unit_matrix(weight: torch.Tensor) -> np.ndarray:
    """A layer's weights between units: a Linear's ``out × in`` matrix as it is; a convolution's ``Σ|k|`` over
    each (output channel, input channel) kernel, an ``out × in`` matrix between channels."""
    weight = weight.detach().cpu()
    return (weight.abs().flatten(2).sum(2) if weight.dim() > 2 else weight).numpy()


def channel_level(mask: Mask) -> Mask:
    """The mask between units: a convolution's channel pair is kept when the mask keeps any weight of its
    kernel; matrices and vectors stay as they are."""
    return Mask({name: t.flatten(2).any(2) if t.dim() > 2 else t for name, t in mask.items()})


def _matrices(mask: Mask, weight_names: Sequence[str]) -> list[np.ndarray]:
    mats = [mask[name].numpy().astype(bool) for name in weight_names]
    for name, (a, b) in zip(weight_names[1:], zip(mats[:-1], mats[1:])):
        if a.shape[0] != b.shape[1]:
            raise ValueError(f"{name!r} ({b.shape[0]} × {b.shape[1]}) does not follow a layer of {a.shape[0]} units: "
                             "give the weight tensors of one chain, in forward order")
    return mats


def unit_usage(mask: Mask, weight_names: Sequence[str]) -> list[np.ndarray]:
    """Per layer (inputs, hidden layers, outputs), which units the mask uses."""
    mats = _matrices(mask, weight_names)
    usage = [mats[0].any(axis=0)]
    for index, mat in enumerate(mats):
        outgoing = mats[index + 1].any(axis=0) if index + 1 < len(mats) else np.zeros(mat.shape[0], dtype=bool)
        usage.append(mat.any(axis=1) | outgoing)
    return usage


def usage_patterns(masks: Sequence[Mask], weight_names: Sequence[str]) -> list[np.ndarray]:
    """Per layer, an integer per unit whose bit t says whether mask t uses it (0: no mask, 3: masks 0 and 1)."""
    usages = [unit_usage(mask, weight_names) for mask in masks]
    return [sum(usage[layer].astype(int) << t for t, usage in enumerate(usages)) for layer in range(len(usages[0]))]


def usage_alignment(cluster_labels: Sequence[np.ndarray], patterns: Sequence[np.ndarray], layers: Sequence[int],
                    n_permutations: int = 1000, seed: int = 0) -> dict:
    """AMI between cluster labels and usage patterns over the units of ``layers`` (units labelled −1 left out);
    the null permutes the patterns within each layer. p = (1 + #{null ≥ AMI}) / (n + 1). All NaN when the units
    fall in one cluster or share one pattern."""
    rng = np.random.default_rng(seed)
    kept = [(np.asarray(cluster_labels[i]), np.asarray(patterns[i])) for i in layers]
    kept = [(c[c >= 0], p[c >= 0]) for c, p in kept]
    clusters = np.concatenate([c for c, _ in kept])
    if len(np.unique(clusters)) < 2 or len(np.unique(np.concatenate([p for _, p in kept]))) < 2:
        # one cluster, or every unit used alike (e.g. masks that keep everything): nothing to align
        return {"ami": float("nan"), "null_mean": float("nan"), "null_std": float("nan"), "p": float("nan")}
    observed = adjusted_mutual_info_score(clusters, np.concatenate([p for _, p in kept]))
    null = np.array([adjusted_mutual_info_score(clusters, np.concatenate([rng.permutation(p) for _, p in kept]))
                     for _ in range(n_permutations)])
    return {"ami": float(observed), "null_mean": float(null.mean()), "null_std": float(null.std()),
            "p": float((1 + (null >= observed).sum()) / (n_permutations + 1))}


def kept_by_cluster(mask: Mask, weight_names: Sequence[str], cluster_labels: Sequence[np.ndarray]) -> dict:
    """cluster → {"kept", "chance", "n_weights"}: of the weights joining two units of the cluster in adjacent
    layers, the share the mask keeps, and the share a mask of the same per-tensor densities would keep."""
    mats = _matrices(mask, weight_names)
    densities = [mat.mean() for mat in mats]
    clusters = sorted(set(np.concatenate([np.asarray(c) for c in cluster_labels]).tolist()) - {-1})
    out = {}
    for cluster in clusters:
        kept = total = expected = 0.0
        for index, mat in enumerate(mats):
            inside = np.outer(np.asarray(cluster_labels[index + 1]) == cluster,
                              np.asarray(cluster_labels[index]) == cluster)
            n = inside.sum()
            kept, total, expected = kept + mat[inside].sum(), total + n, expected + n * densities[index]
        if total:
            out[int(cluster)] = {"kept": kept / total, "chance": expected / total, "n_weights": int(total)}
    return out


def subgraph_cut(weights: Sequence[np.ndarray], mask: Mask, weight_names: Sequence[str]) -> float:
    """The share of the ``|w|`` mass at the units a mask uses that lies on weights the mask does not keep: 0 for a
    self-contained module, near 1 for a scattered set of weights."""
    usage = unit_usage(mask, weight_names)
    inside = outside = 0.0
    for index, (w, name) in enumerate(zip(weights, weight_names)):
        magnitude = np.abs(np.asarray(w, dtype=np.float64))
        touches = usage[index + 1][:, None] | usage[index][None, :]
        kept = mask[name].numpy().astype(bool)
        inside += magnitude[kept].sum()
        outside += magnitude[touches & ~kept].sum()
    return float(outside / (inside + outside)) if inside + outside else float("nan")


def mask_ncut(weights: Sequence[np.ndarray], mask: Mask, weight_names: Sequence[str], n_random: int = 100,
              seed: int = 0) -> dict:
    """``subgraph_cut`` of the mask against random weight sets with the mask's per-tensor counts; z, and
    p = (1 + #{random ≤ observed}) / (n + 1) (lower is more module-like)."""
    rng = np.random.default_rng(seed)
    observed = subgraph_cut(weights, mask, weight_names)
    counts = [int(mask[name].sum()) for name in weight_names]
    null = []
    for _ in range(n_random):
        tensors = {}
        for name, count in zip(weight_names, counts):
            flat = np.zeros(mask[name].numel(), dtype=bool)
            flat[rng.choice(flat.size, count, replace=False)] = True
            tensors[name] = torch.from_numpy(flat.reshape(tuple(mask[name].shape)))
        null.append(subgraph_cut(weights, Mask(tensors), weight_names))
    null = np.array(null)
    std = float(null.std())
    return {"cut": observed, "null_mean": float(null.mean()), "null_std": std,
            "z": (observed - float(null.mean())) / std if std > 0 else float("nan"),
            "p": float((1 + (null <= observed).sum()) / (n_random + 1))}


def rank_correlation(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's ρ; NaN when fewer than 3 pairs or either side is constant (no ranking to compare)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(stats.spearmanr(a, b).statistic)


def shuffled_within_layers(labels: Sequence[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """The labels permuted within each layer: random unit sets with every cluster's per-layer sizes."""
    return [rng.permutation(np.asarray(layer)) for layer in labels]


def recovered_modules(planted: Sequence[np.ndarray], found: Sequence[np.ndarray], layers: Sequence[int],
                      threshold: float = 0.9) -> list[bool]:
    """For each planted module (label ≥ 0 in ``planted``), whether one group of ``found`` matches it: Jaccard
    index of their units (over ``layers``) at least ``threshold``. Units labelled −1 belong to no module."""
    planted_all = np.concatenate([np.asarray(planted[i]) for i in layers])
    found_all = np.concatenate([np.asarray(found[i]) for i in layers])
    if planted_all.shape != found_all.shape:
        raise ValueError(f"planted and found labels cover {planted_all.size} and {found_all.size} units: give both "
                         "for the same layers")
    groups = [found_all == g for g in np.unique(found_all[found_all >= 0])]
    out = []
    for module in sorted(set(planted_all.tolist()) - {-1}):
        members = planted_all == module
        best = max(((members & g).sum() / (members | g).sum() for g in groups), default=0.0)
        out.append(bool(best >= threshold))
    return out
