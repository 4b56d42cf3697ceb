"""The cluster-gradient regulariser: eigenvalues against scipy, its gradient against finite differences,
planted clusters give near-zero eigenvalues, and rebalancing units leaves the network's function alone."""

import numpy as np
import pytest
import scipy.sparse.csgraph
import torch

from modularity import cluster_gradient, clustering
from modularity.models.mlp import MLP


def random_weights(seed=0, sizes=(5, 6, 4, 3)):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(o, i, generator=generator, dtype=torch.float64) for i, o in zip(sizes[:-1], sizes[1:])]


def test_eigenvalues_match_scipys_normalised_laplacian():
    weights = random_weights()
    adjacency = clustering.layered_graph([w.T for w in weights]).adjacency().toarray()
    expected = np.linalg.eigvalsh(scipy.sparse.csgraph.laplacian(adjacency, normed=True))
    assert np.allclose(cluster_gradient.laplacian_eigenvalues(weights).numpy(), expected, atol=1e-10)


def test_isolated_units_are_left_out():
    weights = random_weights()
    weights[0][2] = 0.0  # hidden unit 2 of the first layer loses its inputs...
    weights[1][:, 2] = 0.0  # ...and its outputs
    assert len(cluster_gradient.laplacian_eigenvalues(weights)) == 5 + 6 + 4 + 3 - 1


def test_gradient_matches_finite_differences():
    weights = [w.requires_grad_() for w in random_weights(1)]
    cluster_gradient.penalty(weights).backward()
    step = 1e-6
    def value(layer, row, col, delta):
        moved = [w.detach().clone() for w in weights]
        moved[layer][row, col] += delta
        return cluster_gradient.penalty(moved).item()

    for layer, (row, col) in [(0, (1, 2)), (1, (3, 0)), (2, (2, 3))]:
        numeric = (value(layer, row, col, step) - value(layer, row, col, -step)) / (2 * step)
        assert weights[layer].grad[row, col].item() == pytest.approx(numeric, rel=1e-5, abs=1e-9)


def test_planted_clusters_have_near_zero_eigenvalues_and_a_small_penalty():
    block = [torch.block_diag(*[torch.ones(2, 2, dtype=torch.float64)] * 4) for _ in range(3)]
    leaky = [b + 1e-3 for b in block]
    values = cluster_gradient.laplacian_eigenvalues(leaky)
    assert values[:4].max() < 1e-2 and values[4] > 0.1  # four clusters, four eigenvalues near 0
    assert cluster_gradient.penalty(leaky) < cluster_gradient.penalty(random_weights(2, (8, 8, 8, 8)).copy()) / 10


def test_balancing_units_keeps_the_function_and_sets_each_incoming_norm():
    torch.manual_seed(0)
    model = MLP(6, [5, 4], 3).double()
    x = torch.randn(20, 6, dtype=torch.float64)
    before = model(x)
    cluster_gradient.balance_units_(list(model.layers))
    assert torch.allclose(model(x), before, atol=1e-12)
    for layer in model.layers[:-1]:
        norms = torch.cat([layer.weight, layer.bias[:, None]], 1).norm(dim=1)
        assert torch.allclose(norms, torch.full_like(norms, 2 ** 0.5))


def test_penalty_refuses_no_eigenvalues():
    with pytest.raises(ValueError, match="at least 1"):
        cluster_gradient.penalty(random_weights(), n_eigenvalues=0)
