"""Faint units (nodes whose connections sum below n-cut's ε) against networkx, hand-computed values and a
planted network of dead units."""

import networkx as nx
import numpy as np
import pytest

from modularity import clustering, faint_units, verdicts


def layered(sizes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.uniform(0.1, 1.0, (a, b)) for a, b in zip(sizes[:-1], sizes[1:])]


def test_node_degrees_match_networkx():
    graph = clustering.layered_graph(layered([4, 5, 3]))
    g = nx.from_scipy_sparse_array(graph.adjacency())
    expected = [d for _, d in sorted(g.degree(weight="weight"))]
    np.testing.assert_allclose(faint_units.node_degrees(graph), expected)


@pytest.mark.parametrize("degrees, labels, expected", [
    ([1e-20, 1e-20, 5.0, 3.0], [0, 0, 1, 1], 1),  # cluster 0's volume 2e-20
    ([0.5e-8, 0.5e-8, 5.0], [0, 0, 1], 0),  # volume exactly ε is not below it
    ([0.4e-8, 0.5e-8, 5.0], [0, 0, 1], 1),
    ([1e-30, 1e-30, 5.0], [0, 2, 1], 2),  # each faint node alone
    ([1e-30, 5.0, 5.0], [-1, 0, 1], 0),  # a node left out (−1) is no cluster
    ([1e-30, 5.0, 5.0], [3, 3, 1], 0),  # a faint node in a live cluster does not make it faint
])
def test_faint_clusters_by_hand(degrees, labels, expected):
    assert faint_units.faint_clusters(np.array(degrees), np.array(labels)) == expected


@pytest.mark.parametrize("count, expected", [(0, False), (1, True), (11, True)])
def test_degenerate_ncut_at_its_boundary(count, expected):
    assert verdicts.ncut_degenerate(count) is expected


def test_degenerate_ncut_refuses_a_negative_count():
    with pytest.raises(ValueError, match="counts clusters"):
        verdicts.ncut_degenerate(-1)


def test_dead_units_drive_ncut_to_zero_and_are_reported():
    """A dense random network (no modules) whose three hidden units carry weights of 1e-36 on both sides, as
    L2 under Adam leaves a dead ReLU unit: clustering spends clusters on them and n-cut collapses, while the
    same network without them has an n-cut near k − 1's share."""
    weights = layered([10, 12, 12, 6], seed=1)
    dead = [2, 5, 9]
    weights[0][:, dead] = 1e-36
    weights[1][dead, :] = 1e-36
    graph = clustering.layered_graph(weights)
    out = faint_units.report(graph, [4], seed=0)[4]
    assert out["faint_units"] == 3
    assert out["faint_clusters"] == 3
    assert out["ncut"] < 1e-6
    assert verdicts.ncut_degenerate(out["faint_clusters"])
    live = clustering.layered_graph([np.delete(weights[0], dead, axis=1), np.delete(weights[1], dead, axis=0),
                                     weights[2]])
    healthy = faint_units.report(live, [4], seed=0)[4]
    assert healthy["faint_units"] == healthy["faint_clusters"] == 0
    assert healthy["ncut"] > 1.0
    assert healthy["ncut"] == pytest.approx(clustering.spectral_clustering(live, 4, seed=0)[1])


def test_report_uses_the_measurements_clustering():
    """Its n-cut is the one ``clusterability_ks`` measures for the same graph and seed."""
    graph = clustering.layered_graph(layered([8, 10, 10, 4], seed=2))
    measured = clustering.clusterability_ks(graph, [3, 5], n_shuffles=2, seed=7)
    out = faint_units.report(graph, [3, 5], seed=7)
    for k in (3, 5):
        assert out[k]["ncut"] == pytest.approx(measured[k]["ncut"], abs=1e-12)


def test_degree_histogram_counts_each_decade():
    counts = faint_units.degree_histogram(np.array([0.0, 1e-50, 1e-36, 2e-36, 0.5, 3.0, 3.0]))
    edges = faint_units.DEGREE_BINS
    assert counts.sum() == 7
    assert counts[0] == 2  # zero and anything below float32's smallest denormal: the first bin
    assert counts[list(edges).index(-36)] == 2
    assert counts[list(edges).index(-1)] == 1 and counts[list(edges).index(0)] == 2
