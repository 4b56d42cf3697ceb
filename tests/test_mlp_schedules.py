"""The clusterability MLPs' schedules: one rule for the chapter and the cost estimates."""

import pytest

from modularity.experiments import mlp_schedules
from modularity.experiments.networks import Settings

PAPER_P1 = {"epochs": 20, "prune_epochs": 20, "small_hidden": [64, 64, 64], "small_epochs": 0, "small_prune_epochs": 0,
            "cifar_epochs": 20, "cifar_dropout_epochs": 100, "cifar_prune_epochs": 40}


@pytest.mark.parametrize("dataset, regulariser, expected", [
    ("mnist", "dropout", (20, 20)),
    ("cifar10_gray", "none", (20, 40)),  # P1: 20 + 40
    ("cifar10_gray", "dropout", (100, 40)),  # P1: 100 + 40 with dropout
    ("mnist_7x7", "cluster_grad", (20, 20)),  # 0: as every other dataset
])
def test_p1_schedules(dataset, regulariser, expected):
    assert mlp_schedules.epochs(PAPER_P1, dataset, regulariser) == expected


def test_small_mlp_and_parameters_a_preset_predates():
    p = {"epochs": 20, "prune_epochs": 20, "small_hidden": [64, 64, 64], "small_epochs": 10, "small_prune_epochs": 10}
    assert mlp_schedules.epochs(p, "mnist_7x7", "none") == (10, 10)
    assert mlp_schedules.epochs(p, "cifar10_gray", "dropout") == (20, 20)  # no cifar_* parameters: read as 0
    base = Settings(hidden=[256] * 4, epochs=20, prune_epochs=20)
    small = mlp_schedules.training(base, p, "mnist_7x7", "none")
    assert (small.hidden, small.epochs, small.prune_epochs) == ([64, 64, 64], 10, 10)
    assert mlp_schedules.training(base, p, "mnist", "l2") == base  # unchanged: same cache keys as before
