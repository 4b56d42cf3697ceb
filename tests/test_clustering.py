"""Weight graphs, spectral clustering, n-cut and shuffles against networkx, scikit-learn, hand-computed
values and planted modules."""

import math

import networkx as nx
import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans, SpectralClustering
from sklearn.manifold import spectral_embedding
from sklearn.metrics import adjusted_rand_score

from modularity import clustering as C
from modularity.kmeans import kmeans


def random_layers(sizes, seed=0, sparsity=0.0):
    rng = np.random.default_rng(seed)
    mats = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        w = rng.uniform(0.05, 1.0, (a, b))
        w[rng.random((a, b)) < sparsity] = 0
        mats.append(w)
    return mats


def planted_layers(sizes, modules, noise=1e-3, seed=0):
    """Each layer's units split into ``modules`` contiguous groups; strong weights only within a group."""
    rng = np.random.default_rng(seed)
    mats = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        group_a = np.arange(a) * modules // a
        group_b = np.arange(b) * modules // b
        same = group_a[:, None] == group_b[None, :]
        mats.append(np.where(same, rng.uniform(0.5, 1.0, (a, b)), noise * rng.random((a, b))))
    return mats


def test_ncut_matches_networkx_sum_of_cut_over_volume():
    graph = C.layered_graph(random_layers([5, 4, 3], seed=1, sparsity=0.3))
    adjacency = graph.adjacency()
    nxg = nx.from_scipy_sparse_array(adjacency)
    labels = np.arange(graph.n_nodes) % 3
    expected = sum(nx.cut_size(nxg, np.flatnonzero(labels == c), weight="weight")
                   / nx.volume(nxg, np.flatnonzero(labels == c), weight="weight") for c in range(3))
    assert C.ncut(adjacency, labels) == pytest.approx(expected, rel=1e-7)  # the +1e-8 in each denominator
    two = (np.arange(graph.n_nodes) < 5).astype(int)
    s, t = np.flatnonzero(two == 0), np.flatnonzero(two == 1)
    # networkx's normalized cut of a bipartition is exactly this definition (no ½ factor) for k = 2
    assert C.ncut(adjacency, two) == pytest.approx(nx.normalized_cut_size(nxg, s, t, weight="weight"), rel=1e-7)


def test_ncut_by_hand_on_a_path():
    # path 0 -1- 1 -2- 2: clusters {0,1}, {2}: cut 2 each side; vol{0,1} = 1 + 3 = 4, vol{2} = 2
    adjacency = np.array([[0, 1, 0], [1, 0, 2], [0, 2, 0]], dtype=float)
    assert C.ncut(adjacency, np.array([0, 0, 1])) == pytest.approx(2 / 4 + 2 / 2)
    assert C.ncut(adjacency, np.array([0, 0, -1])) == pytest.approx(2 / 4)  # −1: left out


def test_batched_bipartite_ncut_equals_the_direct_formula():
    graph = C.layered_graph(random_layers([6, 5, 4, 3], seed=2, sparsity=0.4))
    labels, value = C.spectral_clustering(graph, 3, seed=0)
    assert value == pytest.approx(C.ncut(graph.adjacency(), labels), rel=1e-9)


def test_embedding_spans_the_same_space_as_scikit_learn():
    graph = C.layered_graph(random_layers([30, 20, 25, 10], seed=3))
    k = 4
    ours, _, _ = C._bipartite_embedding(C._bipartite_blocks([torch.as_tensor(w)[None] for w in graph.weights]), k)
    order = C._node_order(4, graph.layer_sizes)
    ours_layer_order = np.empty((graph.n_nodes, k))
    ours_layer_order[order] = ours[0].numpy()
    theirs = spectral_embedding(graph.adjacency(), n_components=k, norm_laplacian=True, drop_first=False,
                                eigen_solver="arpack", random_state=0)
    # same subspace: projecting theirs onto ours loses nothing (eigenvalues here are distinct)
    coefficients, *_ = np.linalg.lstsq(ours_layer_order, theirs, rcond=None)
    assert np.abs(ours_layer_order @ coefficients - theirs).max() < 1e-8 * np.abs(theirs).max() * 1e3


@pytest.mark.parametrize("seed", [0, 1])
def test_labels_agree_with_scikit_learn_spectral_clustering(seed):
    graph = C.layered_graph(planted_layers([40, 30, 30, 12], modules=3, noise=0.05, seed=seed))
    ours, ours_ncut = C.spectral_clustering(graph, 3, seed=seed)
    theirs = SpectralClustering(3, affinity="precomputed", eigen_solver="arpack", n_init=25,
                                random_state=seed).fit(graph.adjacency()).labels_
    assert adjusted_rand_score(ours, theirs) == 1.0
    assert ours_ncut == pytest.approx(C.ncut(graph.adjacency(), theirs), rel=1e-9)


