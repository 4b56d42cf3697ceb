"""Faint channels: a planted CNN whose unread block of channels decayed below n-cut's ε."""

import torch

from modularity.experiments import channel_faint, channel_importance
from tests.test_channel_importance import planted_cnn


def test_channels_whose_kernels_decayed_below_epsilon_are_faint_and_cluster_alone():
    model, _ = planted_cnn()
    with torch.no_grad():
        model[2].weight[16:, 16:, 1, 1] = 1e-30  # the unread block: kept in the graph, summed weight 16e-30
    result = channel_faint.analyse(model, k=2, seed=0)
    assert result["faint_channels"] == 32 and result["faint_clusters"] == 1  # the block is one cluster
    labels = channel_importance.weight_partition(model, 2, seed=0)  # the clustering the importance tests use
    for layer, layer_labels in enumerate(labels, start=1):
        unread, carrying = int(layer_labels[16]), int(layer_labels[0])
        assert result["faint_by_sub_cluster"][layer, unread] == 16
        assert result["faint_by_sub_cluster"][layer, carrying] == 0


def test_a_network_without_decayed_channels_has_none():
    model, _ = planted_cnn()
    result = channel_faint.analyse(model, k=2, seed=0)
    assert result["faint_channels"] == result["faint_clusters"] == 0
    assert set(result["faint_by_sub_cluster"].values()) == {0}
