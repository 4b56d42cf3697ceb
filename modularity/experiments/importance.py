"""Importance and coherence of the sub-clusters of an MLP's partitions (Hod et al., P2).

A *partition* labels every hidden unit (−1: isolated or dead); a *sub-cluster* is one label within one
layer. Partitions come from the weight graph or from activation correlations, clustered over the whole
network (global) or layer by layer (local), always with ``modularity.clustering``. Each sub-cluster is
compared with random same-size sets from the same layer on three questions:

- importance: lesioning it lowers mean per-class accuracy more (lower tail), and more class-specifically
  (the range statistic, upper tail; and, as an extension, the largest single-class drop, upper tail);
- coherence by feature visualisation: an input optimised to drive the set's pre-activations reaches a
  higher objective (upper tail) and gets a lower-entropy prediction (lower tail);
- coherence on real inputs (no optimisation): the 10 training images that drive the set most have a
  lower-entropy label histogram (lower tail).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

from modularity import clustering, lesions, masking
from modularity.experiments import networks

MIN_SIZE, MAX_PROP = 2, 0.99  # P2's size filter
PARTITIONS = ("weight_global", "weight_local", "activation_global", "activation_local")


@dataclass
class SubCluster:
    layer: int  # hidden layer, 0-based
    label: int
    units: np.ndarray


def sub_clusters(layer_labels: list[np.ndarray]) -> list[SubCluster]:
    """Every (layer, label) group with 2 ≤ size ≤ 0.99 × the layer's non-isolated units."""
    out = []
    for layer, labels in enumerate(layer_labels):
        n_valid = int((labels >= 0).sum())
        for label in np.unique(labels[labels >= 0]):
            units = np.flatnonzero(labels == label)
            if MIN_SIZE <= len(units) <= MAX_PROP * n_valid:
                out.append(SubCluster(layer, int(label), units))
    return out


# --- partitions -------------------------------------------------------------------------------------------

def weight_partition(model, k: int, local: bool, seed: int = 0) -> list[np.ndarray]:
    """Labels of each hidden layer from spectral clustering of the |w| graph (inputs and logits take part
    in the clustering but are never lesioned). Local: each hidden layer clustered within its own 3-layer
    subgraph, into as many clusters as the global partition put in that layer."""
    graph = clustering.mlp_graph(model)
    labels, _ = clustering.spectral_clustering(graph, k, seed=seed)
    global_hidden = graph.expand_labels(labels)[1:-1]
    if not local:
        return global_hidden
    mats = [layer.weight.detach().T for layer in model.layers]
    out = []
    for h, global_labels in enumerate(global_hidden):
        n_clusters = len(np.unique(global_labels[global_labels >= 0]))
        sub = clustering.layered_graph(mats[h:h + 2])  # layers h, h+1 (this hidden layer), h+2
        if n_clusters < 2 or min(sub.layer_sizes) == 0:
            out.append(np.where(global_labels >= 0, 0, -1))
            continue
        sub_labels, _ = clustering.spectral_clustering(sub, n_clusters, seed=seed)
        out.append(sub.expand_labels(sub_labels)[1])
    return out


