"""How long one clusterability MLP trains, from a preset's parameters: the 7 × 7 MNIST (P1b's cluster-gradient
experiment) and greyscale CIFAR-10 (P1) may have schedules of their own. One rule for the chapter and for the
cost estimates (``modularity.costs``).

A schedule parameter of 0 means "as every other dataset" (``epochs`` / ``prune_epochs``); a parameter a preset
predates is read as 0.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Mapping

from modularity.experiments.networks import Settings

SCHEDULE_PARAMETERS = ("epochs", "prune_epochs", "small_hidden", "small_epochs", "small_prune_epochs", "cifar_epochs",
                       "cifar_dropout_epochs", "cifar_prune_epochs")


def epochs(p: Mapping, dataset: str, regulariser: str) -> tuple[int, int]:
    """(training, pruning) epochs of one MLP under the parameters ``p``."""
    if dataset == "mnist_7x7":
        return p.get("small_epochs") or p["epochs"], p.get("small_prune_epochs") or p["prune_epochs"]
    if dataset != "cifar10_gray":
        return p["epochs"], p["prune_epochs"]
    trained = p.get("cifar_dropout_epochs" if regulariser == "dropout" else "cifar_epochs") or p["epochs"]
    return trained, p.get("cifar_prune_epochs") or p["prune_epochs"]


def training(settings: Settings, p: Mapping, dataset: str, regulariser: str) -> Settings:
    """``settings`` for one (dataset, regulariser): the 7 × 7 MNIST's smaller network, and the schedules above."""
    trained, pruned = epochs(p, dataset, regulariser)
    hidden = p["small_hidden"] if dataset == "mnist_7x7" else settings.hidden
    return replace(settings, hidden=hidden, epochs=trained, prune_epochs=pruned)
