"""Importance and coherence of a CNN's channel clusters (Hod et al., P2, for the small CNN and the CIFAR-10 VGG).

The MLP analysis of ``experiments.importance`` with channels for units. The partition is spectral clustering
of the channel graph (``clustering.cnn_graph``: every conv layer's channels); a sub-cluster is one cluster's
channels in one conv layer (``importance.sub_clusters``, P2's size filter), compared with random same-size
channel sets of that layer:

- importance: lesioning the channels (their conv outputs set to 0 by a forward hook, ``lesions.lesioned``)
  lowers mean per-class accuracy more than random sets (lower tail) and more class-specifically (upper tail);
- coherence by feature visualisation: an input optimised to drive Σ_{c∈S} |spatial mean of conv output c|
  (P2's objective for channels) reaches a higher objective (upper tail) and a lower-entropy prediction
  (lower tail);
- coherence on real inputs: the training images that drive the set most (Σ of each channel's largest
  column sum of |output|, P2's per-channel activation) have a lower-entropy label histogram (lower tail;
  ``importance.example_coherence``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from modularity import clustering, lesions, tracing
from modularity.experiments import networks
from modularity.experiments.importance import (
    evaluation_set,
    example_coherence,
    optimise_inputs,
    sub_clusters,
    unit_sets,
    visualisation_record,
)

__all__ = ["analyse_network", "channel_activations", "conv_layers", "feature_visualisation", "importance",
           "run_network", "weight_partition"]


def conv_layers(model: nn.Module) -> list[nn.Conv2d]:
    """The conv layers in forward order (up to the dense head): the layers of the channel graph."""
    return tracing.weighted_chain(model, (nn.Conv2d,), stop_at=(nn.Linear,))


def weight_partition(model: nn.Module, k: int, seed: int = 0) -> list[np.ndarray]:
    """Each conv layer's channel labels from spectral clustering of the channel graph (−1: isolated)."""
    graph = clustering.cnn_graph(model)
    labels, _ = clustering.spectral_clustering(graph, k, seed=seed)
    return graph.expand_labels(labels)


def _outputs(model: nn.Module, convs: list[nn.Conv2d], x: torch.Tensor):
    """The model's logits on ``x`` and every conv layer's output (before its activation)."""
    captured = {}
    handles = [conv.register_forward_hook(lambda module, inputs, output, j=j: captured.__setitem__(j, output))
               for j, conv in enumerate(convs)]
    try:
        logits = model(x)
    finally:
        for handle in handles:
            handle.remove()
    return logits, [captured[j] for j in range(len(convs))]


@torch.no_grad()
def channel_activations(model: nn.Module, x: torch.Tensor, batch: int = 500,
                        convs: list[nn.Conv2d] | None = None) -> list[torch.Tensor]:
    """Per conv layer (examples × channels): the induced 1-norm of each channel's |output| map (the largest
    column sum), P2's one number per channel and input."""
    convs, parts = convs or conv_layers(model), []
    for start in range(0, len(x), batch):
        _, outs = _outputs(model, convs, x[start:start + batch])
        parts.append([o.abs().sum(dim=2).amax(dim=2) for o in outs])
    return [torch.cat([p[j] for p in parts]) for j in range(len(convs))]


def importance(model: nn.Module, conv: nn.Conv2d, sets: list[np.ndarray], x: torch.Tensor, y: torch.Tensor,
               base_acc: np.ndarray, n_classes: int, batch: int = 500) -> dict:
    """Lesion the sub-cluster's channels (``sets[0]``) and each random set; percentiles as for an MLP."""
    accs = []
    for channels in sets:
        with lesions.lesioned([conv], [channels.tolist()]):
            accs.append(lesions.model_class_accuracies(model, x, y, n_classes, batch))
    accs = np.array(accs)
    means = accs.mean(axis=1)
    ranges = np.array([lesions.range_statistic(a, base_acc) for a in accs])
    return {"p_mean": lesions.percentile(means[0], means[1:], "lower"),
            "p_range": lesions.percentile(ranges[0], ranges[1:], "upper"),
            "acc_drop": float(base_acc.mean() - means[0]), "random_acc_drops": base_acc.mean() - means[1:],
            "class_drops": base_acc - accs[0], "n_random": len(sets) - 1}


def feature_visualisation(model: nn.Module, layer: int, sets: list[np.ndarray], input_shape: tuple[int, ...],
                          steps: int = 65, lr: float = 0.05, seed: int = 0,
                          convs: list[nn.Conv2d] | None = None) -> dict:
    """For each set, an input optimised to maximise Σ_{c∈S} |spatial mean of channel c|
    (``optimise_inputs``); the record of the true set against the random ones."""
    convs = convs or conv_layers(model)
    selection = 1 - lesions.lesion_masks(convs[layer].out_channels, sets)  # 1 at the set's channels

    def score(images):
        return (_outputs(model, convs, images)[1][layer].mean(dim=(2, 3)).abs() * selection).sum(1)

    _, scores, entropy = optimise_inputs(model, score, model, len(sets), input_shape, steps, lr, seed)
    return visualisation_record(scores, entropy)


def analyse_network(model: nn.Module, data, seed: int, k: int, n_random: int, test_subset: int,
                    activation_examples: int, vis_steps: int, vis_lr: float) -> dict:
    """Every sub-cluster of the weight partition of one trained CNN (evaluation mode): importance, feature
    visualisation and dataset-example coherence. ``data``: (x_train, y_train, x_test, y_test)."""
    model = model.eval()
    x_train, y_train, x_test, y_test = data
    x_eval, y_eval = evaluation_set(x_test, y_test, test_subset)
    base = lesions.model_class_accuracies(model, x_eval, y_eval, 10, 500)
    convs = conv_layers(model)  # traced once for every sub-cluster's lesion and visualisation
    activations = channel_activations(model, x_train[:activation_examples], convs=convs)
    layer_labels = weight_partition(model, k, seed=seed)
    rng, records = np.random.default_rng(seed), []
    for cluster in sub_clusters(layer_labels):
        sets = unit_sets(cluster, layer_labels, n_random, rng)
        record = {"partition": "weight_global", "layer": cluster.layer + 1, "label": cluster.label,
                  "size": len(cluster.units)}
        record |= importance(model, convs[cluster.layer], sets, x_eval, y_eval, base, 10)
        record |= feature_visualisation(model, cluster.layer, sets, tuple(x_train.shape[1:]), vis_steps, vis_lr, seed,
                                        convs=convs)
        # the MLP's test: channel activations are norms, so its |·| of a pre-activation changes nothing here
        record |= example_coherence(activations, y_train[:activation_examples], cluster.layer, sets, 10)
        records.append(record)
    return {"records": records, "base_acc": base}


def run_network(kind: str, dataset: str, regulariser: str, seed: int, settings, data, device, k: int, n_random: int,
                test_subset: int, activation_examples: int, vis_steps: int, vis_lr: float) -> dict:
    """The clusterability chapter's unpruned CNN or VGG (trained, or loaded from its per-seed store; Hod et al.
    analyse unpruned networks), then ``analyse_network`` on it."""
    state = networks.trained_states(kind, dataset, regulariser, seed, settings, data, device, prune=False)["unpruned"]
    model = networks.trained_model(kind, dataset, regulariser, state, settings)
    return analyse_network(model, tuple(t.cpu() for t in data), seed, k, n_random, test_subset, activation_examples,
                           vis_steps, vis_lr)
