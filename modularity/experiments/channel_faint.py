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


def analyse(model, k: int, seed: int) -> dict:
    """The network's faint channels (kept in the graph, edges summing below ε), its clusters made only of them,
    and per sub-cluster (conv layer from 1, label) how many of its channels are faint."""
    graph = clustering.cnn_graph(model)
    labels, _ = clustering.spectral_clustering(graph, k, seed=seed)
    degrees = faint_units.node_degrees(graph)
    faint = degrees < faint_units.NCUT_EPSILON
    by_cluster = {}
    # expand_labels places node values in their layers (−1 where the graph dropped an isolated channel)
    for layer, (layer_labels, layer_faint) in enumerate(zip(graph.expand_labels(labels),
                                                            graph.expand_labels(faint.astype(np.int64)))):
        for label in np.unique(layer_labels[layer_labels >= 0]):
            by_cluster[layer + 1, int(label)] = int((layer_faint[layer_labels == label] == 1).sum())
    return {"faint_channels": int(faint.sum()), "faint_clusters": faint_units.faint_clusters(degrees, labels),
            "faint_by_sub_cluster": by_cluster}


def run_network(kind: str, dataset: str, regulariser: str, seed: int, settings, device, k: int) -> dict:
    """``analyse`` of the unpruned network the channel analysis reads (trained there, or from its store)."""
    data = networks.load_dataset(dataset, settings.train_subset, 0, device)
    state = networks.trained_states(kind, dataset, regulariser, seed, settings, data, device, prune=False)["unpruned"]
    return analyse(networks.trained_model(kind, dataset, regulariser, state, settings), k, seed)
