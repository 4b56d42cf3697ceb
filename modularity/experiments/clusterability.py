"""Clusterability of trained MLPs (and small CNNs) against shuffled null models (Filan et al., P1/P1b).

One *network* is a (dataset, regulariser, seed): it is trained, its clusterability measured, then it is
magnitude-pruned (50% → 90%) from the trained weights with a fresh Adam and measured again. So the
``plain``/``pruned`` settings share their base training, as ``dropout``/``pruned_dropout`` do. The networks,
their factors and their training are ``experiments.networks`` (re-exported here for the notebooks); trained
weights and per-network results are cached per seed in the data root.
"""

from __future__ import annotations

import os
from dataclasses import asdict

import numpy as np
import torch
from tqdm import tqdm

from modularity import clustering
from modularity.cache import cached
from modularity.experiments.networks import (  # noqa: F401 (re-exported: the notebooks' one import)
    REGRESSION,
    SETTINGS,
    Settings,
    VGGSettings,
    accuracy,
    applies,
    build,
    data_for,
    kernels,
    load_dataset,
    mean_squared_error,
    regulariser_of,
    trained_model,
    trained_states,
)

METRIC_PREFIX = {"mnist": "mnist", "fashion_mnist": "fashion", "cifar10_gray": "cifar10_gray", "lines": "lines",
                 "random": "random", "poly": "poly", "mnist_7x7": "cluster_reg"}


STAGES = ("unpruned", "pruned")  # a network as trained, and magnitude-pruned from there


def stages_for(regulariser: str, settings: list[str]) -> tuple[str, ...]:
    """The stages of a network trained with ``regulariser`` that the requested settings show: as trained
    (``plain``, ``dropout``, …), pruned (``pruned``, ``pruned_dropout``, …), or both. P1 asks only for pruned
    networks: measuring the trained ones too would double its 320-shuffle null."""
    wanted = [s for s in settings if regulariser_of(s) == regulariser]
    return tuple(stage for stage in STAGES if any(s.startswith("pruned") == (stage == "pruned") for s in wanted))


def run_network(kind: str, dataset: str, regulariser: str, seed: int, settings: Settings, data, device,
                stages: tuple[str, ...] = STAGES) -> dict:
    """Train, measure, prune, measure one network (the ``stages`` asked for; a network is pruned only when its
    pruned stage is); returns each stage's accuracy and clusterability."""
    params = {"kind": kind, "dataset": dataset, "regulariser": regulariser, **asdict(settings)}
    out = {}
    states = trained_states(kind, dataset, regulariser, seed, settings, data, device, prune="pruned" in stages)
    for name, state in ((name, state) for name, state in states.items() if name in stages):
        model = trained_model(kind, dataset, regulariser, state, settings).to(device)
        quality = {"test_acc": float("nan"), "test_mse": mean_squared_error(model, data[2], data[3])} \
            if dataset in REGRESSION else {"test_acc": accuracy(model, data[2], data[3])}
        model = model.cpu()
        out[name] = quality | {"sparsity": sparsity(model),
                     "scores": cached(f"clusterability_scores_{kind}", params | {"stage": name}, seed,
                                      lambda m=model: measure(m, kind, settings, seed))}
    return out


def run_network_loading(kind: str, dataset: str, regulariser: str, seed: int, settings: Settings, device,
                        stages: tuple[str, ...] = STAGES) -> dict:
    """``run_network`` on the data it loads itself (the settings' subsets): a unit of work that runs wherever
    the datasets are, without a notebook holding every dataset variant in memory."""
    data = (data_for(dataset, regulariser, settings.train_subset, settings.test_subset, device) if kind == "mlp"
            else load_dataset(dataset, settings.train_subset, settings.test_subset, device))
    return run_network(kind, dataset, regulariser, seed, settings, data, device, stages)


def sparsity(model: torch.nn.Module) -> float:
    weights = kernels(model)
    return sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights)


def graph_of(model: torch.nn.Module, kind: str) -> clustering.LayeredGraph:
    return clustering.mlp_graph(model) if kind == "mlp" else clustering.cnn_graph(model)


def measure(model: torch.nn.Module, kind: str, settings: Settings, seed: int) -> dict:
    """Clusterability for every (k, shuffle method) of the settings."""
    graph = graph_of(model, kind)
    with tqdm(total=len(settings.ks) * len(settings.shuffle_methods) * settings.n_shuffles, desc="shuffles",
              leave=False, mininterval=2.0, disable=not _progress()) as bar:
        by_method = {method: clustering.clusterability_ks(graph, settings.ks, settings.n_shuffles, method, seed, bar)
                     for method in settings.shuffle_methods}  # each shuffle clustered at every k at once
    return {(k, method): by_method[method][k] for k in settings.ks for method in settings.shuffle_methods}


def _progress() -> bool:
    return os.environ.get("MODULARITY_PROGRESS", "1") != "0"


def random_init_ncuts(kind: str, n_networks: int, k: int, settings: Settings) -> np.ndarray:
    """n-cut of Glorot-initialised, untrained networks (the P1b random-initialisation baseline)."""
    values = []
    for seed in range(n_networks):
        torch.manual_seed(10_000 + seed)
        model = build(kind, "mnist", settings, "none")
        values.append(clustering.spectral_clustering(graph_of(model, kind), k, seed=seed)[1])
    return np.array(values)


def network_rows(results: dict, settings: Settings) -> list[dict]:
    """Flatten {(kind, dataset, regulariser, seed): run_network output} into one row per network × setting
    × (k, method)."""
    rows = []
    for (kind, dataset, regulariser, seed), stages in results.items():
        for stage, outcome in stages.items():
            setting = "plain" if regulariser == "none" else regulariser
            if stage == "pruned":
                setting = "pruned" if setting == "plain" else f"pruned_{setting}"
            for (k, method), score in outcome["scores"].items():
                rows.append({"kind": kind, "dataset": dataset, "setting": setting, "seed": seed, "k": k,
                             "method": method, "test_acc": outcome["test_acc"],
                             "test_mse": outcome.get("test_mse", float("nan")), "sparsity": outcome["sparsity"],
                             "ncut": score["ncut"], "shuffle_mean": score["shuffle_mean"],
                             "shuffle_std": score["shuffle_std"], "z": score["z"], "p": score["p"],
                             "below_every_shuffle": score["below_every_shuffle"], "n_components": score["n_components"],
                             "shuffle_ncuts": score["shuffle_ncuts"]})
    return rows

