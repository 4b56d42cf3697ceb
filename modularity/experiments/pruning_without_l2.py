"""A sensitivity check of the pruned + L2 rows: the same L2-trained networks pruned with the L2 term left out.

The clusterability chapter prunes every network with its training loss, L2 term included, as the original
``src/train_nn.py`` does (Keras keeps a pruned layer's regulariser). Its pruned L2 MLPs come out *less*
clusterable than their shuffles where the authors' are more. This unit prunes each of those networks again,
from the same trained weights with the same batches, schedule and fresh Adam, with the L2 term (and the first
layer's L1 quirk) left out, and measures it as every network is measured; the chapter shows both beside the
authors'. It is a probe of where the rows turn, not a claim about the original. A unit of its own, so the
networks and their n-cuts keep their cache keys.
"""

from __future__ import annotations

import torch

from modularity import clustering
from modularity.experiments import clusterability as cl
from modularity.experiments import networks
from modularity.experiments.networks import Settings

PRUNE_SEED_OFFSET = 7919  # the pruning stage's batch order in ``networks.trained_states``


def hidden_units_left(model: torch.nn.Module) -> list[int]:
    """Hidden units of each layer that keep an edge after pruning (the graph's nodes)."""
    return clustering.remove_isolated(cl.graph_of(model, "mlp")).layer_sizes[1:-1]


def run_network(dataset: str, seed: int, settings: Settings, device) -> dict:
    """The L2-trained network of ``dataset`` and ``seed`` pruned without the L2 term: its test accuracy,
    sparsity, hidden units left and clusterability; and the hidden units left by the chapter's pruning."""
    data = cl.data_for(dataset, "l2", settings.train_subset, settings.test_subset, device)
    states = cl.trained_states("mlp", dataset, "l2", seed, settings, data, device)
    with_l2 = cl.trained_model("mlp", dataset, "l2", states["pruned"], settings)
    torch.manual_seed(seed)
    model = cl.trained_model("mlp", dataset, "l2", states["unpruned"], settings).to(device).train()
    networks._train(model, data, settings, "none", seed + PRUNE_SEED_OFFSET, settings.prune_epochs, True,
                    desc=f"{dataset} seed {seed} prune without L2", loss_fn=networks.task_loss(dataset))
    accuracy = cl.accuracy(model, data[2], data[3])
    model = model.cpu()
    return {"test_acc": accuracy, "sparsity": cl.sparsity(model), "units_left": hidden_units_left(model),
            "with_l2_units_left": hidden_units_left(with_l2), "scores": cl.measure(model, "mlp", settings, seed)}


def rows(results: dict) -> list[dict]:
    """One row per network × (k, method) of ``{(dataset, seed): run_network output}``."""
    return [{"dataset": dataset, "seed": seed, "k": k, "method": method, "test_acc": r["test_acc"],
             "units_left": sum(r["units_left"]), "with_l2_units_left": sum(r["with_l2_units_left"]),
             "ncut": score["ncut"], "shuffle_mean": score["shuffle_mean"], "z": score["z"],
             "below_every_shuffle": score["below_every_shuffle"]}
            for (dataset, seed), r in results.items() for (k, method), score in r["scores"].items()]
