"""Planted structure: a network in which one group of units alone carries one class must show that group,
found by the partition pipeline, as important and class-specific; partitions and sub-cluster bookkeeping."""

import numpy as np
import pytest
import torch

from modularity import lesions
from modularity.experiments import importance as imp
from modularity.models.mlp import MLP


def planted_network():
    """Input c feeds units 4c..4c+3 of hidden layer 1, which feed the same units of hidden layer 2,
    which feed logit c: group c alone carries class c."""
    model = MLP(3, [12, 12], 3)
    group = np.arange(12) // 4
    with torch.no_grad():
        model.layers[0].weight.copy_(torch.as_tensor(group[:, None] == np.arange(3)[None, :], dtype=torch.float32))
        model.layers[1].weight.copy_(torch.eye(12))
        model.layers[2].weight.copy_(torch.as_tensor(np.arange(3)[:, None] == group[None, :], dtype=torch.float32))
        for layer in model.layers:
            layer.bias.zero_()
    return model.eval()


def test_planted_cluster_is_important_and_class_specific():
    model = planted_network()
    x = torch.eye(3).repeat(30, 1)
    y = torch.arange(3).repeat(30)
    layer_labels = imp.weight_partition(model, k=3, local=False)
    clusters = imp.sub_clusters(layer_labels)
    target = next(c for c in clusters if c.layer == 0 and set(c.units) == {8, 9, 10, 11})  # found by clustering
    hidden = lesions.hidden_activations(model, x)
    base = lesions.class_accuracies(model(x), y, 3).numpy()
    assert base.tolist() == [1.0, 1.0, 1.0]
    sets = imp.unit_sets(target, layer_labels, 19, np.random.default_rng(0))
    result = imp.importance(model, target, sets, hidden, y, base, 3)
    assert lesions.is_minimal(result["p_mean"], 19), result["p_mean"]
    assert lesions.is_minimal(result["p_range"], 19), result["p_range"]
    assert lesions.is_minimal(result["p_max_class_drop"], 19), result["p_max_class_drop"]
    assert result["class_drops"].tolist() == [0.0, 0.0, 1.0]


def test_sub_clusters_apply_the_size_filter():
    labels = [np.array([0, 0, 1, 2, 2, 2, -1]), np.array([0, 0, 0, 0])]
    found = [(c.layer, c.label, len(c.units)) for c in imp.sub_clusters(labels)]
    assert found == [(0, 0, 2), (0, 2, 3)]  # singleton label 1 and the whole second layer are left out


def test_local_weight_partition_keeps_the_global_counts():
    model = planted_network()
    global_labels = imp.weight_partition(model, 3, local=False)
    local_labels = imp.weight_partition(model, 3, local=True)
    for glob, loc in zip(global_labels, local_labels):
        assert len(np.unique(glob[glob >= 0])) == len(np.unique(loc[loc >= 0]))


def test_activation_partition_groups_correlated_units_and_drops_dead_ones():
    torch.manual_seed(0)
    model = MLP(2, [6], 2)
    with torch.no_grad():  # units 0-2 follow input 0, units 3-4 follow input 1, unit 5 is dead
        weight = [[1, 0], [2, 0], [3, 0], [0, 1], [0, 2], [0, 0]]
        model.layers[0].weight.copy_(torch.tensor(weight, dtype=torch.float32))
        model.layers[0].bias.zero_()
    x = torch.rand(200, 2)
    labels = imp.activation_partition(model, x, k=2, local=False)[0]
    assert labels[5] == -1
    assert len(set(labels[:3])) == 1 and len(set(labels[3:5])) == 1 and labels[0] != labels[3]
    adjacency, alive = imp.spearman_squared(lesions.pre_activations(model, x)[0])
    assert not alive[5] and np.allclose(adjacency[0, 1], 1.0) and adjacency[0, 0] == 0


def test_feature_visualisation_and_example_coherence_run_on_sets():
    model = planted_network()
    sets = [np.array([8, 9, 10, 11]), np.array([0, 4, 8, 9])]
    result = imp.feature_visualisation(model, 0, sets, steps=30, input_shape=(3,))
    image = result["image"]
    assert image[2] > image[0] + 0.2 and image[2] > image[1] + 0.2  # driving group 2 pushes input 2 up
    pre = lesions.pre_activations(model, torch.eye(3).repeat(10, 1))
    coherence = imp.example_coherence(pre, torch.arange(3).repeat(10), 0, sets, 3)
    assert coherence["example_entropy"] == 0.0  # the top-10 inputs of group 2 are all class 2


def test_an_evaluation_subset_missing_a_class_is_named_in_a_warning():
    x = torch.arange(40.0)[:, None]
    by_class = torch.arange(10).repeat_interleave(4)  # stored class by class, like the offline CIFAR-10 copy
    interleaved = torch.arange(10).repeat(4)
    assert imp.evaluation_set(x, by_class, 0)[1] is by_class  # 0: every test image
    x_eval, y_eval = imp.evaluation_set(x, interleaved, 10)
    assert torch.equal(x_eval, x[:10]) and torch.equal(y_eval, interleaved[:10])
    with pytest.warns(imp.UnbalancedSubsetWarning, match=r"first 20 test images lack the classes \[5, 6, 7, 8, 9\].*"
                                                         r"test_subset to 0"):
        assert torch.equal(imp.evaluation_set(x, by_class, 20)[1], by_class[:20])