def test_dense_path_agrees_with_the_bipartite_path():
    graph = C.layered_graph(planted_layers([20, 16, 16, 8], modules=4, noise=0.02))
    labels, value = C.spectral_clustering(graph, 4, seed=0)
    dense_labels, dense_value = C.spectral_clustering_dense(graph.adjacency().toarray(), 4, seed=0)
    assert adjusted_rand_score(labels, dense_labels) == 1.0
    assert value == pytest.approx(dense_value, rel=1e-9)


def test_planted_modules_are_recovered_and_significant():
    sizes, modules = [60, 40, 40, 40, 12], 4
    graph = C.layered_graph(planted_layers(sizes, modules, noise=1e-3))
    labels, value = C.spectral_clustering(graph, modules, seed=0)
    truth = np.concatenate([np.arange(n) * modules // n for n in sizes])
    assert adjusted_rand_score(labels, truth) == 1.0
    assert value < 0.05  # almost no weight crosses modules
    result = C.clusterability(graph, modules, n_shuffles=19, seed=0)
    assert result["below_every_shuffle"] and result["p"] == pytest.approx(1 / 20)
    assert result["z"] < -10


def test_too_few_shuffles_for_a_5_percent_test_warn():
    graph = C.layered_graph(planted_layers([8, 8, 4], 2, noise=1e-3))
    with pytest.warns(C.FewShufflesWarning, match="smallest possible p is 1/19 = 0.053"):
        result = C.clusterability(graph, 2, n_shuffles=18, seed=0)
    assert result["below_every_shuffle"] and result["p"] == pytest.approx(1 / 19)  # below all 18, yet p > 0.05


def test_random_glorot_mlp_ncut_matches_the_published_baseline():
    # spec §5.2: 100 Glorot-uniform 784-256x4-10 MLPs give n-cut 10.295 (sd 0.032) at k = 12
    torch.manual_seed(0)
    sizes = [784, 256, 256, 256, 256, 10]
    mats = [torch.empty(a, b).uniform_(-math.sqrt(6 / (a + b)), math.sqrt(6 / (a + b)))
            for a, b in zip(sizes[:-1], sizes[1:])]
    _, value = C.spectral_clustering(C.layered_graph(mats), 12, seed=0)
    assert 10.295 - 0.15 < value < 10.295 + 0.15


def test_isolated_nodes_are_removed_and_labelled_minus_one():
    mats = random_layers([4, 3, 2], seed=4)
    mats[0][1, :] = 0  # input 1 has no edge
    mats[1][:, 0] = 0  # output 0 has no edge
    graph = C.layered_graph(mats)
    assert graph.layer_sizes == [3, 3, 1]
    labels = graph.expand_labels(np.arange(7))
    assert labels[0].tolist() == [0, -1, 1, 2] and labels[2].tolist() == [-1, 6]


def test_shuffles_keep_each_layers_weights_and_are_reproducible():
    graph = C.layered_graph(random_layers([12, 10, 6], seed=5, sparsity=0.6))
    for method in C.SHUFFLE_METHODS:
        batch = C.shuffled_weights(graph, method, [7, 8])
        for w, shuffled in zip(graph.weights, batch):
            for s in shuffled.numpy():
                assert np.array_equal(np.sort(s.ravel()), np.sort(w.ravel()))
        alone = C.shuffled_weights(graph, method, [8])
        assert all(torch.equal(a[0], b[1]) for a, b in zip(alone, batch))  # independent of batching
    kept = C.shuffled_weights(graph, "layer_nonzero", [1])
    assert all(np.array_equal(k[0].numpy() != 0, w != 0) for k, w in zip(kept, graph.weights))
    moved = C.shuffled_weights(graph, "layer", [1])
    assert any(not np.array_equal(m[0].numpy() != 0, w != 0) for m, w in zip(moved, graph.weights))
    with pytest.raises(ValueError, match="shuffle method"):
        C.shuffled_weights(graph, "global", [1])


def test_null_model_scores_by_hand():
    scores = C.null_model_scores(1.0, np.array([2.0, 3.0, 4.0]))
    assert scores["p"] == pytest.approx(1 / 4) and scores["below_every_shuffle"]
    assert scores["z"] == pytest.approx((1 - 3) / math.sqrt(2 / 3))  # population std
    later = C.null_model_scores(3.5, np.array([2.0, 3.0, 4.0]))
    assert later["p"] == pytest.approx(3 / 4) and not later["below_every_shuffle"]


def test_cnn_channel_graph_norms_by_hand():
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 2), torch.nn.Conv2d(2, 3, 2))
    with torch.no_grad():
        model[1].weight.copy_(torch.arange(24, dtype=torch.float32).reshape(3, 2, 2, 2) - 12)
    k = model[1].weight.detach().abs().numpy()
    induced = C.cnn_graph(model, "induced_1").weights[0]
    entrywise = C.cnn_graph(model, "entrywise_1").weights[0]
    for b in range(3):
        for a in range(2):
            assert induced[a, b] == pytest.approx(np.linalg.norm(k[b, a], 1))  # numpy's matrix 1-norm
            assert entrywise[a, b] == pytest.approx(k[b, a].sum())
    with pytest.raises(ValueError, match="norm"):
        C.cnn_graph(model, "l3")


