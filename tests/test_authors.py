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


def test_p1_rows_cover_its_pruned_settings_at_each_k_and_null_model_and_cite_their_notebook():
    from modularity.clustering import SHUFFLE_METHODS

    assert len(authors.P1) == 3 * 3 * 2 * 2  # k ∈ {10, 7, 2} × 3 datasets × 2 settings × 2 null models
    for (k, dataset, setting, method), row in authors.P1.items():
        assert setting in ("pruned", "pruned_dropout") and method in SHUFFLE_METHODS
        assert cl.applies(dataset, cl.regulariser_of(setting))
        assert row.source.endswith(f"different-n_clusters-K={k}.ipynb (cell 12)")
        assert authors.p1_row(k, dataset, setting, method) is row
        assert 0 <= row.below_every_shuffle <= 1 and 0 < row.test_acc < 1
        # the shuffle null keeps each layer's weights: a network's n-cut and its shuffles' are on one scale, < k
        assert 0 < row.ncut < k and 0 < row.shuffle_mean < k


def test_p1_found_every_pruned_mnist_mlp_below_its_layer_shuffles_at_k_10_and_7_and_none_at_k_2():
    for k, expected in ((10, 1.0), (7, 1.0), (2, 0.0)):
        assert {authors.p1_row(k, "mnist", s, "layer").below_every_shuffle for s in ("pruned", "pruned_dropout")} \
            == {expected}


@pytest.mark.parametrize("kind, dataset, setting, ncut, shuffled, z, below", [
    # P1b's rows as read by hand from the result files (rounded as they were read)
    ("mlp", "mnist", "pruned", 8.88, 9.18, -9.7, 1.0),
    ("mlp", "fashion_mnist", "pruned_l2", 8.52, 8.75, -3.9, 0.6),
    ("mlp", "poly", "l2", 8.30, 9.87, -130.4, 1.0),
    ("mlp", "lines", "pruned", 7.36, 7.74, -3.9, 1.0),
    ("cnn", "mnist", "l2", 8.05, 10.25, -70.7, 1.0),
    ("vgg", "cifar10", "pruned_dropout", 6.34, 7.98, -8.2, 1.0),
])
def test_rows_match_the_result_files_as_read_by_hand(kind, dataset, setting, ncut, shuffled, z, below):
    row = authors.p1b_row(dataset, setting, kind)
    assert (round(row.ncut, 2), round(row.shuffle_mean, 2), round(row.z, 1), row.below_every_shuffle) == \
        (ncut, shuffled, z, below)
