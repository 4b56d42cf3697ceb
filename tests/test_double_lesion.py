"""Double lesions on planted structure: a chain of two sub-clusters that carries the task departs from random
pairs; two sub-clusters nothing reads from do not. Hand-checked p on a tiny case."""

import numpy as np
import pytest
import torch
from torch import nn

from modularity.double_lesion import SubCluster, conditional_test, hooked_scorer, joint_test, pair_dependencies
from modularity.lesions import mlp_lesion_scorer


def planted_chain():
    """x0's sign reaches the output only through units 0-1 of hidden layer 1 (A) and then units 0-1 of hidden
    layer 2 (B); units 62-63 of both layers (C, D) are read by nothing. The score is the mean probability of
    the right class, so that a lesion that hits one unit of A costs less than one that removes all of A."""
    model = nn.Sequential(nn.Linear(4, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2))
    with torch.no_grad():
        for layer in (model[0], model[2], model[4]):
            layer.weight.zero_()
            layer.bias.zero_()
        model[0].weight[0, 0], model[0].weight[1, 0] = 1.0, -1.0  # A: x0⁺ and x0⁻
        model[0].weight[62:64, 1:3] = 1.0  # C: busy, but nothing reads it
        model[2].weight[0, 0], model[2].weight[1, 1] = 1.0, 1.0  # B copies A
        model[2].weight[62:64, 62:64] = 1.0  # D reads C; nothing reads D
        model[4].weight[1, 0], model[4].weight[0, 1] = 5.0, 5.0  # class 1 when x0 > 0
    torch.manual_seed(0)
    x = torch.randn(400, 4)
    y = (x[:, 0] > 0).long()

    def evaluate():
        with torch.no_grad():
            return model(x).softmax(1).gather(1, y[:, None]).mean().item()

    return model, [model[0], model[2]], [range(64), range(64)], evaluate


def test_a_chain_that_carries_the_task_departs_and_an_unread_pair_does_not():
    model, layers, sizes, evaluate = planted_chain()
    score = hooked_scorer(layers, evaluate)
    intact = evaluate()
    assert intact > 0.85
    a, b = SubCluster(0, (0, 1)), SubCluster(1, (0, 1))
    c, d = SubCluster(0, (62, 63)), SubCluster(1, (62, 63))
    chain = joint_test(score, sizes, a, b, n_random=50)
    assert chain["accuracy"] == pytest.approx(0.5) and chain["random_mean"] > 0.7 and chain["p"] <= 0.05
    unread = joint_test(score, sizes, c, d, n_random=50)
    assert unread["accuracy"] == intact and unread["p"] > 0.05  # random pairs that hit A or B cost more
    result = pair_dependencies(score, sizes, [a, b, c, d], n_random=30)
    assert result["departs"][0, 1] and result["departs"][1, 0]
    assert not result["departs"][2, 3] and not result["departs"][3, 2]
    assert not any(layer._forward_hooks for layer in layers)  # every lesion was undone


def test_conditional_lesions_avoid_the_given_units_and_p_is_left_tailed():
    model, layers, sizes, evaluate = planted_chain()
    score = hooked_scorer(layers, evaluate)
    # with A lesioned the task is already lost: lesioning B too costs nothing more than random sets, and the
    # ties count half, so the pair does not depart from random
    given = conditional_test(score, sizes, SubCluster(1, (0, 1)), SubCluster(0, (0, 1)), n_random=20)
    assert given["accuracy"] == pytest.approx(given["random_mean"]) and given["p"] == pytest.approx(11 / 21)
    # random units come only from the candidates: with B's layer restricted to A-free units 2-5 the chain's
    # joint lesion is below every random pair (p = 1/(n+1))
    restricted = joint_test(score, [range(2, 6), range(2, 6)], SubCluster(0, (0, 1)), SubCluster(1, (0, 1)),
                            n_random=20)
    assert restricted["random_mean"] == evaluate() and restricted["p"] == pytest.approx(1 / 21)
    with pytest.raises(ValueError, match="cannot draw 63 random units"):
        conditional_test(score, sizes, SubCluster(0, tuple(range(63))), SubCluster(0, (0, 1)), 5)
    assert np.isnan(pair_dependencies(score, sizes, [SubCluster(0, (0,))], 5)["frac_dependent"])


def test_the_batched_mlp_scorer_agrees_with_forward_hooks():
    from modularity.lesions import class_accuracies
    from modularity.models.mlp import MLP

    torch.manual_seed(1)
    model = MLP(6, [12, 10, 8], 10).eval()
    with torch.no_grad():
        for layer in model.layers:
            layer.weight.normal_()  # unit-variance weights: the classes the network predicts vary with x
    x = torch.randn(300, 6)
    with torch.no_grad():
        y = model(x).argmax(1)  # the intact network is right everywhere; lesions cost some of it

    def evaluate():
        with torch.no_grad():
            return float(class_accuracies(model(x), y, 10).mean())

    lesion_list = [{0: {1, 4}}, {0: {2}, 2: {0, 7}}, {1: {3, 5, 9}}, {1: {0}, 2: {1}}, {0: set(range(12))}]
    hooked = hooked_scorer(list(model.layers[:-1]), evaluate)(lesion_list)
    batched = mlp_lesion_scorer(model, x, y, 10, chunk=2)(lesion_list)
    assert batched == pytest.approx(hooked, abs=1e-12)
    assert len(set(hooked)) > 2  # the lesions do change the accuracy