def test_kmeans_is_as_good_as_scikit_learn_and_independent_of_batching():
    rng = np.random.default_rng(0)
    points = np.concatenate([rng.normal(c, 0.3, (50, 2)) for c in [(0, 0), (3, 0), (0, 3), (3, 3)]])
    sets = torch.as_tensor(np.stack([points, points[::-1].copy()]))
    valid = torch.ones(2, 200, dtype=torch.bool)
    valid[1, :3] = False
    labels = kmeans(sets, valid, 4, n_init=10, seeds=[0, 1])
    truth = np.repeat(np.arange(4), 50)
    assert adjusted_rand_score(labels[0].numpy(), truth) == 1.0
    assert (labels[1, :3] == -1).all()
    alone = kmeans(sets[1:], valid[1:], 4, n_init=10, seeds=[1])
    assert torch.equal(alone[0], labels[1])
    inertia = sum(((points[labels[0].numpy() == c] - points[labels[0].numpy() == c].mean(0)) ** 2).sum()
                  for c in range(4))
    assert inertia <= KMeans(4, n_init=10, random_state=0).fit(points).inertia_ * (1 + 1e-6)


def test_large_graphs_restart_k_means_more_and_cluster_one_shuffle_at_a_time():
    assert C.default_n_init(C.LARGE_GRAPH) == 25 and C.default_n_init(C.LARGE_GRAPH + 1) == 100
    assert C.graphs_per_batch(C.LARGE_GRAPH) == C.CHUNK and C.graphs_per_batch(C.LARGE_GRAPH + 1) == 1


def test_several_k_at_once_give_exactly_what_each_k_gives_alone():
    graph = C.layered_graph(random_layers([12, 10, 10, 6], seed=5, sparsity=0.3))
    for method in C.SHUFFLE_METHODS:
        together = C.clusterability_ks(graph, [5, 3, 2], 19, method, seed=2)
        for k in (5, 3, 2):
            alone = C.clusterability(graph, k, 19, method, seed=2)
            assert together[k]["ncut"] == alone["ncut"] and together[k]["p"] == alone["p"]
            assert np.array_equal(together[k]["shuffle_ncuts"], alone["shuffle_ncuts"])


def test_the_null_does_not_depend_on_how_shuffles_are_batched(monkeypatch):
    graph = C.layered_graph(random_layers([12, 10, 10, 6], seed=5))
    batched = C.clusterability(graph, 3, 19)
    monkeypatch.setattr(C, "CHUNK", 1)
    alone = C.clusterability(graph, 3, 19)
    assert np.array_equal(batched["shuffle_ncuts"], alone["shuffle_ncuts"]) and batched["ncut"] == alone["ncut"]


def test_layer_matrices_sit_in_their_rectangles_of_the_bipartite_block():
    sizes = [5, 4, 3, 2, 6]
    weights = [torch.rand(1, a, b) + 0.1 for a, b in zip(sizes, sizes[1:])]
    b = C._bipartite_blocks(weights)[0]
    assert b.shape == (5 + 3 + 6, 4 + 2)
    outside = torch.ones_like(b, dtype=torch.bool)
    for i, (w, (r0, r1, c0, c1)) in enumerate(zip(weights, C._block_rectangles(sizes))):
        assert torch.equal(b[r0:r1, c0:c1], w[0] if i % 2 == 0 else w[0].T)
        outside[r0:r1, c0:c1] = False
    assert not b[outside].any()


def test_arpack_on_large_graphs_gives_the_full_eigendecompositions_embedding(monkeypatch):
    graph = C.layered_graph(random_layers([30, 20, 25, 10], seed=3))
    blocks = C._bipartite_blocks([torch.as_tensor(w)[None].repeat(2, 1, 1) for w in graph.weights])
    full, _, _ = C._bipartite_embedding(blocks, 4)
    monkeypatch.setattr(C, "LARGE_SIDE", 0)  # every graph counts as large: ARPACK, one graph at a time
    everywhere, _, _ = C._bipartite_embedding(blocks, 4)  # N's products over all of N
    by_layer, _, _ = C._bipartite_embedding(blocks, 4, C._block_rectangles(graph.layer_sizes))  # and per layer
    for partial in (everywhere, by_layer):
        for a, b in zip(full, partial):  # eigenvectors agree up to sign (the eigenvalues here are distinct)
            signs = torch.sign((a * b).sum(0))
            assert torch.allclose(a, b * signs, atol=1e-10)
    labels, ncut = C.spectral_clustering(C.layered_graph(planted_layers([60, 40, 40, 40, 12], 4, noise=1e-3)), 4)
    truth = np.concatenate([np.arange(n) * 4 // n for n in [60, 40, 40, 40, 12]])
    assert adjusted_rand_score(labels, truth) == 1.0 and ncut < 0.05
