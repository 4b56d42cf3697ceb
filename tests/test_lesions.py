"""Lesions restore the model exactly; the batched lesion path equals the context manager; statistics
against scipy and hand computations; a planted one-class cluster is found important and class-specific."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from modularity import lesions
from modularity.models.mlp import MLP


def small_mlp(seed=0):
    torch.manual_seed(seed)
    return MLP(6, [5, 4], 3)


def test_lesion_zeroes_incoming_weights_and_restores_exactly():
    model = small_mlp()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(7, 6)
    with lesions.lesioned([model.layers[0]], [[1, 3]]):
        assert torch.all(model.layers[0].weight[[1, 3]] == 0) and torch.all(model.layers[0].bias[[1, 3]] == 0)
        assert torch.all(lesions.hidden_activations(model, x)[0][:, [1, 3]] == 0)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_lesion_restores_after_an_exception():
    model = small_mlp()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(RuntimeError, match="boom"):
        with lesions.lesioned([model.layers[0], model.layers[1]], [[0], [2, 3]]):
            raise RuntimeError("boom")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_batched_lesions_equal_the_context_manager():
    model = small_mlp(1).eval()
    x = torch.randn(20, 6)
    sets = [np.array([0, 2]), np.array([4]), np.array([1, 2, 3])]
    hidden = lesions.hidden_activations(model, x)[0]
    batched = lesions.forward_from(model, 0, hidden, lesions.lesion_masks(5, sets))
    for row, units in enumerate(sets):
        with lesions.lesioned([model.layers[0]], [units]):
            assert torch.allclose(batched[row], model(x), atol=1e-6)


def test_class_accuracies_by_hand():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0], [0.0, 2.0]])
    labels = torch.tensor([0, 0, 1, 1])
    assert lesions.class_accuracies(logits, labels, 2).tolist() == [0.5, 0.5]


def test_random_sets_come_from_the_same_layers_valid_units():
    labels = np.array([0, 0, 1, -1, 1, 1, 2, -1])
    rng = np.random.default_rng(0)
    for chosen in lesions.random_sets(labels, 1, 50, rng):
        assert len(chosen) == 3 and not np.isin(chosen, [3, 7]).any()


def test_percentile_and_minimum_by_hand():
    assert lesions.percentile(0.1, [0.2, 0.3, 0.4], "lower") == pytest.approx(1 / 4)
    assert lesions.is_minimal(1 / 4, 3)
    assert lesions.percentile(0.3, [0.2, 0.3, 0.4], "lower") == pytest.approx((1 + 1 + 0.5) / 4)
    assert lesions.percentile(0.5, [0.2, 0.3, 0.4], "upper") == pytest.approx(1 / 4)
    assert lesions.midrank(1 / 20, 19) == pytest.approx(1 / 40)


def test_range_statistic_by_hand():
    # changes −0.2, 0, −0.1 → mean −0.1 → normalised 2, 0, 1 → range 2
    assert lesions.range_statistic([0.7, 0.9, 0.8], [0.9, 0.9, 0.9]) == pytest.approx(2.0)
    assert lesions.range_statistic([0.9, 0.9], [0.9, 0.9]) == 0.0  # nothing changed: not specific
    assert lesions.range_statistic([1.0, 0.8], [0.9, 0.9]) == math.inf  # changes cancel out


@pytest.mark.parametrize("ps", [[0.05], [0.01, 0.5, 0.3], list(np.linspace(0.02, 0.98, 40)), [1.0, 1.0]])
def test_fisher_matches_scipy(ps):
    assert lesions.fisher(ps) == pytest.approx(stats.combine_pvalues(ps, method="fisher").pvalue, rel=1e-9)


@pytest.mark.parametrize("n, mean", [(1, 0.3), (5, 0.2), (5, 0.5), (12, 0.41), (30, 0.45)])
def test_bates_matches_the_irwin_hall_distribution(n, mean):
    assert lesions.bates_cdf(mean, n) == pytest.approx(stats.irwinhall(n).cdf(n * mean), abs=1e-9)


def test_bates_normal_approximation_for_many_networks():
    assert lesions.bates_cdf(0.45, 40) == pytest.approx(stats.irwinhall(40).cdf(40 * 0.45), abs=2e-3)


def test_benjamini_hochberg_matches_scipy():
    rng = np.random.default_rng(1)
    ps = np.concatenate([rng.uniform(0, 0.001, 5), rng.uniform(0, 1, 30)])
    reject, critical = lesions.benjamini_hochberg(ps, 0.05)
    assert np.array_equal(reject, stats.false_discovery_control(ps) <= 0.05)
    assert reject.sum() >= 5 and critical == ps[reject].max()
    assert lesions.benjamini_hochberg([0.5, 0.9])[1] == 0.0
