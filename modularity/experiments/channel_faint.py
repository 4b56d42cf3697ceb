"""Faint channels (``modularity.faint_units``) of the importance chapter's CNNs and VGGs, one network at a time.

L2 under Adam decays a dead channel's kernels towards zero without reaching it: the channel stays in the channel
graph with a summed edge weight below n-cut's ε and can get a cluster of its own, whose lesion costs nothing.
This unit clusters the graph exactly as ``channel_importance.analyse_network`` does (same function, k and
seed) and says which channels are faint and how many of each sub-cluster's channels are. A unit of its own
beside the channel analysis, so adding it re-measured nothing.
"""

from __future__ import annotations

import numpy as np

from modularity import clustering, faint_units
from modularity.experiments import networks


def faint_channels(graph: clustering.LayeredGraph) -> list[np.ndarray]:
    """Per conv layer, which channels are faint: kept in the graph, with edges summing below ε."""
    faint = faint_units.node_degrees(graph) < faint_units.NCUT_EPSILON
    out, start = [], 0
    for keep in graph.keep:
        layer = np.zeros(keep.shape[0], dtype=bool)
        layer[keep] = faint[start:start + int(keep.sum())]
        out.append(layer)
        start += int(keep.sum())
    return out


def analyse(model, k: int, seed: int) -> dict:
    """The network's faint channels, its clusters made only of them, and per sub-cluster (conv layer from 1,
    label) how many of its channels are faint."""
    graph = clustering.cnn_graph(model)
    labels, _ = clustering.spectral_clustering(graph, k, seed=seed)
    faint = faint_channels(graph)
    by_cluster = {}
    for layer, (layer_labels, layer_faint) in enumerate(zip(graph.expand_labels(labels), faint)):
        for label in np.unique(layer_labels[layer_labels >= 0]):
            by_cluster[layer + 1, int(label)] = int(layer_faint[layer_labels == label].sum())
    return {"faint_channels": int(sum(f.sum() for f in faint)),
            "faint_clusters": faint_units.faint_clusters(faint_units.node_degrees(graph), labels),
            "faint_by_sub_cluster": by_cluster}


def run_network(kind: str, dataset: str, regulariser: str, seed: int, settings, device, k: int) -> dict:
    """``analyse`` of the unpruned network the channel analysis reads (trained there, or from its store)."""
    data = networks.load_dataset(dataset, settings.train_subset, 0, device)
    state = networks.trained_states(kind, dataset, regulariser, seed, settings, data, device, prune=False)["unpruned"]
    return analyse(networks.trained_model(kind, dataset, regulariser, state, settings), k, seed)
