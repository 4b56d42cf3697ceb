"""The pruned + L2 probe: the chapter's L2 networks pruned again with the L2 term left out."""

import pytest
import torch

from modularity.experiments import clusterability as cl
from modularity.experiments import pruning_without_l2 as no_l2
from modularity.experiments.networks import Settings
from modularity.models.mlp import MLP


def test_hidden_units_left_are_those_that_keep_an_edge():
    model = MLP(6, [4, 3], 2)
    with torch.no_grad():
        model.layers[0].weight[1] = 0  # hidden unit 1 of layer 1: no incoming edge, but outgoing ones
        model.layers[1].weight[:, 1] = 0  # … and now no outgoing edge either: isolated
        model.layers[1].weight[2] = 0
        model.layers[2].weight[:, 2] = 0  # unit 2 of layer 2: isolated
        model.layers[0].weight[3] = 0  # unit 3 of layer 1: outgoing edges only, still in the graph
    assert no_l2.hidden_units_left(model) == [3, 2]


def probe_and_chapter(rate: float):
    settings = Settings(hidden=[32, 32], epochs=1, prune_epochs=1, l1=rate, train_subset=1000, test_subset=300,
                        ks=[2], n_shuffles=3)
    probe = no_l2.run_network("mnist", 0, settings, "cpu")
    chapter = cl.run_network_loading("mlp", "mnist", "l2", 0, settings, "cpu", ("pruned",))["pruned"]
    return probe, chapter


@pytest.mark.filterwarnings("ignore::modularity.clustering.FewShufflesWarning")
def test_without_an_l2_term_to_leave_out_the_probe_is_the_chapters_pruning(data_root_with_datasets):
    """At rate 0 the two prunings differ in nothing: same trained weights, batches, schedule and Adam, so the
    probe must reproduce the chapter's pruned network exactly; at a real rate it must not."""
    probe, chapter = probe_and_chapter(0.0)
    assert probe["test_acc"] == chapter["test_acc"] and probe["sparsity"] == chapter["sparsity"]
    assert probe["units_left"] == probe["with_l2_units_left"]
    assert probe["scores"][2, "layer"]["ncut"] == chapter["scores"][2, "layer"]["ncut"]
    probe, chapter = probe_and_chapter(0.05)
    assert probe["scores"][2, "layer"]["ncut"] != chapter["scores"][2, "layer"]["ncut"]
    assert probe["sparsity"] == pytest.approx(0.9, abs=0.01)
    rows = no_l2.rows({("mnist", 0): probe})
    assert len(rows) == 1 and rows[0]["units_left"] == sum(probe["units_left"])