def spearman_squared(values: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """ρ² between the columns of ``values`` (examples × units), diagonal 0, and which units are alive
    (non-zero variance); dead units get no edges."""
    ranks = values.argsort(dim=0).argsort(dim=0).to(torch.float64)  # ties are rare in float pre-activations
    alive = values.std(dim=0) > 0
    centred = ranks - ranks.mean(dim=0)
    norms = centred.norm(dim=0)
    rho = (centred.T @ centred) / torch.outer(norms, norms).clamp_min(1e-300)
    adjacency = torch.nan_to_num(rho**2).clamp(0, 1)
    adjacency[~alive] = 0
    adjacency[:, ~alive] = 0
    adjacency.fill_diagonal_(0)
    return adjacency.numpy(), alive.numpy()


def activation_partition(model, x: torch.Tensor, k: int, local: bool, seed: int = 0) -> list[np.ndarray]:
    """Labels from the squared Spearman correlation of hidden pre-activations over inputs ``x``; dead
    units are −1. Local: each layer's own correlation matrix, into the global partition's count."""
    pre = lesions.pre_activations(model, x)
    sizes = [p.shape[1] for p in pre]
    adjacency, alive = spearman_squared(torch.cat(pre, dim=1))
    labels = np.full(len(alive), -1)
    live = np.flatnonzero(alive & (adjacency.sum(axis=1) > 0))
    labels[live] = clustering.spectral_clustering_dense(adjacency[np.ix_(live, live)], k, seed=seed)[0]
    global_labels = np.split(labels, np.cumsum(sizes)[:-1])
    if not local:
        return global_labels
    out, start = [], 0
    for size, layer_labels in zip(sizes, global_labels):
        n_clusters = len(np.unique(layer_labels[layer_labels >= 0]))
        block = adjacency[start:start + size, start:start + size]
        keep = np.flatnonzero((layer_labels >= 0) & (block.sum(axis=1) > 0))
        local_labels = np.full(size, -1)
        if n_clusters >= 2 and len(keep) >= n_clusters:
            local_labels[keep] = clustering.spectral_clustering_dense(block[np.ix_(keep, keep)], n_clusters,
                                                                      seed=seed)[0]
        else:
            local_labels[keep] = 0
        out.append(local_labels)
        start += size
    return out


def partition(model, kind: str, k: int, x_train: torch.Tensor, seed: int = 0) -> list[np.ndarray]:
    source, scope = kind.split("_")
    if source == "weight":
        return weight_partition(model, k, local=scope == "local", seed=seed)
    return activation_partition(model, x_train, k, local=scope == "local", seed=seed)


# --- the tests of one sub-cluster -------------------------------------------------------------------------

def unit_sets(cluster: SubCluster, layer_labels: list[np.ndarray], n_random: int, rng) -> list[np.ndarray]:
    """The cluster's units first, then ``n_random`` random same-size sets from its layer."""
    return [cluster.units] + lesions.random_sets(layer_labels[cluster.layer], cluster.label, n_random, rng)


@torch.no_grad()
def importance(model, cluster: SubCluster, sets: list[np.ndarray], hidden: list[torch.Tensor],
               y: torch.Tensor, base_acc: np.ndarray, n_classes: int) -> dict:
    """Lesion the cluster and each random set (one batched pass); percentiles of the mean accuracy (lower
    tail) and of the class-specificity range (upper tail)."""
    layer_hidden = hidden[cluster.layer]
    logits = lesions.forward_from(model, cluster.layer, layer_hidden, lesions.lesion_masks(layer_hidden.shape[1], sets))
    return importance_record(lesions.class_accuracies(logits, y, n_classes).numpy(), base_acc)


def importance_record(accs: np.ndarray, base_acc: np.ndarray) -> dict:
    """The importance statistics of one sub-cluster from the per-class accuracies (sets × classes) with it
    lesioned (row 0) and with each random set lesioned (the other rows)."""
    means = accs.mean(axis=1)
    ranges = np.array([lesions.range_statistic(a, base_acc) for a in accs])
    largest = (base_acc[None] - accs).max(axis=1)  # the largest drop of any one class
    n_random = len(accs) - 1
    return {"p_mean": lesions.percentile(means[0], means[1:], "lower"),
            "p_range": lesions.percentile(ranges[0], ranges[1:], "upper"),
            "p_max_class_drop": lesions.percentile(largest[0], largest[1:], "upper"),
            "acc_drop": float(base_acc.mean() - means[0]), "random_acc_drops": base_acc.mean() - means[1:],
            "class_drops": base_acc - accs[0], "n_random": n_random}


def optimise_inputs(model, score, predict, n_inputs: int, input_shape: tuple[int, ...], steps: int, lr: float,
                    seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Feature visualisation (P2): ``n_inputs`` images sigmoid(θ), θ drawn small from ``seed``, optimised
    together by Adam to maximise ``score(images)`` (one value per image) with the model's weights frozen
    meanwhile (their flags restored after). Returns the images, their final scores and the entropy of
    ``predict(images)``'s softmax."""
    generator = torch.Generator().manual_seed(seed)
    theta = (0.01 * torch.randn(n_inputs, *input_shape, generator=generator)).requires_grad_(True)
    optimizer = torch.optim.Adam([theta], lr=lr)
    restore = masking.frozen_weights(model)
    try:
        for _ in range(steps):
            optimizer.zero_grad()
            (-score(torch.sigmoid(theta)).sum()).backward()
            optimizer.step()
    finally:
        restore()
    with torch.no_grad():
        images = torch.sigmoid(theta)
        return images, score(images), lesions.entropy(torch.softmax(predict(images), dim=-1))


def visualisation_record(score: torch.Tensor, entropy: torch.Tensor) -> dict:
    """The true set's (first row's) score and prediction entropy, with their percentiles among the random
    sets': a coherent set drives its units harder (upper tail) to a surer prediction (lower tail)."""
    score, ent = score.numpy(), entropy.numpy()
    return {"p_score": lesions.percentile(score[0], score[1:], "upper"),
            "p_entropy": lesions.percentile(ent[0], ent[1:], "lower"), "score": float(score[0]),
            "entropy": float(ent[0]), "n_random": len(score) - 1}


def feature_visualisation(model, layer: int, sets: list[np.ndarray], steps: int = 65, lr: float = 0.05,
                          seed: int = 0, input_shape=(1, 28, 28)) -> dict:
    """For each set, an input optimised to maximise Σ_{u∈S} |pre-activation_u(x)| (``optimise_inputs``);
    the record of the true set against the random ones, and its image."""
    selection = 1 - lesions.lesion_masks(model.layers[layer].out_features, sets)  # 1 at the set's units

    def score(images):
        return (lesions.pre_activation(model, images, layer).abs() * selection).sum(1)

    images, scores, entropy = optimise_inputs(model, score, model, len(sets), input_shape, steps, lr, seed)
    return visualisation_record(scores, entropy) | {"image": images[0].numpy()}


def example_coherence(pre: list[torch.Tensor], labels: torch.Tensor, layer: int, sets: list[np.ndarray],
                      n_classes: int, top: int = 10) -> dict:
    """The ``top`` inputs with the largest Σ_{u∈S} |pre-activation| for each set: the entropy of their
    label histogram (lower: the set responds to one class's features)."""
    entropies = []
    for units in sets:
        drive = pre[layer][:, torch.as_tensor(units)].abs().sum(dim=1)
        chosen = labels[drive.topk(top).indices]
        counts = torch.bincount(chosen, minlength=n_classes).to(torch.float64)
        entropies.append(float(lesions.entropy(counts / counts.sum())))
    entropies = np.array(entropies)
    return {"p_examples": lesions.percentile(entropies[0], entropies[1:], "lower"),
            "example_entropy": float(entropies[0])}


class UnbalancedSubsetWarning(UserWarning):
    """An evaluation subset that misses classes of its test set."""


def evaluation_set(x_test: torch.Tensor, y_test: torch.Tensor, test_subset: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``test_subset`` test images (0: all), with a warning when they miss a class of the test set: the
    offline JPEG copy of CIFAR-10 lists its test images class by class, so its first 2,000 are two classes."""
    if not test_subset:
        return x_test, y_test
    missing = sorted(set(y_test.unique().tolist()) - set(y_test[:test_subset].unique().tolist()))
    if missing:
        warnings.warn(f"the first {test_subset:,} test images lack the classes {missing} (a test set stored class by "
                      "class, as the offline CIFAR-10 copy is), so lesions are scored on the others only: set "
                      f"test_subset to 0 to score them on all {len(y_test):,}", UnbalancedSubsetWarning, stacklevel=2)
    return x_test[:test_subset], y_test[:test_subset]


def analyse_network(model, data, seed: int, partitions, k: int, n_random: int, test_subset: int,
                    activation_examples: int, vis_steps: int, vis_lr: float) -> dict:
    """Every sub-cluster of every partition of one trained MLP: importance (lesioned with its random same-size
    sets in one batched pass), feature visualisation and dataset-example coherence (P2). ``data`` is
    ``(x_train, y_train, x_test, y_test)``; ``test_subset`` 0 means the whole test set."""
    x_train, y_train, x_test, y_test = data
    examples = x_train[:activation_examples].cpu()
    x_eval, y_eval = evaluation_set(x_test, y_test, test_subset)
    x_eval, y_eval = x_eval.cpu(), y_eval.cpu()
    hidden_eval = lesions.hidden_activations(model, x_eval)
    base = lesions.class_accuracies(model(x_eval), y_eval, 10).numpy()
    pre = lesions.pre_activations(model, examples)
    rng = np.random.default_rng(seed)
    records = []
    for kind in partitions:
        layer_labels = partition(model, kind, k, examples, seed=seed)
        for cluster in sub_clusters(layer_labels):
            sets = unit_sets(cluster, layer_labels, n_random, rng)
            record = {"partition": kind, "layer": cluster.layer + 1, "label": cluster.label,
                      "size": len(cluster.units)}
            record |= importance(model, cluster, sets, hidden_eval, y_eval, base, 10)
            record |= feature_visualisation(model, cluster.layer, sets, vis_steps, vis_lr, seed=seed)
            record |= example_coherence(pre, y_train[:activation_examples].cpu(), cluster.layer, sets, 10)
            records.append(record)
    return {"records": records, "base_acc": base}


def run_network(dataset: str, setting: str, seed: int, settings, data, device, partitions, k: int, n_random: int,
                test_subset: int, activation_examples: int, vis_steps: int, vis_lr: float) -> dict:
    """One network of the clusterability chapter (trained, or loaded from its per-seed store), then
    ``analyse_network`` on it."""
    regulariser = networks.regulariser_of(setting)
    states = networks.trained_states("mlp", dataset, regulariser, seed, settings, data, device)
    model = networks.trained_model("mlp", dataset, regulariser, states["pruned" if "pruned" in setting else "unpruned"],
                             settings)
    return analyse_network(model, data, seed, partitions, k, n_random, test_subset, activation_examples, vis_steps,
                           vis_lr)
