"""Faint units: nodes whose connections sum below n-cut's ε, and the clusters made only of them.

n-cut adds ``cut(A) / (vol(A) + ε)`` per cluster, with ε = 1e-8 as in the original code's ``compute_ncut``
(``src/spectral_cluster_model.py``). A cluster of live units adds a share of 1; a cluster whose volume is far
below ε adds ≈ 0 whatever the network's structure. Such nodes are not removed as isolated (their weights are
tiny, not zero), so spectral clustering may give them clusters of their own: with k − 1 clusters of them and
one of everything else, n-cut is ≈ 0 in a network with no modules at all.

They appear when a weight penalty decays a dead ReLU unit's weights for a whole run: the unit gets no gradient
from the loss, only from the penalty, and L2 under Adam shrinks its in- and outgoing weights geometrically
(to ≈ 1e-36 in float32). Pruning sets such weights to exactly 0, and the graph then drops the unit.
"""

from __future__ import annotations

import numpy as np
import torch

from modularity.clustering import LayeredGraph, cluster_layer_matrices_ks

NCUT_EPSILON = 1e-8  # the ε of every n-cut in the package (``clustering.ncut``) and in the original code
DEGREE_BINS = np.arange(-46, 5)  # log10 degree bin edges: float32's smallest denormal (1.4e-45) to 1e4


def node_degrees(graph: LayeredGraph) -> np.ndarray:
    """Each node's summed edge weight, layers in order (the graph's node order)."""
    return np.asarray(graph.adjacency().sum(axis=1), dtype=np.float64).ravel()


def faint_clusters(degrees: np.ndarray, labels: np.ndarray, epsilon: float = NCUT_EPSILON) -> int:
    """How many clusters have a volume (summed degree) below ``epsilon``; nodes labelled −1 are left out."""
    degrees, labels = np.asarray(degrees, dtype=np.float64), np.asarray(labels)
    used = labels >= 0
    volumes = np.bincount(labels[used], weights=degrees[used])
    present = np.bincount(labels[used]) > 0
    return int(((volumes < epsilon) & present).sum())


def degree_histogram(degrees: np.ndarray) -> np.ndarray:
    """How many nodes have a degree in each decade of ``DEGREE_BINS`` (degrees below its first edge, zero
    included, are counted in the first bin)."""
    logs = np.log10(np.maximum(np.asarray(degrees, dtype=np.float64), 10.0 ** DEGREE_BINS[0]))
    return np.histogram(logs, bins=DEGREE_BINS)[0]


def report(graph: LayeredGraph, ks: list[int], seed: int) -> dict[int, dict]:
    """Per k: the graph's faint units and its degree histogram (the same at every k), the faint clusters of
    its spectral clustering (the clustering the clusterability measurement makes: same function, same seed) and
    that clustering's n-cut."""
    degrees = node_degrees(graph)
    histogram = degree_histogram(degrees)
    clustered = cluster_layer_matrices_ks([torch.as_tensor(w)[None] for w in graph.weights], list(ks), [seed])
    return {k: {"faint_units": int((degrees < NCUT_EPSILON).sum()), "degree_histogram": histogram,
                "faint_clusters": faint_clusters(degrees, labels[0].numpy()),
                "ncut": float(ncuts[0])} for k, (labels, ncuts) in clustered.items()}
