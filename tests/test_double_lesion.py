"""Double lesions on planted structure: a chain of two sub-clusters that carries the task departs from random
pairs; two sub-clusters nothing reads from do not. Hand-checked p on a tiny case."""

import numpy as np
import pytest
import torch
from torch import nn

from modularity.double_lesion import SubCluster, conditional_test, joint_test, pair_dependencies


def planted_chain():
    """x0's sign reaches the output only through units 0-1 of hidden layer 1 (A) and then units 0-1 of hidden
    layer 2 (B); units 6-7 of both layers (C, D) are read by nothing."""
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    with torch.no_grad():
        for layer in (model[0], model[2], model[4]):
            layer.weight.zero_()
            layer.bias.zero_()
        model[0].weight[0, 0], model[0].weight[1, 0] = 1.0, -1.0  # A: x0⁺ and x0⁻
        model[0].weight[6:8, 1:3] = 1.0  # C: busy, but nothing reads it
        model[2].weight[0, 0], model[2].weight[1, 1] = 1.0, 1.0  # B copies A
        model[2].weight[6:8, 6:8] = 1.0  # D reads C; nothing reads D
        model[4].weight[1, 0], model[4].weight[0, 1] = 1.0, 1.0  # class 1 when x0 > 0
    torch.manual_seed(0)
    x = torch.randn(400, 4)
    y = (x[:, 0] > 0).long()

    def evaluate():
        with torch.no_grad():
            return (model(x).argmax(1) == y).float().mean().item()

    return model, [model[0], model[2]], [8, 8], evaluate


def test_a_chain_that_carries_the_task_departs_and_an_unread_pair_does_not():
    model, layers, sizes, evaluate = planted_chain()
    assert evaluate() == 1.0
    a, b = SubCluster(0, (0, 1)), SubCluster(1, (0, 1))
    c, d = SubCluster(0, (6, 7)), SubCluster(1, (6, 7))
    chain = joint_test(layers, sizes, evaluate, a, b, n_random=50)
    assert chain["accuracy"] < 0.6 < chain["random_mean"] and chain["p"] <= 0.05
    unread = joint_test(layers, sizes, evaluate, c, d, n_random=50)
    assert unread["accuracy"] == 1.0 and unread["p"] > 0.05  # random pairs that hit A or B cost more
    result = pair_dependencies(layers, sizes, evaluate, [a, b, c, d], n_random=30)
    assert result["departs"][0, 1] and result["departs"][1, 0]
    assert not result["departs"][2, 3] and not result["departs"][3, 2]
    assert not any(layer._forward_hooks for layer in layers)  # every lesion was undone


def test_conditional_lesions_avoid_the_given_units_and_p_is_left_tailed():
    model, layers, sizes, evaluate = planted_chain()
    # with A lesioned the task is already lost: lesioning B too costs nothing more than random sets
    given = conditional_test(layers, sizes, evaluate, SubCluster(1, (0, 1)), SubCluster(0, (0, 1)), n_random=20)
    assert given["accuracy"] == pytest.approx(given["random_mean"]) and given["p"] == pytest.approx(1 / 21)
    with pytest.raises(ValueError, match="cannot draw 7 random units"):
        conditional_test(layers, sizes, evaluate, SubCluster(0, tuple(range(7))), SubCluster(0, (0, 1)), 5)
    assert np.isnan(pair_dependencies(layers, sizes, evaluate, [SubCluster(0, (0,))], 5)["frac_dependent"])
