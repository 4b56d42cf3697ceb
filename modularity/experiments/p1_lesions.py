"""P1's lesion analysis of one trained MLP (Filan et al., *Pruned Neural Networks are Surprisingly Modular*;
original code ``dfilan/clusterability_in_neural_networks``, notebook ``mlp-double-lesion-test``).

The whole network is clustered spectrally (P1: k = 10); a *sub-cluster* is one cluster's units in one hidden
layer. Each sub-cluster is lesioned alone against random same-size sets of its layer's used units (P1: 100),
which places it in P1's taxonomy (``verdicts.lesion_category``, applied when the chapter renders). Then every
ordered pair of sub-clusters that are neither small nor a whole layer is lesioned together and one given the
other (``double_lesion.pair_dependencies``, P1: 50 random sets); a pair depends on each other when a test puts
it below every random pair (P1's threshold, 1/50). Accuracy is the mean per-class test accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from modularity import double_lesion, lesions
from modularity.experiments import importance, networks


@dataclass
class LesionSettings:
    k: int = 10  # clusters of the whole network (P1: 10)
    n_single: int = 100  # random sets per single lesion (P1: 100)
    n_double: int = 50  # random sets (or pairs) per double lesion (P1: 50)
    test_subset: int = 2000  # test images each lesion is scored on (0: all)
    min_pair_units: int = 13  # double lesions pair sub-clusters at least this large (P1's "small" ends at 12)


def single_lesions(model, layer_labels: list[np.ndarray], x: torch.Tensor, y: torch.Tensor, n_random: int,
                   seed: int) -> tuple[list[dict], list[importance.SubCluster]]:
    """One record per sub-cluster (layer from 1, label, size, the layer's used units, accuracy drop, p), and the
    sub-clusters themselves."""
    hidden = lesions.hidden_activations(model, x)
    base = lesions.class_accuracies(model(x), y, 10).numpy()
    rng = np.random.default_rng(seed)
    records, clusters = [], []
    for layer, labels in enumerate(layer_labels):
        used = int((labels >= 0).sum())
        for label in np.unique(labels[labels >= 0]):
            cluster = importance.SubCluster(layer, int(label), np.flatnonzero(labels == label))
            lesion = importance.importance(model, cluster, importance.unit_sets(cluster, layer_labels, n_random, rng),
                                           hidden, y, base, 10)
            records.append({"layer": layer + 1, "label": int(label), "size": len(cluster.units), "layer_units": used,
                            "drop": lesion["acc_drop"], "p": lesion["p_mean"], "n_random": n_random})
            clusters.append(cluster)
    return records, clusters


@torch.no_grad()
def analyse(model, x: torch.Tensor, y: torch.Tensor, settings: LesionSettings, seed: int) -> dict:
    """Single lesions of every sub-cluster and double lesions of every pair of mid-sized ones."""
    if settings.test_subset:
        x, y = x[:settings.test_subset], y[:settings.test_subset]
    layer_labels = importance.weight_partition(model, settings.k, local=False, seed=seed)
    singles, clusters = single_lesions(model, layer_labels, x, y, settings.n_single, seed)
    paired = [c for c, r in zip(clusters, singles) if settings.min_pair_units <= r["size"] < r["layer_units"]]

    pairs = double_lesion.pair_dependencies(
        lesions.mlp_lesion_scorer(model, x, y, 10), [np.flatnonzero(labels >= 0) for labels in layer_labels],
        [double_lesion.SubCluster(c.layer, tuple(c.units.tolist())) for c in paired], settings.n_double,
        alpha=1 / settings.n_double, seed=seed)
    return {"singles": singles, "paired": [(c.layer + 1, c.label) for c in paired], **pairs}


def run_network(dataset: str, seed: int, settings, lesion_settings: LesionSettings, data, device) -> dict:
    """The clusterability chapter's pruned MLP (plain training, then pruning; trained there or loaded from its
    store), analysed on the test images."""
    state = networks.trained_states("mlp", dataset, "none", seed, settings, data, device)["pruned"]
    model = networks.trained_model("mlp", dataset, "none", state, settings)
    return analyse(model, data[2].cpu(), data[3].cpu(), lesion_settings, seed)


def dependence_by_importance(result: dict, important: set[tuple[int, int]]) -> dict:
    """The share of ordered pairs that depend (either test), split by how many of the two sub-clusters are
    important alone (``important``: (layer from 1, label) of each): a joint lesion with an important member
    costs more than random pairs whatever the partner does, so dependence among pairs with *no* important
    member is the part the single lesions do not already explain (P1's "neither alone, but together")."""
    paired = result["paired"]
    groups: dict[int, list[bool]] = {0: [], 1: [], 2: []}
    for a, first in enumerate(paired):
        for b, second in enumerate(paired):
            if a != b:
                groups[(first in important) + (second in important)].append(bool(result["departs"][a, b]))
    return {f"frac_dependent_{n}_important": float(np.mean(flags)) if flags else float("nan")
            for n, flags in groups.items()} | {f"n_pairs_{n}_important": len(flags) for n, flags in groups.items()}
