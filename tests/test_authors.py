"""The authors' transcribed numbers: every row names a setting the experiment runs, on a dataset where it
applies, and cites a result file of the original code."""

import pytest

from modularity import authors
from modularity.experiments import clusterability as cl


@pytest.mark.parametrize("kind, table", [("mlp", authors.P1B), ("cnn", authors.P1B_CNN), ("vgg", authors.P1B_VGG)])
def test_every_row_is_a_setting_the_experiment_runs_and_cites_its_file(kind, table):
    for (dataset, setting), row in table.items():
        assert setting in cl.SETTINGS and cl.applies(dataset, cl.regulariser_of(setting), kind), (dataset, setting)
        assert row.source.startswith("dfilan/clusterability_in_neural_networks, results/")
        assert row.source.endswith(".csv")
        assert authors.p1b_row(dataset, setting, kind) is row


def test_only_dropout_vggs_were_below_their_shuffles_once_pruned():
    below = {s for (_, s), row in authors.P1B_VGG.items() if row.below_every_shuffle and row.below_every_shuffle >= 0.5}
    assert below == {"pruned_dropout", "pruned_dropout_l2"}  # P1b: the only clusterable VGGs
